"""Fit ``Settings.confidence_weights`` on finished eval runs, and report the ECE it gives on held-out folds.

The agent's confidence is a logistic function of three signals that every answer's JSON lets us recover:
the best passage's relevance (the rerank step), the mean entailment support of the emitted sentences, and
source agreement (the share of conflict candidates behind the answer; 0 for a conflict report). The fit is
an L2-regularised logistic regression of "correct" (answer F1 >= 0.5) on those signals, over answered
questions only: an abstention has no answer whose correctness the confidence could predict.

    python -m evals calibrate evals/out/hotpot-pooled evals/out/medicine --strategy grounded

Prints the fitted weights (paste them into a preset), and ECE/AUROC of the stored confidences against
those of the refitted ones under k-fold cross-validation (never scored on the questions they were fitted on).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evals.metrics.calibration import auroc, ece
from evals.runner import RESULTS_FILE


def signals(answer: dict[str, Any]) -> tuple[float, float, float] | None:
    """(relevance, support, agreement) of an answered or conflict Answer JSON; None for anything else."""
    if answer.get("status") not in ("answered", "conflict") or not answer.get("sentences"):
        return None
    relevance = 0.0
    for step in answer.get("trace", []):
        if step.get("stage") == "rerank" and step.get("detail", {}).get("best") is not None:
            relevance = float(step["detail"]["best"])  # the last rerank is the one the answer used
    supports = [float(s.get("support", 0.0)) for s in answer["sentences"]]
    if answer["status"] == "conflict":
        return relevance, min(supports), 0.0
    support = sum(supports) / len(supports)
    cands = answer.get("conflicts") or []
    agreement = max(c.get("support", 1) for c in cands) / (sum(c.get("support", 1) for c in cands) or 1) if cands else 1.0
    return relevance, support, agreement


def load_rows(outs: Iterable[Path], strategies: Sequence[str] | None) -> list[tuple[tuple[float, float, float], float, bool]]:
    """(signals, stored confidence, correct) for every answered question in the given run folders."""
    rows = []
    for out in outs:
        path = Path(out) / RESULTS_FILE
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            if strategies and rec.get("strategy") not in strategies:
                continue
            answer, metrics = rec.get("answer") or {}, rec.get("metrics") or {}
            sig = signals(answer)
            if sig is None or not metrics.get("answerable", True):
                continue
            rows.append((sig, float(answer.get("confidence", 0.0)), bool(metrics.get("correct"))))
    return rows


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 50) -> np.ndarray:
    """Logistic regression by Newton's method; returns (bias, w_relevance, w_support, w_agreement)."""
    xb = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(xb.shape[1])
    reg = l2 * np.eye(xb.shape[1])
    reg[0, 0] = 0.0  # the bias is not shrunk
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(xb @ w)))
        grad = xb.T @ (p - y) + reg @ w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + reg
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def predict(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(w[0] + x @ w[1:])))


def cross_validated(x: np.ndarray, y: np.ndarray, folds: int, seed: int = 0) -> np.ndarray:
    """Out-of-fold predictions: each question scored by weights fitted without it."""
    order = np.random.default_rng(seed).permutation(len(x))
    out = np.zeros(len(x))
    for k in range(folds):
        test = order[k::folds]
        train = np.setdiff1d(order, test)
        out[test] = predict(fit(x[train], y[train]), x[test])
    return out


def calibrate(outs: Sequence[Path], strategies: Sequence[str] | None = None, folds: int = 5) -> dict[str, Any]:
    rows = load_rows(outs, strategies)
    if len(rows) < 2 * folds or len({r[2] for r in rows}) < 2:
        raise ValueError(f"need at least {2 * folds} answered questions with both outcomes; got {len(rows)}")
    x = np.array([r[0] for r in rows], dtype=float)
    y = np.array([r[2] for r in rows], dtype=float)
    stored = [r[1] for r in rows]
    oof = cross_validated(x, y, folds)
    w = fit(x, y)
    return {
        "n": len(rows), "accuracy": float(y.mean()),
        "weights": [round(float(v), 3) for v in w],
        "stored": {"ece": ece(stored, y.tolist()), "auroc": auroc(stored, y.tolist())},
        "fitted_cross_validated": {"ece": ece(oof.tolist(), y.tolist()), "auroc": auroc(oof.tolist(), y.tolist())},
        "runs": [str(o) for o in outs], "strategies": list(strategies or []), "folds": folds,
    }
