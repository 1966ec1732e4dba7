"""The generator interface: chat completions (optionally JSON-schema constrained) and P("yes") scoring.

Two backends implement it: ``LlamaCppGenerator`` (local GGUF via llama-cpp-python, the default) and
``OpenAIGenerator`` (any OpenAI-compatible HTTP server, used when ``settings.generator_url`` is set).
``load_generator(settings)`` returns one shared instance per configuration per process.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, Field

from agentkit.errors import GenerationError
from agentkit.settings import Settings

ROLES = frozenset({"system", "user", "assistant"})

# Spellings of the first answer token that count as "yes" / "no" when reading next-token probabilities.
YES_WORDS = ("yes", "Yes", "YES", " yes", " Yes", " YES")
NO_WORDS = ("no", "No", "NO", " no", " No", " NO")

# Control-token look-alikes (<|im_start|>, <|endoftext|>, <s>, [INST]...): templates are tokenized with
# special tokens enabled, so such text inside a quoted document could close the turn and inject a new one.
_CONTROL_TOKEN_RE = re.compile(r"<\|[^<>|\s]{1,64}\|>|</?s>|\[/?INST\]")


class Completion(BaseModel):
    """One chat completion and what it cost."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    cached_tokens: int = Field(0, description="prompt tokens reused from the KV cache instead of evaluated")
    prefill_seconds: float | None = Field(None, description="time spent evaluating the prompt, when known")
    decode_seconds: float | None = Field(None, description="time spent generating (incl. sampling), when known")
    finish_reason: str | None = Field(None, description='"stop" (natural end) or "length" (hit max_tokens)')
    token_logprobs: list[float] | None = Field(
        None, description="log-probability of each generated token under the model's unconstrained "
        "distribution, when the backend reports it")
    token_ends: list[int] | None = Field(None, description="character offset in ``text`` where each token ends")
    drafted_tokens: int = Field(0, description="completion tokens that came from prompt-lookup drafts (local backend)")

    def span_logprobs(self, start: int, end: int) -> list[float]:
        """Log-probabilities of the tokens that overlap ``text[start:end]`` (empty when not reported)."""
        if not self.token_logprobs or not self.token_ends:
            return []
        out, begin = [], 0
        for lp, stop in zip(self.token_logprobs, self.token_ends):
            if stop > start and begin < end:
                out.append(lp)
            begin = stop
        return out


class Usage(BaseModel):
    """Token and time counters, for the last call and cumulatively (benchmarks read these)."""

    calls: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    def add(self, other: Usage) -> None:
        self.calls += other.calls
        self.prompt_tokens += other.prompt_tokens
        self.cached_tokens += other.cached_tokens
        self.completion_tokens += other.completion_tokens
        self.seconds += other.seconds


@runtime_checkable
class Generator(Protocol):
    name: str

    def chat(self, messages: list[dict], *, json_schema: dict | None = None, max_tokens: int = 256,
             temperature: float = 0.0, stop: list[str] | None = None) -> Completion:
        """Answer a chat. With ``json_schema`` decoding is constrained so ``text`` parses and matches it."""
        ...

    def yes_probability(self, prompts: list[list[dict]]) -> list[float]:
        """P("yes") / (P("yes") + P("no")) for the assistant's first token, per chat."""
        ...

    def count_tokens(self, text: str) -> int:
        ...


def neutralize_control_tokens(text: str) -> str:
    """Break control-token look-alikes so quoted text cannot act as chat markup."""
    return _CONTROL_TOKEN_RE.sub(lambda m: m.group(0)[0] + " " + m.group(0)[1:], text)


def clean_messages(messages: Sequence[dict]) -> list[dict]:
    """Validate chat messages and return copies with neutralized control-token look-alikes."""
    if not messages:
        raise GenerationError("chat needs at least one message")
    out = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise GenerationError(f"message {i} must be a dict with 'role' and 'content', got {type(msg).__name__}")
        role, content = msg.get("role"), msg.get("content")
        if role not in ROLES:
            raise GenerationError(f"message {i} has role {role!r}; use one of {', '.join(sorted(ROLES))}")
        if not isinstance(content, str):
            raise GenerationError(f"message {i} ({role}) needs a string 'content'")
        out.append({"role": role, "content": neutralize_control_tokens(content)})
    return out


def yes_share(yes_logits: Iterable[float], no_logits: Iterable[float]) -> float:
    """P(yes group) / (P(yes group) + P(no group)) from raw logits (or log-probabilities) of both groups.

    The softmax normaliser cancels, so only the two groups' log-sum-exp matter.
    """
    ly, ln = _logsumexp(yes_logits), _logsumexp(no_logits)
    if ly == -math.inf and ln == -math.inf:
        return 0.5  # neither answer is possible: no evidence either way
    diff = ln - ly
    if diff > 700:
        return 0.0
    return 1.0 / (1.0 + math.exp(diff))


def yes_share_from_top_logprobs(top: Iterable[tuple[str, float]]) -> float:
    """Same as ``yes_share`` from an HTTP server's top-k (token, logprob) list.

    A group absent from the top-k has less mass than the k-th token; it is treated as zero.
    """
    yes, no = [], []
    for token, logprob in top:
        word = token.strip().lower()
        if word == "yes":
            yes.append(logprob)
        elif word == "no":
            no.append(logprob)
    return yes_share(yes, no)


def _logsumexp(values: Iterable[float]) -> float:
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not vals:
        return -math.inf
    m = max(vals)
    if m == -math.inf:
        return -math.inf
    return m + math.log(sum(math.exp(v - m) for v in vals))


_GENERATORS: dict[tuple, Generator] = {}
_GENERATORS_LOCK = threading.Lock()


def load_generator(settings: Settings) -> Generator:
    """The generator for these settings, created once per process (loading a GGUF takes seconds)."""
    key = (settings.generator, str(settings.home), settings.n_ctx, settings.n_threads, settings.draft_tokens,
           settings.generator_url, settings.generator_api_key, settings.generator_logprobs)
    with _GENERATORS_LOCK:
        gen = _GENERATORS.get(key)
        if gen is None:
            gen = _create_generator(settings)
            _GENERATORS[key] = gen
        return gen


def _create_generator(settings: Settings) -> Generator:
    # Imported here so the HTTP backend works without llama-cpp-python and vice versa.
    if settings.generator_url:
        from agentkit.generate.openai_backend import OpenAIGenerator

        return OpenAIGenerator(settings.generator_url, model=settings.generator, api_key=settings.generator_api_key,
                               token_logprobs=settings.generator_logprobs)
    from agentkit.generate.llama_backend import LlamaCppGenerator

    return LlamaCppGenerator.from_settings(settings)
