"""Abstention quality: does the system abstain exactly on the unanswerable questions? And the CRAG score,
which rewards a correct answer (+1), tolerates an abstention (0) and punishes a wrong answer (-1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

Outcome = Literal["correct", "abstain", "wrong"]
_CRAG_POINTS: dict[str, int] = {"correct": 1, "abstain": 0, "wrong": -1}


def abstention_scores(
    abstained: Sequence[bool], unanswerable: Sequence[bool]
) -> dict[str, float | int | None]:
    """Precision/recall/F1 of abstaining, treating "unanswerable" as the positive class.
    Precision is None when the system never abstained, recall and F1 None when every question was
    answerable; never abstaining despite unanswerable questions gives F1 0."""
    if len(abstained) != len(unanswerable):
        raise ValueError("abstained and unanswerable must have the same length")
    tp = sum(1 for a, u in zip(abstained, unanswerable, strict=True) if a and u)
    n_abstained, n_unanswerable = sum(map(bool, abstained)), sum(map(bool, unanswerable))
    precision = tp / n_abstained if n_abstained else None
    recall = tp / n_unanswerable if n_unanswerable else None
    if recall is None:
        f1 = None  # nothing to abstain on: abstention F1 is undefined
    elif precision is None or precision + recall == 0:
        f1 = 0.0  # unanswerable questions exist but none was abstained on
    else:
        f1 = 2 * precision * recall / (precision + recall)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "n_abstained": n_abstained,
        "n_unanswerable": n_unanswerable,
        "n": len(abstained),
    }


def crag_outcome(correct: bool, abstained: bool) -> Outcome:
    return "abstain" if abstained else ("correct" if correct else "wrong")


def crag_score(outcomes: Sequence[Outcome]) -> float | None:
    """Mean of +1 (correct) / 0 (abstain) / -1 (wrong); None for no outcomes."""
    if not outcomes:
        return None
    try:
        return sum(_CRAG_POINTS[o] for o in outcomes) / len(outcomes)
    except KeyError as exc:
        raise ValueError(f"unknown outcome {exc.args[0]!r}; use correct, abstain or wrong") from exc
