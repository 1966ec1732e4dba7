"""Local generation with llama-cpp-python: one GGUF per process, prompt-prefix KV reuse, grammar-constrained JSON.

Why not ``Llama.create_chat_completion``: it renders the same GGUF chat template we render here, but
(0.3.36) silently falls back to *unconstrained* JSON when a schema cannot be turned into a grammar
(``_grammar_for_json_schema(fallback_to_json=True)``), and its sampler chain masks the whole ~150k-token
vocabulary with the grammar at every step. We render the template ourselves (so ``chat`` and
``yes_probability`` tokenize identically and share the KV prefix cache), convert the schema strictly, and
decode constrained output with a check-the-preferred-token-first loop. Free text still goes through
``Llama.create_completion``.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import platform
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from agentkit import models
from agentkit.errors import GenerationError, ModelNotAvailableError
from agentkit.generate.llm import NO_WORDS, YES_WORDS, Completion, Usage, clean_messages, yes_share
from agentkit.settings import Settings

DEFAULT_SEED = 42
FIRST_DRAFT = 3  # prompt-lookup tokens tried after a rejected draft


@dataclass
class _LoadedModel:
    llm: Any  # llama_cpp.Llama
    lock: threading.Lock
    formatter: Any  # llama_cpp.llama_chat_format.Jinja2ChatFormatter
    yes_ids: list[int]
    no_ids: list[int]
    # KV state of the system-message prefixes evaluated lately (tokens -> llama.cpp sequence state). The
    # calls of one question alternate between prompts (answer, entailment check, per-document stance), so
    # each would otherwise prefill its system message again after the others evicted it.
    prefixes: OrderedDict = field(default_factory=OrderedDict)
    system_lens: dict = field(default_factory=dict)


PREFIX_STATES = 4  # system prompts kept; each costs ~28 KB of KV per token for the 1.5B model


_MODELS: dict[tuple[str, int, int], _LoadedModel] = {}
_MODELS_LOCK = threading.Lock()


def _import_llama_cpp():
    try:
        import llama_cpp
        import llama_cpp.llama_chat_format
        import llama_cpp.llama_grammar
    except ImportError as exc:
        raise ModelNotAvailableError(
            "llama-cpp-python is not installed; run: pip install llama-cpp-python==0.3.36 "
            "(or set generator_url to use an OpenAI-compatible server)"
        ) from exc
    return llama_cpp


# Evaluates a few tokens in a child process: a llama.cpp built with -march=native on a VM that advertises
# AMX but cannot run it dies with SIGILL on the first multi-token batch, which would kill our process.
_PROBE = """
import sys, llama_cpp
llm = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=64, n_threads=1, verbose=False)
llm.eval(llm.tokenize(b"one two three four five six"))
"""


def _probe_key(llama_cpp: Any) -> str:
    lib = Path(llama_cpp.__file__).parent / "lib"
    stats = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in lib.glob("libggml*") if p.is_file())
    try:
        cpu = Path("/proc/cpuinfo").read_text().split("\n\n")[0]
    except OSError:
        cpu = platform.processor()
    return hashlib.sha256(json.dumps([llama_cpp.__version__, stats, cpu]).encode()).hexdigest()[:16]


def extra_buffers_usable(model_path: Path, home: Path | None = None) -> bool:
    """Whether llama.cpp's extra weight buffers (AMX / repacked kernels) run on this CPU.

    ``AGENTKIT_LLAMA_EXTRA_BUFFERS=0|1`` forces the answer; otherwise a child process tries once per
    (llama.cpp build, CPU) and the verdict is cached under ``$AGENTKIT_HOME``.
    """
    forced = os.environ.get("AGENTKIT_LLAMA_EXTRA_BUFFERS")
    if forced in ("0", "1"):
        return forced == "1"
    llama_cpp = _import_llama_cpp()
    cache = models.models_dir(home) / "llama_cpu_probe.json"
    key = _probe_key(llama_cpp)
    with contextlib.suppress(OSError, ValueError):
        verdicts = json.loads(cache.read_text())
        if key in verdicts:
            return bool(verdicts[key])
    try:
        proc = subprocess.run([sys.executable, "-c", _PROBE, str(model_path)], capture_output=True,
                              timeout=300, check=False)
        usable = proc.returncode >= 0  # killed by a signal (SIGILL) -> negative return code
    except subprocess.TimeoutExpired:
        usable = True
    with contextlib.suppress(OSError, ValueError):
        verdicts = json.loads(cache.read_text()) if cache.exists() else {}
        verdicts[key] = usable
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(verdicts))
    return usable


@contextlib.contextmanager
def _without_extra_buffers(llama_cpp: Any):
    """Llama() does not expose ``use_extra_bufts``; patch the default params it starts from."""
    original = llama_cpp.llama_cpp.llama_model_default_params

    def patched():
        params = original()
        params.use_extra_bufts = False
        return params

    llama_cpp.llama_cpp.llama_model_default_params = patched
    try:
        yield
    finally:
        llama_cpp.llama_cpp.llama_model_default_params = original


def _load_model(path: Path, n_ctx: int, n_threads: int, seed: int, home: Path | None = None) -> _LoadedModel:
    """Load a GGUF once per (path, n_ctx, n_threads); later callers share it (and its lock)."""
    key = (str(Path(path).resolve()), n_ctx, n_threads)
    with _MODELS_LOCK:
        if key in _MODELS:
            return _MODELS[key]
        llama_cpp = _import_llama_cpp()
        guard = contextlib.nullcontext() if extra_buffers_usable(path, home) else _without_extra_buffers(llama_cpp)
        try:
            with guard:
                # flash attention: prefill 90-112 vs 86-100 tok/s for the 1.5B on 2 cores, decode unchanged
                llm = llama_cpp.Llama(
                    model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads,
                    seed=seed, verbose=False, flash_attn=True,
                )
        except (ValueError, RuntimeError) as exc:
            raise ModelNotAvailableError(f"llama.cpp could not load {path}: {exc}") from exc
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelNotAvailableError(
                f"{path} has no chat template (tokenizer.chat_template); use an instruct/chat GGUF"
            )
        eos_id, bos_id = llm.token_eos(), llm.token_bos()
        formatter = llama_cpp.llama_chat_format.Jinja2ChatFormatter(
            template=template,
            eos_token=llm._model.token_get_text(eos_id) if eos_id != -1 else "",
            bos_token=llm._model.token_get_text(bos_id) if bos_id != -1 else "",
            stop_token_ids=[eos_id],
        )
        loaded = _LoadedModel(llm, threading.Lock(), formatter, _single_token_ids(llm, YES_WORDS),
                              _single_token_ids(llm, NO_WORDS))
        if not loaded.yes_ids or not loaded.no_ids:
            raise ModelNotAvailableError(f"{path}: the vocabulary has no single-token 'yes'/'no'; cannot score")
        _MODELS[key] = loaded
        return loaded


def _single_token_ids(llm: Any, words: tuple[str, ...]) -> list[int]:
    ids = set()
    for w in words:
        toks = llm.tokenize(w.encode("utf-8"), add_bos=False, special=False)
        if len(toks) == 1:
            ids.add(toks[0])
    return sorted(ids)


@lru_cache(maxsize=64)
def _grammar_for(schema_json: str) -> Any:
    llama_cpp = _import_llama_cpp()
    try:
        return llama_cpp.llama_grammar.LlamaGrammar.from_json_schema(schema_json, verbose=False)
    except Exception as exc:  # the converter raises assorted errors (AssertionError, KeyError, ...)
        raise GenerationError(f"json_schema cannot be converted to a llama.cpp grammar: {exc!r}") from exc


def common_prefix_len(current: np.ndarray, tokens: list[int]) -> int:
    """Length of the longest common prefix of the evaluated tokens and a new prompt."""
    n = min(len(current), len(tokens))
    if n == 0:
        return 0
    diff = np.nonzero(current[:n] != np.asarray(tokens[:n], dtype=current.dtype))[0]
    return int(diff[0]) if len(diff) else n


class LlamaCppGenerator:
    """Generator backed by a local GGUF. Thread-safe: one lock serialises access to the shared model."""

    def __init__(self, model_path: str | Path, *, name: str | None = None, n_ctx: int = 4096,
                 n_threads: int = 2, seed: int = DEFAULT_SEED, home: Path | None = None, draft_tokens: int = 12):
        self.model_path = Path(model_path)
        self.draft_tokens = draft_tokens
        self.name = name or self.model_path.stem
        self.seed = seed
        self._m = _load_model(self.model_path, n_ctx, n_threads, seed, home)
        self.n_ctx = int(self._m.llm.n_ctx())
        self.last_usage = Usage()
        self.total_usage = Usage()

    @classmethod
    def from_settings(cls, settings: Settings) -> LlamaCppGenerator:
        path = models.resolve_generator(settings.generator, settings.home)
        return cls(path, name=settings.generator, n_ctx=settings.n_ctx, n_threads=settings.n_threads,
                   home=settings.home, draft_tokens=settings.draft_tokens)

    # -- public API ------------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        return len(self._m.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def chat(self, messages: list[dict], *, json_schema: dict | None = None, max_tokens: int = 256,
             temperature: float = 0.0, stop: list[str] | None = None) -> Completion:
        if max_tokens < 1:
            raise GenerationError(f"max_tokens must be >= 1, got {max_tokens}")
        if temperature < 0:
            raise GenerationError(f"temperature must be >= 0, got {temperature}")
        grammar = _grammar_for(json.dumps(json_schema)) if json_schema is not None else None
        t0 = time.perf_counter()
        with self._m.lock:
            tokens, fmt = self._prompt(messages)
            if len(tokens) + 1 > self.n_ctx:
                raise GenerationError(
                    f"prompt has {len(tokens)} tokens but the context holds {self.n_ctx}; "
                    "shorten the evidence or raise n_ctx"
                )
            t_prefix = time.perf_counter()
            evaluated = self._ensure_prefix(tokens, self._system_len(messages))
            t_prefix = time.perf_counter() - t_prefix
            max_new = min(max_tokens, self.n_ctx - len(tokens))
            stops = list(stop or []) + _as_list(fmt.stop)
            if grammar is None:
                comp = self._free_completion(tokens, fmt, max_new, temperature, stops)
            else:
                comp = self._constrained_completion(tokens, grammar._grammar, max_new, temperature, stops)
            # a system prefix evaluated just now was not reused; one restored from its kept state was
            comp.cached_tokens -= evaluated
            comp.prefill_seconds = (comp.prefill_seconds or 0.0) + t_prefix
        comp.seconds = time.perf_counter() - t0
        comp.decode_seconds = max(0.0, comp.seconds - (comp.prefill_seconds or 0.0))
        self._record(Usage(calls=1, prompt_tokens=comp.prompt_tokens, cached_tokens=comp.cached_tokens,
                           completion_tokens=comp.completion_tokens, seconds=comp.seconds))
        if json_schema is not None:
            _check_json(comp)
        return comp

    def yes_probability(self, prompts: list[list[dict]]) -> list[float]:
        """Score chats by the next-token probability of yes vs no after the assistant header.

        Prompts are evaluated in lexicographic token order so consecutive ones share the longest
        prefixes; only the differing suffix of each is evaluated (KV cache truncated, not cleared).
        """
        if not prompts:
            return []
        llm = self._m.llm
        t0 = time.perf_counter()
        results: list[float] = [0.5] * len(prompts)
        total = cached_total = 0
        with self._m.lock:
            encoded = [self._prompt(p)[0] for p in prompts]
            for i, toks in enumerate(encoded):
                if len(toks) + 1 > self.n_ctx:
                    raise GenerationError(
                        f"prompt {i} has {len(toks)} tokens but the context holds {self.n_ctx}; shorten it"
                    )
            for i in sorted(range(len(encoded)), key=lambda j: encoded[j]):
                toks = encoded[i]
                evaluated = self._ensure_prefix(toks, self._system_len(prompts[i]))
                cached = self._eval_suffix(toks) - evaluated
                logits = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(llm.n_vocab(),))
                results[i] = yes_share(logits[self._m.yes_ids].tolist(), logits[self._m.no_ids].tolist())
                total += len(toks)
                cached_total += cached
        self._record(Usage(calls=len(prompts), prompt_tokens=total, cached_tokens=cached_total,
                           seconds=time.perf_counter() - t0))
        return results

    # -- internals -------------------------------------------------------------------------------

    def _free_completion(self, tokens: list[int], fmt: Any, max_new: int, temperature: float,
                         stops: list[str]) -> Completion:
        llm = self._m.llm
        # generate() reuses the same longest prefix; it replays the last token when all are cached
        cached = min(common_prefix_len(llm._input_ids, tokens), len(tokens) - 1)
        perf0 = self._perf()
        try:
            out = llm.create_completion(
                prompt=tokens, max_tokens=max_new, temperature=temperature, repeat_penalty=1.0, seed=self.seed,
                stop=stops, stopping_criteria=fmt.stopping_criteria,
            )
        except (ValueError, RuntimeError) as exc:
            raise GenerationError(f"llama.cpp generation failed: {exc}") from exc
        prefill = max(0.0, (self._perf().t_p_eval_ms - perf0.t_p_eval_ms) / 1000.0)
        choice, usage = out["choices"][0], out["usage"]
        return Completion(text=choice["text"], prompt_tokens=usage["prompt_tokens"],
                          completion_tokens=usage["completion_tokens"], seconds=0.0, cached_tokens=cached,
                          prefill_seconds=prefill, finish_reason=choice.get("finish_reason"))

    def _constrained_completion(self, tokens: list[int], gbnf: str, max_new: int, temperature: float,
                                stops: list[str]) -> Completion:
        """Grammar-constrained decoding that checks the model's own choice first, with prompt-lookup drafts.

        llama-cpp-python's sampler chain runs the grammar over the whole vocabulary (~150k tokens, about
        0.1-0.3 s on this CPU) at every step. Here the preferred token is tested alone and the full mask is
        only computed when it is rejected (the strategy of llama.cpp's own common sampler); for sampling with
        temperature this is rejection sampling, so the distribution is the same.

        Greedy decoding also drafts: where the last tokens written also occur in the prompt, the tokens that
        follow them there (an answer sentence mostly copies its evidence) are evaluated in one batch with
        the token just chosen, and kept while they are what the model picks anyway. A batch of 4 tokens costs
        ~1.7 single steps on this 2-core CPU, so drafts pay off where the output copies; the output is the
        same as without drafts, up to the float rounding of batched evaluation.
        """
        llama_cpp = _import_llama_cpp()
        llm = self._m.llm
        n_vocab = llm.n_vocab()
        vocab = llm._model.vocab
        t0 = time.perf_counter()
        cached = self._eval_suffix(tokens)
        prefill = time.perf_counter() - t0
        checker = _GrammarChecker(llama_cpp, vocab, gbnf, n_vocab)
        rng = np.random.default_rng(self.seed)
        drafting = temperature <= 0 and self.draft_tokens > 0
        out: list[int] = []
        logprobs: list[float] = []
        finish = "length"
        drafted = 0
        # a batch of 4 costs ~1.7 single steps here, of 9 ~3.4: start short, double while whole drafts hold
        span = min(FIRST_DRAFT, self.draft_tokens)

        def accept(token: int, logits: np.ndarray) -> None:
            checker.accept(token)
            out.append(token)
            logprobs.append(_logprob(logits, token))

        def choose(logits: np.ndarray) -> int:
            token = _pick(logits, temperature, rng)
            if not checker.allows(token):
                masked = checker.mask(logits)
                if not np.isfinite(masked).any():
                    raise GenerationError("the JSON grammar allows no next token (schema too restrictive?)")
                token = _pick(masked, temperature, rng)
            return token

        try:
            logits = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(n_vocab,)).copy()
            token = choose(logits)
            while len(out) < max_new:
                if llama_cpp.llama_vocab_is_eog(vocab, token):
                    finish = "stop"
                    break
                accept(token, logits)
                if stops and _hit_stop(llm, out, tokens, stops):
                    finish = "stop"
                    break
                if len(out) >= max_new or llm.n_tokens + 1 >= self.n_ctx:
                    break
                room = min(span, max_new - len(out), self.n_ctx - llm.n_tokens - 2)
                draft = lookup_draft(tokens, out, room) if drafting else []
                rows = self._eval_rows([token, *draft])
                logits, token = rows[0], choose(rows[0])
                kept = 0
                # keep each drafted token the model would have picked itself; stop at the first it would not
                while kept < len(draft) and token == draft[kept] and len(out) < max_new:
                    if llama_cpp.llama_vocab_is_eog(vocab, token):
                        break
                    accept(token, logits)
                    kept += 1
                    logits = rows[kept]
                    token = choose(logits)
                drafted += kept
                if draft:
                    span = min(2 * span, self.draft_tokens) if kept == len(draft) else min(FIRST_DRAFT, self.draft_tokens)
                if kept < len(draft):  # drop the rejected drafts from the context
                    self._truncate(llm.n_tokens - (len(draft) - kept))
                if stops and kept and _hit_stop(llm, out, tokens, stops):
                    finish = "stop"
                    break
        except RuntimeError as exc:
            raise GenerationError(f"llama.cpp evaluation failed: {exc}") from exc
        finally:
            checker.close()
        raw = llm.detokenize(out, prev_tokens=tokens)
        text = raw.decode("utf-8", errors="replace")
        if finish == "stop" and stops:
            text = _cut_at_stop(text, stops)
        return Completion(text=text, prompt_tokens=len(tokens), completion_tokens=len(out), seconds=0.0,
                          cached_tokens=cached, prefill_seconds=prefill, finish_reason=finish,
                          token_logprobs=logprobs, token_ends=_token_ends(llm, out, tokens, raw),
                          drafted_tokens=drafted)

    def _eval_rows(self, batch: list[int]) -> list[np.ndarray]:
        """Evaluate ``batch`` after the context and return the logits after each of its tokens."""
        llm = self._m.llm
        if len(batch) == 1:
            llm.eval(batch)
            return [np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(llm.n_vocab(),)).copy()]
        # Llama.eval keeps only the last row's logits unless the model was loaded with logits_all (which
        # would also compute them for every prompt token): ask for every row of this one batch instead
        n_past = llm.n_tokens
        llm._ctx.kv_cache_seq_rm(-1, n_past, -1)
        llm._batch.set_batch(batch=batch, n_past=n_past, logits_all=True)
        llm._ctx.decode(llm._batch)
        llm.input_ids[n_past:n_past + len(batch)] = batch
        llm.n_tokens = n_past + len(batch)
        return [np.ctypeslib.as_array(llm._ctx.get_logits_ith(i), shape=(llm.n_vocab(),)).copy()
                for i in range(len(batch))]

    def _truncate(self, n_tokens: int) -> None:
        llm = self._m.llm
        if not llm._ctx.kv_cache_seq_rm(-1, n_tokens, -1):
            raise RuntimeError("the KV cache cannot drop rejected draft tokens")
        llm.n_tokens = n_tokens

    def _prompt(self, messages: list[dict]) -> tuple[list[int], Any]:
        fmt = self._m.formatter(messages=clean_messages(messages))
        tokens = self._m.llm.tokenize(fmt.prompt.encode("utf-8"), add_bos=not fmt.added_special, special=True)
        return tokens, fmt

    def _system_len(self, messages: list[dict]) -> int:
        """Tokens of the chat up to where the first user message starts, when the chat opens with a system
        message (0 otherwise): the part of the prompt shared by every call with that system message."""
        if not messages or messages[0].get("role") != "system" or len(messages) < 2:
            return 0
        system = str(messages[0].get("content", ""))
        if system not in self._m.system_lens:
            a, _ = self._prompt([messages[0], {"role": "user", "content": "a"}])
            b, _ = self._prompt([messages[0], {"role": "user", "content": "b"}])
            self._m.system_lens[system] = common_prefix_len(np.asarray(a), b)
        return self._m.system_lens[system]

    def _ensure_prefix(self, tokens: list[int], prefix_len: int) -> int:
        """Make the context start with ``tokens[:prefix_len]`` (a system prefix) without evaluating it again
        where its KV state was kept: restore that state when the context holds less of the prompt, else
        evaluate the prefix on its own and keep its state. Returns the tokens evaluated here. Caller holds
        the lock."""
        llm = self._m.llm
        if prefix_len <= 0 or prefix_len >= len(tokens):
            return 0
        have = common_prefix_len(llm._input_ids, tokens)
        if have >= prefix_len:
            return 0
        llama_cpp = _import_llama_cpp()
        key = tuple(tokens[:prefix_len])
        state = self._m.prefixes.get(key)
        if state is not None:
            llm._ctx.kv_cache_clear()
            if llama_cpp.llama_state_seq_set_data(llm.ctx, state, len(state), 0):
                llm.input_ids[:prefix_len] = key
                llm.n_tokens = prefix_len
                self._m.prefixes.move_to_end(key)
                return 0
            llm.reset()  # a state that does not load is dropped; the prompt is evaluated as usual
            llm._ctx.kv_cache_clear()
            del self._m.prefixes[key]
            return 0
        if have < llm.n_tokens and not llm._ctx.kv_cache_seq_rm(-1, have, -1):
            return 0  # this model's cache cannot drop a suffix (recurrent): nothing to keep
        llm.n_tokens = have
        try:
            llm.eval(tokens[have:prefix_len])
        except RuntimeError as exc:
            llm.reset()
            raise GenerationError(f"llama.cpp evaluation failed: {exc}") from exc
        size = llama_cpp.llama_state_seq_get_size(llm.ctx, 0)
        buf = (ctypes.c_uint8 * size)()
        if llama_cpp.llama_state_seq_get_data(llm.ctx, buf, size, 0) == size:
            self._m.prefixes[key] = buf
            while len(self._m.prefixes) > PREFIX_STATES:
                self._m.prefixes.popitem(last=False)
        return prefix_len - have

    def _eval_suffix(self, tokens: list[int]) -> int:
        """Make the context hold exactly ``tokens`` with fresh logits for the last one; return reused count."""
        llm = self._m.llm
        # at least the last token is re-evaluated: its logits are only in the buffer right after decode
        keep = min(common_prefix_len(llm._input_ids, tokens), len(tokens) - 1)
        if keep < llm.n_tokens and not llm._ctx.kv_cache_seq_rm(-1, keep, -1):
            keep = 0  # this model's cache cannot drop a suffix (recurrent): start over
            llm.reset()
            llm._ctx.kv_cache_clear()
        llm.n_tokens = keep
        try:
            llm.eval(tokens[keep:])
        except RuntimeError as exc:
            llm.reset()
            raise GenerationError(f"llama.cpp evaluation failed: {exc}") from exc
        return keep

    def _perf(self) -> Any:
        llama_cpp = _import_llama_cpp()
        return llama_cpp.llama_perf_context(self._m.llm.ctx)

    def _record(self, usage: Usage) -> None:
        self.last_usage = usage
        self.total_usage.add(usage)


def _as_list(stop: str | list[str] | None) -> list[str]:
    if stop is None:
        return []
    return [stop] if isinstance(stop, str) else list(stop)


def _check_json(comp: Completion) -> None:
    if comp.finish_reason == "length":
        raise GenerationError(
            f"constrained JSON was cut off at max_tokens ({comp.completion_tokens} tokens); raise max_tokens "
            "or bound the schema (maxLength on strings, maxItems on arrays)"
        )
    try:
        json.loads(comp.text)
    except ValueError as exc:
        raise GenerationError(f"generator returned invalid JSON despite the schema: {comp.text[:200]!r}") from exc


class _GrammarChecker:
    """A llama.cpp grammar sampler used for membership tests and masks, not as part of a sampler chain."""

    def __init__(self, llama_cpp: Any, vocab: Any, gbnf: str, n_vocab: int):
        self._c = llama_cpp
        self._smpl = llama_cpp.llama_sampler_init_grammar(vocab, gbnf.encode("utf-8"), b"root")
        if not self._smpl:
            raise GenerationError("llama.cpp rejected the grammar built from json_schema")
        dtype = np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)], align=True)
        self._one = np.zeros(1, dtype=dtype)
        self._one_arr = llama_cpp.llama_token_data_array(
            data=self._one.ctypes.data_as(llama_cpp.llama_token_data_p), size=1, selected=-1, sorted=False)
        self._all = np.zeros(n_vocab, dtype=dtype)
        self._all["id"] = np.arange(n_vocab, dtype=np.intc)
        self._all_arr = llama_cpp.llama_token_data_array(
            data=self._all.ctypes.data_as(llama_cpp.llama_token_data_p), size=n_vocab, selected=-1, sorted=False)

    def allows(self, token: int) -> bool:
        self._one["id"][0], self._one["logit"][0] = token, 0.0
        self._one_arr.size = 1
        self._c.llama_sampler_apply(self._smpl, ctypes.byref(self._one_arr))
        return bool(np.isfinite(self._one["logit"][0]))

    def mask(self, logits: np.ndarray) -> np.ndarray:
        self._all["id"] = np.arange(len(self._all), dtype=np.intc)
        self._all["logit"] = logits
        self._all_arr.size, self._all_arr.sorted = len(self._all), False
        self._c.llama_sampler_apply(self._smpl, ctypes.byref(self._all_arr))
        masked = np.full(len(self._all), -np.inf, dtype=np.float32)
        n = self._all_arr.size
        masked[self._all["id"][:n]] = self._all["logit"][:n]
        return masked

    def accept(self, token: int) -> None:
        self._c.llama_sampler_accept(self._smpl, token)

    def close(self) -> None:
        if self._smpl:
            self._c.llama_sampler_free(self._smpl)
            self._smpl = None


def _pick(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    if temperature <= 0:
        return int(np.argmax(logits))
    z = logits.astype(np.float64) / temperature
    z -= np.max(z)
    p = np.exp(z)
    p /= p.sum()
    return int(rng.choice(len(p), p=p))


def lookup_draft(prompt: list[int], out: list[int], limit: int, max_ngram: int = 3) -> list[int]:
    """Prompt-lookup draft: the tokens that follow the latest occurrence in ``prompt`` of the longest
    (``max_ngram`` down to 2) suffix of ``out``, at most ``limit`` of them."""
    if limit <= 0:
        return []
    for n in range(min(max_ngram, len(out)), 1, -1):
        tail = out[-n:]
        for at in range(len(prompt) - n, -1, -1):
            if prompt[at:at + n] == tail and at + n < len(prompt):
                return prompt[at + n:at + n + limit]
    return []


def _logprob(logits: np.ndarray, token: int) -> float:
    """The token's log-probability under the model's own (unmasked) distribution: how sure the model was,
    not how few choices the grammar left it."""
    z = logits.astype(np.float64)
    top = float(np.max(z))
    return float(z[token] - top - np.log(np.exp(z - top).sum()))


def _token_ends(llm: Any, out: list[int], prompt: list[int], raw: bytes) -> list[int]:
    """Character offset in the decoded text where each generated token ends. Byte-level BPE pieces
    concatenate to the detokenized bytes; a token ending inside a multi-byte character ends before it."""
    ends, pos = [], 0
    for token in out:
        pos += len(llm._model.detokenize([token]))
        ends.append(len(raw[:pos].decode("utf-8", errors="ignore")))
    return ends


def _hit_stop(llm: Any, out: list[int], prompt: list[int], stops: list[str]) -> bool:
    tail = llm.detokenize(out[-16:], prev_tokens=prompt + out[:-16]).decode("utf-8", errors="ignore")
    return any(s and s in tail for s in stops)


def _cut_at_stop(text: str, stops: list[str]) -> str:
    cuts = [text.index(s) for s in stops if s and s in text]
    return text[:min(cuts)] if cuts else text
