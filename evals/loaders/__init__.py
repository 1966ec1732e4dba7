"""Benchmark loaders for the upstream file formats, plus the repository's own corpus questions.

``load_benchmark("hotpotqa", limit=20)`` reads the default slice under ``<repo>/../shared/data`` (override the
folder with ``EVALS_DATA_DIR``) or any full upstream file given as ``path``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from evals.loaders.conflictqa import load_conflictqa
from evals.loaders.corpus import load_corpus_questions
from evals.loaders.financebench import load_financebench
from evals.loaders.hotpotqa import load_hotpotqa
from evals.loaders.pubmedqa import load_pubmedqa
from evals.loaders.ramdocs import load_ramdocs
from evals.loaders.tatqa import load_tatqa
from evals.types import Benchmark, BenchmarkFormatError

REPO_ROOT = Path(__file__).resolve().parents[2]

# Every loader is ``(path, limit=None) -> Benchmark``; limit keeps the first N questions and their documents.
LOADERS: dict[str, Callable[..., Benchmark]] = {
    "hotpotqa": load_hotpotqa,
    "ramdocs": load_ramdocs,
    "pubmedqa": load_pubmedqa,
    "tatqa": load_tatqa,
    "conflictqa": load_conflictqa,
    "financebench": load_financebench,
}

DEFAULT_FILES: dict[str, str | None] = {
    "hotpotqa": "hotpotqa/hotpot_dev_distractor_first103.json",
    "ramdocs": "ramdocs/ramdocs_dev250.jsonl",
    "pubmedqa": "pubmedqa/pqal_dev500.json",
    "tatqa": "tatqa/tatqa_dataset_dev.json",
    "conflictqa": "conflictqa/conflictqa_strategyqa_gpt4_dev300.jsonl",
    "financebench": None,  # not shipped: pass the path of financebench_open_source.jsonl
}


def data_dir() -> Path:
    return Path(os.environ.get("EVALS_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))


def default_path(name: str) -> Path | None:
    rel = DEFAULT_FILES.get(name)
    return data_dir() / rel if rel else None


def load_benchmark(name: str, path: str | Path | None = None, limit: int | None = None) -> Benchmark:
    if name not in LOADERS:
        raise BenchmarkFormatError(name, f"unknown benchmark; choose one of {', '.join(sorted(LOADERS))}")
    if limit is not None and limit < 0:
        raise ValueError("limit must be >= 0")
    file = Path(path) if path is not None else default_path(name)
    if file is None:
        raise BenchmarkFormatError(name, "no default data file; pass path=<the upstream JSONL file>")
    if not file.is_file():
        raise BenchmarkFormatError(
            str(file), f"{name} data not found; pass path= to the upstream file or set EVALS_DATA_DIR"
        )
    return LOADERS[name](file, limit=limit)


__all__ = [
    "DEFAULT_FILES",
    "LOADERS",
    "data_dir",
    "default_path",
    "load_benchmark",
    "load_conflictqa",
    "load_corpus_questions",
    "load_financebench",
    "load_hotpotqa",
    "load_pubmedqa",
    "load_ramdocs",
    "load_tatqa",
]
