"""ragas 0.4.3 on a local agentkit Generator, and the ragas metrics that run offline without any model.

ragas' "collections" metrics (``ragas.metrics.collections.Faithfulness``...) accept only an
``InstructorBaseRagasLLM``: an object with ``generate(prompt, response_model)`` / ``agenerate(...)`` that
returns a validated pydantic instance. ``GeneratorRagasLLM`` implements that on ``Generator.chat`` with
``json_schema=response_model.model_json_schema()``, so the local model's output is grammar-constrained.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from agentkit.errors import GenerationError

# ragas phones home with usage analytics unless told not to; evaluation must stay offline.
os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")

from ragas.llms.base import InstructorBaseRagasLLM  # imported after the env var above

if TYPE_CHECKING:
    from agentkit.generate.llm import Generator

T = TypeVar("T", bound=BaseModel)


class GeneratorRagasLLM(InstructorBaseRagasLLM):
    """Runs ragas prompts on an agentkit ``Generator`` with JSON-schema constrained decoding."""

    def __init__(
        self,
        generator: Generator,
        *,
        max_tokens: int = 1024,
        temperature: float = 0.0,
        system_prompt: str | None = None,
        retries: int = 1,
    ):
        self.generator = generator
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.system_prompt = system_prompt
        self.retries = retries
        # ragas may gather several agenerate calls; a local model serves one request at a time.
        self._lock = threading.Lock()

    def generate(self, prompt: str, response_model: type[T]) -> T:
        messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        messages.append({"role": "user", "content": prompt})
        schema = response_model.model_json_schema()
        error: Exception | None = None
        for _ in range(self.retries + 1):
            with self._lock:
                completion = self.generator.chat(
                    messages, json_schema=schema, max_tokens=self.max_tokens, temperature=self.temperature
                )
            try:
                return response_model.model_validate_json(completion.text)
            except ValidationError as exc:  # e.g. output cut by max_tokens mid-JSON
                error = exc
        raise GenerationError(
            f"{self.generator.name} did not return valid {response_model.__name__} JSON for a ragas prompt "
            f"after {self.retries + 1} tries ({error}); raise max_tokens or use a larger generator"
        )

    async def agenerate(self, prompt: str, response_model: type[T]) -> T:
        return await asyncio.to_thread(self.generate, prompt, response_model)

    def __repr__(self) -> str:
        return f"GeneratorRagasLLM(generator={self.generator.name!r})"


def faithfulness(
    generator: Generator, question: str, response: str, contexts: Sequence[str], **llm_kwargs: Any
) -> float:
    """ragas faithfulness (share of the response's claims supported by the contexts), judged by ``generator``.
    NaN when the model extracts no statement from the response. Synchronous: call it outside an event loop."""
    from ragas.metrics.collections import Faithfulness

    metric = Faithfulness(llm=GeneratorRagasLLM(generator, **llm_kwargs))
    result = asyncio.run(
        metric.ascore(user_input=question, response=response, retrieved_contexts=list(contexts))
    )
    return float(result.value)


def _reference_response(response: str, reference: str, contexts: Sequence[str]) -> dict[str, Any]:
    return {"reference": reference, "response": response}


def _response_contexts(response: str, reference: str, contexts: Sequence[str]) -> dict[str, Any]:
    return {"response": response, "retrieved_contexts": list(contexts)}


# name -> (ragas class name, its extra module if any, how to build its inputs)
_OFFLINE: dict[str, tuple[str, str | None, Callable[[str, str, Sequence[str]], dict[str, Any]]]] = {
    "ragas_exact_match": ("ExactMatch", None, _reference_response),
    "ragas_string_presence": ("StringPresence", None, _reference_response),
    "ragas_quoted_spans_alignment": ("QuotedSpansAlignment", None, _response_contexts),
    # ROUGE needs the rouge_score package, which the eval extra does not pin: used only when present.
    "ragas_rouge_l": ("RougeScore", "rouge_score", _reference_response),
}


def available_offline_metrics() -> list[str]:
    return [
        name
        for name, (_, module, _) in _OFFLINE.items()
        if module is None or importlib.util.find_spec(module)
    ]


def offline_ragas_scores(response: str, reference: str, contexts: Sequence[str]) -> dict[str, float]:
    """ragas metrics that need no LLM or embeddings: exact match and string presence of the reference in
    the response, and the share of quoted spans in the response found verbatim in the contexts (1.0 when
    it quotes nothing). ROUGE-L is added when ``rouge_score`` is installed."""
    from ragas.metrics import collections as rc

    async def run() -> dict[str, float]:
        scores = {}
        for name in available_offline_metrics():
            cls_name, _, inputs = _OFFLINE[name]
            metric = getattr(rc, cls_name)()
            scores[name] = float((await metric.ascore(**inputs(response, reference, contexts))).value)
        return scores

    return asyncio.run(run())
