"""Cost summaries: latency percentiles and mean tokens / steps per question.

Percentiles use the nearest-rank method by default (the value at rank ceil(q/100 * N) of the sorted
sample, always an observed latency); ``method="linear"`` interpolates like numpy's default.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel

from agentkit.types import TraceStep


class CostRecord(BaseModel):
    seconds: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    steps: int = 0

    @classmethod
    def from_trace(cls, trace: Iterable[TraceStep], seconds: float | None = None) -> CostRecord:
        """Sum of a question's trace; ``seconds`` overrides the summed stage times (e.g. wall clock)."""
        steps = list(trace)
        return cls(
            seconds=seconds if seconds is not None else sum(s.seconds for s in steps),
            prompt_tokens=sum(s.prompt_tokens for s in steps),
            completion_tokens=sum(s.completion_tokens for s in steps),
            steps=len(steps),
        )


def percentile(
    values: Sequence[float], q: float, method: Literal["nearest_rank", "linear"] = "nearest_rank"
) -> float:
    if not values:
        raise ValueError("percentile of an empty sample")
    if not 0 <= q <= 100:
        raise ValueError("q must be in [0, 100]")
    ordered = sorted(values)
    if method == "linear":
        return float(np.percentile(ordered, q, method="linear"))
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[rank - 1])


def cost_summary(records: Sequence[CostRecord]) -> dict[str, float | int | None]:
    if not records:
        return {
            "n": 0,
            "latency_p50": None,
            "latency_p95": None,
            "latency_mean": None,
            "prompt_tokens_mean": None,
            "completion_tokens_mean": None,
            "tokens_mean": None,
            "steps_mean": None,
        }
    n = len(records)
    seconds = [r.seconds for r in records]
    return {
        "n": n,
        "latency_p50": percentile(seconds, 50),
        "latency_p95": percentile(seconds, 95),
        "latency_mean": sum(seconds) / n,
        "prompt_tokens_mean": sum(r.prompt_tokens for r in records) / n,
        "completion_tokens_mean": sum(r.completion_tokens for r in records) / n,
        "tokens_mean": sum(r.prompt_tokens + r.completion_tokens for r in records) / n,
        "steps_mean": sum(r.steps for r in records) / n,
    }
