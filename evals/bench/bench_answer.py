"""Latency of a single-hop cited answer, end to end, with where the time goes.

Builds (or reuses) an index of the four corpora, asks their single-hop questions through ``Agent.ask``
(grounded strategy), and reports p50/p95 of the total and of each stage: retrieve, rerank, evidence,
conflicts, prefill, decode, verify. It then re-runs only the final answer call on the same evidence with
a cold KV cache ("raw llama.cpp time for the final prompt alone") and reports total / raw.

    python -m evals.bench.bench_answer                         # default preset (1.5B), 12 questions
    python -m evals.bench.bench_answer --preset fast --limit 20 --json /tmp/ba.json

llama.cpp threads spin: any other load on the machine inflates every number here.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from agentkit import Agent, Corpus
from agentkit.answer.grounded import generate_draft
from agentkit.settings import Settings
from evals.metrics.cost import percentile

ROOT = Path(__file__).resolve().parents[2]
CORPORA = ("medicine", "law", "finance", "multihop")
STAGES = ("retrieve", "rerank", "evidence", "conflicts", "prefill", "decode", "verify")


def single_hop_questions(limit: int) -> list[str]:
    """Round-robin over the corpora so every domain is represented in the first few questions."""
    per_corpus = []
    for name in CORPORA:
        rows = [json.loads(line) for line in (ROOT / "corpora" / name / "questions.jsonl").read_text().splitlines()
                if line.strip()]
        per_corpus.append([r["question"] for r in rows if r.get("type") == "single_hop"])
    out: list[str] = []
    while len(out) < limit and any(per_corpus):
        for qs in per_corpus:
            if qs and len(out) < limit:
                out.append(qs.pop(0))
    return out


def build_index(index_dir: Path, settings: Settings) -> Corpus:
    """One index holding the four corpora (as ``make demo`` builds it); unchanged files are skipped."""
    for name in CORPORA:
        Corpus.build(ROOT / "corpora" / name / "docs", index_dir, corpus=name, settings=settings)
    return Corpus.open(index_dir, settings=settings)


def breakdown(trace) -> dict[str, float]:
    out = dict.fromkeys(STAGES, 0.0)
    for step in trace:
        if step.stage == "generate":
            prefill = step.detail.get("prefill_seconds") or 0.0
            out["prefill"] += prefill
            out["decode"] += step.detail.get("decode_seconds") or max(0.0, step.seconds - prefill)
        elif step.stage in out:
            out[step.stage] += step.seconds
    return out


def flush_kv_cache(generator) -> None:
    """Evaluate an unrelated prompt so the next call shares only the chat template's first tokens."""
    generator.chat([{"role": "user", "content": f"Unrelated {time.time_ns()}: say ok."}], max_tokens=1)


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (the eval reports' own), 0 for no values."""
    return percentile(values, q * 100) if values else 0.0


def run(settings: Settings, index_dir: Path, limit: int) -> dict:
    agent = Agent(corpora=[build_index(index_dir, settings)], settings=settings)
    generator = agent.components.generator
    agent.ask("What is the maximum daily dose of Veltrazine?")  # warm-up: model load, first-call costs
    rows = []
    for question in single_hop_questions(limit):
        t0 = time.perf_counter()
        state = agent.graph.invoke({"question": question, "strategy": "grounded"}, agent._config(None))
        total = time.perf_counter() - t0
        answer = state["answer"]
        row = {"question": question, "status": answer.status.value, "answer": answer.answer,
               "total": total, **breakdown(answer.trace),
               "prompt_tokens": sum(s.prompt_tokens for s in answer.trace),
               "completion_tokens": sum(s.completion_tokens for s in answer.trace)}
        if state.get("evidence") is not None and state["evidence"].sentences and state.get("draft") is not None:
            flush_kv_cache(generator)
            raw = generate_draft(generator, state["question"], state["evidence"], settings)
            row.update(raw_seconds=raw.seconds, raw_prompt_tokens=raw.prompt_tokens,
                       raw_completion_tokens=raw.completion_tokens, ratio=total / max(raw.seconds, 1e-9))
        rows.append(row)
        print(f"{total:6.2f} s  {answer.status.value:<10} {answer.answer[:40]!r:<42} {question[:60]}", flush=True)
    ratios = [r["ratio"] for r in rows if "ratio" in r]
    summary = {
        "model": settings.generator, "preset": settings.preset, "n_threads": settings.n_threads,
        "questions": len(rows), "loadavg_1m": round(os.getloadavg()[0], 2),
        "p50_total": round(pct([r["total"] for r in rows], 0.5), 2),
        "p95_total": round(pct([r["total"] for r in rows], 0.95), 2),
        "p50_stage": {s: round(pct([r[s] for r in rows], 0.5), 2) for s in STAGES},
        "mean_stage": {s: round(statistics.fmean(r[s] for r in rows), 2) for s in STAGES} if rows else {},
        "p50_raw_final_prompt": round(pct([r["raw_seconds"] for r in rows if "raw_seconds" in r], 0.5), 2),
        "p50_ratio_to_raw": round(pct(ratios, 0.5), 2),
        "p50_prompt_tokens": pct([r["prompt_tokens"] for r in rows], 0.5),
        "p50_completion_tokens": pct([r["completion_tokens"] for r in rows], 0.5),
        "answered": sum(r["status"] == "answered" for r in rows),
    }
    return {"summary": summary, "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--limit", type=int, default=12)
    ap.add_argument("--index", type=Path, default=ROOT / ".agentkit" / "bench-answer-index")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    settings = Settings.from_preset(args.preset)
    res = run(settings, args.index, args.limit)
    s = res["summary"]
    print(f"\n{s['model']} ({s['preset']}), {s['n_threads']} threads, {s['questions']} questions, "
          f"{s['answered']} answered, loadavg {s['loadavg_1m']}")
    print(f"p50 total {s['p50_total']} s   p95 {s['p95_total']} s   "
          f"tokens p50 {s['p50_prompt_tokens']} prompt / {s['p50_completion_tokens']} completion")
    print("p50 by stage: " + "  ".join(f"{k} {v}" for k, v in s["p50_stage"].items()))
    print("mean by stage: " + "  ".join(f"{k} {v}" for k, v in s["mean_stage"].items()))
    print(f"raw llama.cpp, final prompt alone (cold KV): p50 {s['p50_raw_final_prompt']} s; "
          f"total / raw p50 {s['p50_ratio_to_raw']}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
