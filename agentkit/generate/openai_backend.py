"""Generation through any OpenAI-compatible HTTP server (llama.cpp's ``llama_cpp.server``, vLLM, ...).

JSON-schema constraint: ``llama_cpp.server`` takes ``{"type": "json_object", "schema": ...}`` (style
``"llama_cpp"``, the default); vLLM and OpenAI take ``{"type": "json_schema", "json_schema": {"name": ...,
"schema": ...}}`` (style ``"openai"``). Note that llama_cpp.server falls back to unconstrained JSON when it
cannot convert a schema, so callers should still validate the result.

``yes_probability`` asks for one token with ``logprobs``/``top_logprobs``; llama_cpp.server needs the
model loaded with ``logits_all`` (its default is on). With ``token_logprobs``, ``chat`` asks for the
log-probability of each generated token too (the answer check's bar reads the short answer's); a server
that refuses them is asked again without them, once, and remembered. Off by default: llama_cpp.server
sorts the whole vocabulary in Python for every generated token (``evals/bench/bench_http_logprobs.py``, 1.5B
model on 2 cores: a 27-token constrained answer took 22.2 s with them, 5.4 s without).
"""

from __future__ import annotations

import json
import math
import time
from typing import Any, Literal

import httpx

from agentkit.errors import GenerationError
from agentkit.generate.llm import Completion, Usage, clean_messages, yes_share_from_top_logprobs

SchemaStyle = Literal["llama_cpp", "openai"]
TOP_LOGPROBS = 20


class OpenAIGenerator:
    """Generator talking to ``{base_url}/v1/chat/completions``."""

    def __init__(self, base_url: str, *, model: str = "default", api_key: str | None = None,
                 schema_style: SchemaStyle = "llama_cpp", timeout: float = 120.0, connect_timeout: float = 5.0,
                 retries: int = 3, backoff: float = 0.5, seed: int = 42, token_logprobs: bool = False):
        if not base_url.startswith(("http://", "https://")):
            raise GenerationError(f"generator_url must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/").removesuffix("/v1")
        self.name = model
        self.model = model
        self.schema_style = schema_style
        self.retries = max(1, retries)
        self.backoff = backoff
        self.seed = seed
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=self.base_url, headers=headers,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
        )
        self._tokenize_path: str | None = None  # discovered on first count_tokens
        self._chat_logprobs = token_logprobs  # turned off for good when the server refuses them
        self.last_usage = Usage()
        self.total_usage = Usage()

    def close(self) -> None:
        self._client.close()

    # -- public API ------------------------------------------------------------------------------

    def chat(self, messages: list[dict], *, json_schema: dict | None = None, max_tokens: int = 256,
             temperature: float = 0.0, stop: list[str] | None = None) -> Completion:
        if max_tokens < 1:
            raise GenerationError(f"max_tokens must be >= 1, got {max_tokens}")
        payload: dict[str, Any] = {
            "model": self.model, "messages": clean_messages(messages), "max_tokens": max_tokens,
            "temperature": temperature, "seed": self.seed,
        }
        if stop:
            payload["stop"] = list(stop)
        if json_schema is not None:
            payload["response_format"] = self._response_format(json_schema)
        t0 = time.perf_counter()
        data = self._post_chat(payload)
        seconds = time.perf_counter() - t0
        choice = _first_choice(data)
        text = _get(choice, "message", "content")
        if not isinstance(text, str):
            raise GenerationError(f"server response has no message content: {_short(data)}")
        usage = data.get("usage") or {}
        details = usage.get("prompt_tokens_details") or {}
        logprobs, ends = _token_logprobs(_get(choice, "logprobs", "content"), text)
        comp = Completion(
            text=text, prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0), seconds=seconds,
            cached_tokens=int(details.get("cached_tokens") or 0), finish_reason=choice.get("finish_reason"),
            token_logprobs=logprobs, token_ends=ends,
        )
        self._record(Usage(calls=1, prompt_tokens=comp.prompt_tokens, cached_tokens=comp.cached_tokens,
                           completion_tokens=comp.completion_tokens, seconds=seconds))
        if json_schema is not None:
            if comp.finish_reason == "length":
                raise GenerationError(
                    f"constrained JSON was cut off at max_tokens ({max_tokens}); raise max_tokens or bound the schema"
                )
            try:
                json.loads(text)
            except ValueError as exc:
                raise GenerationError(f"server returned invalid JSON for a json_schema request: {text[:200]!r}") from exc
        return comp

    def yes_probability(self, prompts: list[list[dict]]) -> list[float]:
        out = []
        t0 = time.perf_counter()
        prompt_tokens = 0
        for messages in prompts:
            data = self._post("/v1/chat/completions", {
                "model": self.model, "messages": clean_messages(messages), "max_tokens": 1,
                "temperature": 0.0, "logprobs": True, "top_logprobs": TOP_LOGPROBS, "seed": self.seed,
            })
            prompt_tokens += int((data.get("usage") or {}).get("prompt_tokens") or 0)
            content = _get(_first_choice(data), "logprobs", "content")
            if not isinstance(content, list) or not content:
                raise GenerationError(
                    "server returned no logprobs; it must support logprobs/top_logprobs "
                    f"(llama_cpp.server: start it with --logits_all true): {_short(data)}"
                )
            top = content[0].get("top_logprobs") or []
            try:
                pairs = [(str(t["token"]), float(t["logprob"])) for t in top]
            except (KeyError, TypeError, ValueError) as exc:
                raise GenerationError(f"unparsable top_logprobs in server response: {_short(data)}") from exc
            out.append(yes_share_from_top_logprobs(pairs))
        self._record(Usage(calls=len(prompts), prompt_tokens=prompt_tokens, seconds=time.perf_counter() - t0))
        return out

    def count_tokens(self, text: str) -> int:
        # llama_cpp.server exposes /extras/tokenize, vLLM /tokenize; the first that works is remembered
        for path in ([self._tokenize_path] if self._tokenize_path else ["/extras/tokenize", "/tokenize"]):
            body = {"input": text} if path == "/extras/tokenize" else {"model": self.model, "prompt": text}
            try:
                data = self._post(path, body, retry_http=False)
            except GenerationError:
                continue
            tokens = data.get("tokens")
            if isinstance(tokens, list):
                self._tokenize_path = path
                return len(tokens)
            if isinstance(data.get("count"), int):
                self._tokenize_path = path
                return int(data["count"])
        raise GenerationError(f"{self.base_url} offers no tokenize endpoint (/extras/tokenize or /tokenize)")

    # -- internals -------------------------------------------------------------------------------

    def _post_chat(self, payload: dict) -> dict:
        """A chat call, with per-token logprobs when asked for (top_logprobs 1: llama_cpp.server reports none
        without it)."""
        if not self._chat_logprobs:
            return self._post("/v1/chat/completions", payload)
        try:
            return self._post("/v1/chat/completions", {**payload, "logprobs": True, "top_logprobs": 1})
        except GenerationError as exc:
            if "logprob" not in str(exc).lower() or "HTTP" not in str(exc):
                raise
            self._chat_logprobs = False  # e.g. llama_cpp.server without logits_all: answer without them
            return self._post("/v1/chat/completions", payload)

    def _response_format(self, schema: dict) -> dict:
        if self.schema_style == "openai":
            return {"type": "json_schema", "json_schema": {"name": "response", "schema": schema, "strict": True}}
        return {"type": "json_object", "schema": schema}

    def _post(self, path: str, payload: dict, *, retry_http: bool = True) -> dict:
        """POST with bounded retries on connection failures and 502/503/504; typed errors otherwise."""
        last_exc: Exception | None = None
        for attempt in range(self.retries):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                resp = self._client.post(path, json=payload)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError) as exc:
                last_exc = exc
                continue
            except httpx.TimeoutException as exc:
                # a read timeout means the server is working on it: retrying would queue duplicate work
                raise GenerationError(f"{self.base_url}{path} timed out: {exc!r}") from exc
            if resp.status_code in (502, 503, 504) and retry_http:
                last_exc = GenerationError(f"HTTP {resp.status_code}: {resp.text[:200]}")
                continue
            if resp.status_code >= 400:
                raise GenerationError(f"{self.base_url}{path} returned HTTP {resp.status_code}: {resp.text[:500]}")
            try:
                data = resp.json()
            except ValueError as exc:
                raise GenerationError(f"{self.base_url}{path} returned non-JSON: {resp.text[:200]!r}") from exc
            if not isinstance(data, dict):
                raise GenerationError(f"{self.base_url}{path} returned unexpected JSON: {_short(data)}")
            return data
        raise GenerationError(
            f"cannot reach the generator server at {self.base_url} after {self.retries} attempts: {last_exc!r}; "
            "is it running? (e.g. python -m llama_cpp.server --model <gguf>)"
        )

    def _record(self, usage: Usage) -> None:
        self.last_usage = usage
        self.total_usage.add(usage)


def _first_choice(data: dict) -> dict:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise GenerationError(f"server response has no choices: {_short(data)}")
    return choices[0]


def _get(obj: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(k)
    return obj


def _token_logprobs(content: Any, text: str) -> tuple[list[float] | None, list[int] | None]:
    """Per-token log-probabilities and where each token ends in ``text``, from a chat response's
    ``logprobs.content``; (None, None) when the server sent none or sent them in a shape not understood
    (they only tune the answer check's bar, so their absence is not an error). Offsets come from the
    tokens' UTF-8 ``bytes`` when given (a token may end inside a multi-byte character), else their text."""
    if not isinstance(content, list) or not content:
        return None, None
    logprobs, ends, raw, pos = [], [], b"", 0
    try:
        for item in content:
            logprobs.append(float(item["logprob"]))
            if isinstance(item.get("bytes"), list):
                raw += bytes(item["bytes"])
                pos = len(raw.decode("utf-8", errors="ignore"))
            else:
                pos += len(str(item["token"]))
            ends.append(min(pos, len(text)))
    except (KeyError, TypeError, ValueError):
        return None, None
    if not all(math.isfinite(lp) for lp in logprobs):
        return None, None
    return [min(lp, 0.0) for lp in logprobs], ends


def _short(data: Any) -> str:
    return json.dumps(data)[:300] if not isinstance(data, str) else data[:300]
