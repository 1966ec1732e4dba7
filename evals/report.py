"""Aggregate per-question records into per-strategy metrics, and write ``report.json`` / ``report.md``.

Every metric key is present for every strategy; a metric that does not apply to the suite (no conflicting
questions, no gold evidence, nothing cited...) is None, shown as "–" in the markdown table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evals.metrics import CostRecord, abstention_scores, auroc, cost_summary, crag_score, ece

METRIC_KEYS: tuple[str, ...] = (
    "n",
    "errors",
    "answer_f1",
    "exact_match",
    "numeric_accuracy",
    "numeric_value_accuracy",
    "citation_precision",
    "citation_recall",
    "supporting_fact_f1",
    "quote_verbatim_rate",
    "abstain_rate",
    "abstention_precision",
    "abstention_recall",
    "abstention_f1",
    "false_abstention_rate",
    "crag_score",
    "conflict_em",
    "misinformation_sole_rate",
    "conflict_flag_rate",
    "conflict_handled_rate",
    "conflict_both_cited_rate",
    "ece",
    "auroc",
    "latency_p50",
    "latency_p95",
    "prompt_tokens_mean",
    "completion_tokens_mean",
    "steps_mean",
)
TYPE_KEYS: tuple[str, ...] = (
    "n", "errors", "answer_f1", "exact_match", "numeric_accuracy", "citation_recall", "abstain_rate",
    "crag_score", "conflict_em",
)
# Rows of report.md, in this order; "faithfulness" is added by the runner after aggregation.
TABLE_KEYS: tuple[str, ...] = METRIC_KEYS + ("faithfulness",)


def _mean(values: Sequence[float | None]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _metrics(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [r["metrics"] for r in records]


def summarize(records: Sequence[Mapping[str, Any]], keys: Sequence[str] = METRIC_KEYS) -> dict[str, Any]:
    """Metrics over one strategy's records (see ``evals.runner.score_question`` for the per-question ones).

    Errors count as wrong answers (F1 0, CRAG -1, not an abstention, confidence 0) but have no cost:
    latency and token means are over the questions that returned an answer."""
    ms = _metrics(records)
    n = len(ms)
    abst = abstention_scores([m["abstained"] for m in ms], [not m["answerable"] for m in ms]) if ms else {}
    answerable = [m for m in ms if m["answerable"]]
    n_cited = sum(m["n_citations"] for m in ms if m["quote_verbatim"] is not None)
    verbatim = sum(m["quote_verbatim"] * m["n_citations"] for m in ms if m["quote_verbatim"] is not None)
    costs = [
        CostRecord(seconds=r["seconds"], prompt_tokens=r["metrics"]["prompt_tokens"],
                   completion_tokens=r["metrics"]["completion_tokens"], steps=r["metrics"]["steps"])
        for r in records if not r.get("error")
    ]
    cost = cost_summary(costs)
    confidences = [float(m["confidence"]) for m in ms]
    correct = [bool(m["correct"]) for m in ms]
    full = {
        "n": n,
        "errors": sum(1 for r in records if r.get("error")),
        "answer_f1": _mean([m["f1"] for m in ms]),
        "exact_match": _mean([m["em"] for m in ms]),
        "numeric_accuracy": _mean([m["numeric"] for m in ms]),
        "numeric_value_accuracy": _mean([m["numeric_value"] for m in ms]),
        "citation_precision": _mean([m["citation_precision"] for m in ms]),
        "citation_recall": _mean([m["citation_recall"] for m in ms]),
        "supporting_fact_f1": _mean([m["sp_f1"] for m in ms]),
        # micro average: every citation counts once, whichever answer it belongs to
        "quote_verbatim_rate": verbatim / n_cited if n_cited else None,
        "abstain_rate": _mean([float(m["abstained"]) for m in ms]),
        "abstention_precision": abst.get("precision"),
        "abstention_recall": abst.get("recall"),
        "abstention_f1": abst.get("f1"),
        "false_abstention_rate": _mean([float(m["abstained"]) for m in answerable]) if answerable else None,
        "crag_score": crag_score([m["crag"] for m in ms]),
        "conflict_em": _mean([m["conflict_em"] for m in ms]),
        "misinformation_sole_rate": _mean([m["misinformation_sole"] for m in ms]),
        "conflict_flag_rate": _mean([m["conflict_flag"] for m in ms]),
        "conflict_handled_rate": _mean([m.get("conflict_handled") for m in ms]),
        "conflict_both_cited_rate": _mean([m.get("conflict_both_cited") for m in ms]),
        "ece": ece(confidences, correct) if ms else None,
        "auroc": auroc(confidences, correct) if ms else None,
        "latency_p50": cost["latency_p50"],
        "latency_p95": cost["latency_p95"],
        "prompt_tokens_mean": cost["prompt_tokens_mean"],
        "completion_tokens_mean": cost["completion_tokens_mean"],
        "steps_mean": cost["steps_mean"],
    }
    return {k: full[k] for k in keys}


def aggregate(records: Sequence[Mapping[str, Any]], strategies: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``{strategy: {metric: value, ..., "by_type": {question type: {metric: value}}}}``."""
    out: dict[str, dict[str, Any]] = {}
    for strategy in strategies:
        mine = [r for r in records if r["strategy"] == strategy]
        metrics = summarize(mine)
        types = sorted({r["type"] for r in mine})
        metrics["by_type"] = {t: summarize([r for r in mine if r["type"] == t], TYPE_KEYS) for t in types}
        out[strategy] = metrics
    return out


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def render_markdown(doc: Mapping[str, Any]) -> str:
    strategies: Mapping[str, Mapping[str, Any]] = doc["strategies"]
    names = list(strategies)
    machine = doc.get("machine") or {}
    lines = [
        f"# {doc['suite']} — evaluation report",
        "",
        "```",
        doc.get("command", ""),
        "```",
        "",
        (
            f"{doc.get('date', '')} · model `{doc.get('model')}` · preset `{doc.get('preset')}` · "
            f"{doc.get('n_questions', '?')} questions, {doc.get('n_documents', '?')} documents · "
            f"{machine.get('cpu_count', '?')} CPUs, {machine.get('platform', '?')}"
        ),
        "",
    ]
    rows = [[k, *(_cell(strategies[s].get(k)) for s in names)] for k in TABLE_KEYS]
    lines += _table(["metric", *names], rows)
    notes = {s: m["faithfulness_note"] for s, m in strategies.items() if m.get("faithfulness_note")}
    if notes:
        lines += ["", *(f"- faithfulness ({s}): {note}" for s, note in notes.items())]
    types = sorted({t for m in strategies.values() for t in m.get("by_type", {})})
    if types:
        lines += ["", "## By question type", ""]
        header = ["type", "n"] + [f"{s} {k}" for s in names for k in ("F1", "EM", "CRAG")]
        rows = []
        for t in types:
            first = next(m["by_type"][t] for m in strategies.values() if t in m.get("by_type", {}))
            row = [t, _cell(first["n"])]
            for s in names:
                sub = strategies[s].get("by_type", {}).get(t, {})
                row += [_cell(sub.get("answer_f1")), _cell(sub.get("exact_match")), _cell(sub.get("crag_score"))]
            rows.append(row)
        lines += _table(header, rows)
        if any(m.get("by_type", {}).get(t, {}).get("numeric_accuracy") is not None
               for m in strategies.values() for t in types):
            lines += ["", "Numeric accuracy (value within 1e-2 relative and right scale word):", ""]
            rows = [[t, *(_cell(strategies[s].get("by_type", {}).get(t, {}).get("numeric_accuracy"))
                          for s in names)] for t in types]
            lines += _table(["type", *names], rows)
    lines += ["", "![metrics](metrics.png)", "", "![reliability](reliability.png)", ""]
    return "\n".join(lines)


def write_report(doc: Mapping[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "report.md").write_text(render_markdown(doc), encoding="utf-8")
