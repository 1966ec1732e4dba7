"""One Settings object for the whole library, with named presets.

Precedence (highest first): explicit keyword arguments, ``AGENTKIT_*`` environment variables,
a settings file (TOML or JSON, via ``Settings.load(path)`` or ``AGENTKIT_SETTINGS_FILE``),
the named preset, the defaults below.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from agentkit.errors import SettingsError

Strategy = Literal["closed_book", "naive", "grounded", "react", "reflexion"]
RerankerName = Literal["none", "embedding", "llm"]


def default_home() -> Path:
    return Path(os.environ.get("AGENTKIT_HOME", Path.home() / ".cache" / "agentkit"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGENTKIT_", extra="forbid", validate_assignment=True)

    preset: str = "default"
    home: Path = Field(default_factory=default_home, description="cache dir for assembled model files")

    # models: a registry name (see `agentkit models`) or a path to a local GGUF / sentence-transformers folder
    generator: str = "qwen2.5-1.5b"
    embedder: str = "minilm"
    n_ctx: int = 4096
    n_threads: int = Field(default_factory=lambda: max(1, os.cpu_count() or 1))
    draft_tokens: int = Field(
        12, ge=0, le=32, description="local generator, greedy JSON output: at most this many tokens drafted from "
        "the prompt per step where the output copies it (prompt-lookup decoding; same output up to float "
        "rounding); 0 "
        "turns it off")
    generator_url: str | None = Field(None, description="OpenAI-compatible server base URL; replaces the local generator")
    generator_api_key: str | None = None
    generator_logprobs: bool = Field(
        False, description="ask the OpenAI-compatible server for each generated token's log-probability, so the "
        "answer check's bar moves with the generator's probability for its short answer as it does locally. "
        "Cheap on vLLM; llama_cpp.server (Python) spends ~0.6 s per generated token on them (a 27-token "
        "answer with the 1.5B: 22.2 s vs 5.4 s, evals/bench/bench_http_logprobs.py), hence off by default")

    # ingest
    chunk_size: int = Field(1000, ge=100, description="max characters per chunk")
    chunk_overlap: int = Field(1, ge=0, description="sentences of overlap between consecutive chunks")
    max_file_bytes: int = 50_000_000

    # index
    ann_threshold: int = Field(50_000, description="above this many chunks the dense index becomes IVF (ANN)")

    # retrieval
    k_dense: int = 50
    k_sparse: int = 50
    rrf_k: int = 60
    expand_query: bool = Field(True, description="second search with the best passage appended (multi-hop recall)")
    expansion_keep: int = Field(5, description="first-search results that keep their rank when expanding")
    expansion_chars: int = 500
    top_k: int = 10
    reranker: RerankerName = "embedding"
    rerank_top_n: int = Field(20, description="how many fused candidates the reranker sees")

    # grounded answering
    evidence_k: int = Field(5, description="passages shown to the generator")
    follow_links: int = Field(
        2, ge=0, description="extra passages shown because the question or a top passage names their title "
        "(the bridge document of a multi-hop question); 0 turns it off")
    max_evidence_chars: int = Field(700, description="characters per passage shown to the generator")
    max_answer_sentences: int = 3
    max_sentence_chars: int = 240
    max_answer_tokens: int = 320
    abstain_threshold: float = Field(0.2, description="abstain before generation when best rerank score is below")
    out_of_scope_threshold: float = Field(
        0.25, ge=0.0, le=1.0, description="abstain before generation as out_of_scope when the question's own "
        "embedding similarity to every passage found is below this and no passage carries any of its names or "
        "numbers (see answer.grounded.out_of_scope); 0 turns the similarity test off (a search that finds no "
        "passage at all is still out_of_scope)")
    entailment_threshold: float = Field(0.5, description="min P(entailed) for a sentence to be emitted")
    verify: bool = True
    answer_check_threshold: float = Field(
        0.55, description="min P(the cited evidence answers the question with the short answer); 0 turns the "
        "check off. Each sentence can be supported while the answer is about something else")
    answer_prob_weight: float = Field(
        0.25, ge=0, description="the answer check's bar rises by this much per unit the generator's own "
        "probability for its short answer falls below answer_prob_center (and drops as it rises above); "
        "0 keeps the bar fixed. Both signals are noisy; together they rank right above wrong answers better "
        "than either (AUROC on 62 HotpotQA drafts: check 0.739, probability 0.672, both 0.765)")
    answer_prob_center: float = Field(
        0.85, ge=0, le=1, description="the generator probability at which the answer check's bar is "
        "answer_check_threshold itself")
    regenerate_unsupported: int = Field(1, ge=0, le=3)
    detect_conflicts: bool = True
    calculate_arithmetic: bool = Field(
        True, description="questions asking for a change, percentage, average or ratio: the model writes the "
        "expression over cited numbers and the calculator computes it")
    compare_yes_no: bool = Field(
        True, description="yes/no comparisons of two names (\"Are A and B both ...?\"): each is asked about on its "
        "own evidence and the answer follows by rule")
    compare_dates: bool = Field(
        True, description="date choices (\"Who is older, A or B?\", \"Which was founded first, A or B?\"): each "
        "thing's date is copied from its own evidence and verified, and the dates are compared by rule")
    conflict_max_docs: int = Field(4, description="documents asked for their own answer (one call each)")
    conflict_relevance_margin: float = Field(
        0.15, description="only documents whose relevance is within this of the best one are asked")
    conflict_name_margin: float = Field(
        0.2, description="documents whose subject carries every name of the question (a title that tells one of "
        "several subjects of that name apart, \"Holy Smoke (Peter Murphy album)\", or an untitled document's first "
        "words) are also asked, down to this far below the best by the question's own similarity (the reranked "
        "relevance puts the best passage far ahead: the two \"Holy Smoke\" albums scored 0.94 and 0.54); 0 turns "
        "it off")
    conflict_polar_margin: float = Field(
        0.4, description="the same for yes/no questions: the passage arguing the other side often scores well "
        "below the best (0.61-0.76 against 0.94-0.98 in four of the five ConflictQA questions among the first 20 "
        "that the 0.15 margin left unchecked), and a stance costs one prefill, no decoding")
    stance_center: float = Field(
        0.75, ge=0.0, le=1.0, description="a document's stance on a yes/no question is P(yes) from the stance "
        "prompt; the 1.5B model leans yes (on 150 ConflictQA documents, passages arguing no mostly scored 0.2-0.7, "
        "arguing yes 0.7-1.0), so yes starts above this point, not at 0.5")
    stance_margin: float = Field(
        0.05, ge=0.0, le=0.5, description="within this of stance_center a document takes no side (95% of the "
        "stances outside the band were right on those 150 documents)")
    max_question_chars: int = 2000
    confidence_weights: tuple[float, float, float, float] = Field(
        (0.09, -0.09, 0.63, 0.19),
        description="logistic weights: bias, relevance, support, agreement. Fitted with `python -m evals calibrate` "
        "on 47 grounded dev answers (HotpotQA, RAMDocs, ConflictQA slices): cross-validated ECE 0.17 (hand-set "
        "weights: 0.26); the signals separate right from wrong answers only weakly, so confidence stays near "
        "the base rate")

    # agent loops
    strategy: Strategy = "grounded"
    max_steps: int = Field(6, ge=1, le=50)
    max_reflections: int = Field(2, ge=0, le=10)

    def __init__(self, **values: Any):
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise SettingsError(_settings_problems(exc)) from exc

    @classmethod
    def preset_names(cls) -> list[str]:
        return sorted(PRESETS)

    @classmethod
    def from_preset(cls, name: str = "default", **overrides: Any) -> Settings:
        if name not in PRESETS:
            raise SettingsError(f"unknown preset {name!r}; choose one of {', '.join(sorted(PRESETS))}")
        values = dict(PRESETS[name])
        file = os.environ.get("AGENTKIT_SETTINGS_FILE")
        if file:
            values.update(_read_settings_file(Path(file)))
        values.update(overrides)
        values["preset"] = name
        # env vars beat preset and file values: drop those keys so pydantic-settings reads them from env
        for key in list(values):
            if f"AGENTKIT_{key.upper()}" in os.environ and key not in overrides:
                values.pop(key)
        return cls(**values)

    @classmethod
    def load(cls, path: str | Path, **overrides: Any) -> Settings:
        values = _read_settings_file(Path(path))
        preset = values.pop("preset", "default")
        values.update(overrides)
        return cls.from_preset(preset, **values)


def _settings_problems(exc: ValidationError) -> str:
    """One line per bad value, naming the environment variable when that is where it came from."""
    lines = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"])
        env = f"AGENTKIT_{key.upper()}"
        where = f" (from the environment variable {env})" if env in os.environ else ""
        got = "" if err["type"] == "missing" else f", got {err.get('input')!r}"
        lines.append(f"setting {key!r}{where}: {err['msg']}{got}")
    return "invalid settings: " + "; ".join(lines)


def _read_settings_file(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc}") from exc
    try:
        if path.suffix == ".json":
            data = json.loads(raw)
        else:
            data = tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SettingsError(f"settings file {path} is not valid {path.suffix or 'TOML'}: {exc}") from exc
    if not isinstance(data, dict):
        raise SettingsError(f"settings file {path} must hold a table/object")
    return data


PRESETS: dict[str, dict[str, Any]] = {
    # 0.5B generator, embedding rerank, no LLM verification: a few seconds per question
    "fast": {
        "generator": "qwen2.5-0.5b",
        "reranker": "embedding",
        "evidence_k": 4,
        "verify": False,
        "answer_check_threshold": 0.0,
        "detect_conflicts": False,
        # if conflicts are turned on: the 0.5B model's stance prompt does not lean yes (on 74 ConflictQA
        # passages 0.5 read 78% right, AUROC 0.84; at 0.75 every passage read as no)
        "stance_center": 0.5,
        "regenerate_unsupported": 0,
    },
    "default": {},
    # more evidence, LLM reranking, reflexion loop
    "quality": {
        "reranker": "llm",
        "evidence_k": 6,
        "rerank_top_n": 30,
        "strategy": "reflexion",
    },
}
