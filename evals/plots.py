"""Report figures (matplotlib, Agg backend: no display needed): per-strategy bars of the main metrics and a
reliability diagram (accuracy vs. confidence) per strategy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: headless CI machines have no display

import matplotlib.pyplot as plt

from evals.metrics import reliability_bins

MAIN_METRICS: tuple[str, ...] = (
    "answer_f1",
    "exact_match",
    "citation_precision",
    "citation_recall",
    "quote_verbatim_rate",
    "abstention_f1",
    "crag_score",
    "conflict_em",
    "numeric_accuracy",
    "auroc",
)


def plot_metrics(strategies: Mapping[str, Mapping[str, Any]], path: Path, title: str = "") -> None:
    """Grouped bars: one group per metric that some strategy has a value for, one bar per strategy."""
    metrics = [k for k in MAIN_METRICS if any(m.get(k) is not None for m in strategies.values())]
    names = list(strategies)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(metrics) + 2), 4.2))
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(metrics))]
        values = [strategies[name].get(k) for k in metrics]
        bars = ax.bar(xs, [v if v is not None else 0.0 for v in values], width, label=name)
        for bar, v in zip(bars, values, strict=True):
            if v is None:  # not applicable for this strategy: no bar, marked so it is not read as 0
                bar.set_alpha(0.0)
                ax.text(bar.get_x() + bar.get_width() / 2, 0.02, "n/a", ha="center", fontsize=7, rotation=90)
    ax.set_xticks(range(len(metrics)), metrics, rotation=30, ha="right")
    low = min([0.0] + [strategies[n].get(k) or 0.0 for n in names for k in metrics])
    ax.set_ylim(min(low, 0.0) - (0.05 if low < 0 else 0.0), 1.05)  # CRAG lies in [-1, 1]
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.set_ylabel("score")
    if title:
        ax.set_title(title)
    if names:
        ax.legend(fontsize=8)
    if not metrics:
        ax.text(0.5, 0.5, "no metric values", transform=ax.transAxes, ha="center")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_reliability(records: Sequence[Mapping[str, Any]], path: Path, title: str = "", n_bins: int = 10) -> None:
    """Per strategy: accuracy of the answers in each confidence bin against the bin's mean confidence, with
    the diagonal of perfect calibration and the share of answers per bin underneath."""
    names = list(dict.fromkeys(r["strategy"] for r in records))
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(5.5, 6.0), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect calibration")
    width = 1.0 / n_bins / max(1, len(names))
    for i, name in enumerate(names):
        mine = [r["metrics"] for r in records if r["strategy"] == name]
        bins = reliability_bins([float(m["confidence"]) for m in mine], [bool(m["correct"]) for m in mine], n_bins)
        used = [b for b in bins if b.count]
        ax.plot([b.mean_confidence for b in used], [b.accuracy for b in used], marker="o", label=f"{name} (n={len(mine)})")
        hist.bar([b.lo + (i + 0.5) * width for b in bins], [b.count / max(1, len(mine)) for b in bins], width, label=name)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=8, loc="upper left")
    if title:
        ax.set_title(title)
    hist.set_xlabel("confidence")
    hist.set_ylabel("share")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
