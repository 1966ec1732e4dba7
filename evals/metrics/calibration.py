"""Calibration of confidence against correctness: ECE with equal-width bins, rank-based AUROC, and the
per-bin data of a reliability diagram.

Bins are ``[lo, hi)`` over [0, 1] with the last bin closed, so a confidence of 1.0 lands in the top bin.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel
from scipy.stats import rankdata


class ReliabilityBin(BaseModel):
    lo: float
    hi: float
    count: int
    mean_confidence: float | None
    accuracy: float | None


def _arrays(confidences: Sequence[float], correct: Sequence[bool | float]) -> tuple[np.ndarray, np.ndarray]:
    conf = np.asarray(confidences, dtype=float)
    corr = np.asarray(correct, dtype=float)
    if conf.shape != corr.shape or conf.ndim != 1:
        raise ValueError("confidences and correct must be 1-D sequences of the same length")
    if conf.size and (conf.min() < 0.0 or conf.max() > 1.0):
        raise ValueError("confidences must lie in [0, 1]")
    return conf, corr


def reliability_bins(
    confidences: Sequence[float], correct: Sequence[bool | float], n_bins: int = 10
) -> list[ReliabilityBin]:
    if n_bins < 1:
        raise ValueError("n_bins must be >= 1")
    conf, corr = _arrays(confidences, correct)
    index = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    bins = []
    for b in range(n_bins):
        mask = index == b
        count = int(mask.sum())
        bins.append(
            ReliabilityBin(
                lo=b / n_bins,
                hi=(b + 1) / n_bins,
                count=count,
                mean_confidence=float(conf[mask].mean()) if count else None,
                accuracy=float(corr[mask].mean()) if count else None,
            )
        )
    return bins


def ece(confidences: Sequence[float], correct: Sequence[bool | float], n_bins: int = 10) -> float | None:
    """Expected calibration error: sum over bins of |bin| / N * |accuracy - mean confidence|."""
    bins = reliability_bins(confidences, correct, n_bins)
    total = sum(b.count for b in bins)
    if not total:
        return None
    return float(sum(b.count / total * abs(b.accuracy - b.mean_confidence) for b in bins if b.count))


def auroc(confidences: Sequence[float], correct: Sequence[bool | float]) -> float | None:
    """P(confidence of a correct answer > that of a wrong one), ties counted half (Mann-Whitney U with
    average ranks). None when all answers are correct or all wrong."""
    conf, corr = _arrays(confidences, correct)
    pos = corr > 0.5
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if not n_pos or not n_neg:
        return None
    ranks = rankdata(conf)  # average ranks for ties
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
