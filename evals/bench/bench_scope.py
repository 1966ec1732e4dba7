"""The out-of-scope gate: which questions the allowed corpora are not about at all.

Builds (or reuses) an index of the four corpora, runs the agent's own retrieve and rerank stages (no language
model) for every question of the corpora (in scope: answerable, and unanswerable ones whose topic the corpora
cover) and for other benchmarks' questions asked of the same corpora (out of scope: HotpotQA, PubMedQA,
TAT-QA, read by path from ``../shared/data``), and reports per group:

* the question's own similarity to the passages found (the largest ``dense`` score), the signal
  ``answer.grounded.out_of_scope`` uses, and the reranker's score that ``abstain_threshold`` uses (the best
  passage compared with a query that holds its own text, so it stays high even off topic);
* how often the gate fires at ``--thresholds`` (similarity below the threshold and no passage carrying any of
  the question's names), i.e. abstains as ``out_of_scope`` without calling the generator.

    python -m evals.bench.bench_scope --json /tmp/scope.json [--limit 100] [--thresholds 0.2,0.25,0.3]
        [--ask 12]   # also answer the first 12 gated HotpotQA questions with Agent.ask (the 1.5B model)

A gate firing on an in-scope question is a false abstention; the threshold must sit below all of them.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from pathlib import Path

from agentkit import Agent, Corpus
from agentkit.answer.grounded import out_of_scope, question_similarity, relevance
from agentkit.graph.builder import GraphBuilder
from agentkit.graph.components import Components
from agentkit.settings import Settings
from evals.bench.bench_answer import CORPORA, ROOT, build_index
from evals.loaders import load_benchmark
from evals.metrics.cost import percentile

OTHER_BENCHMARKS = ("hotpotqa", "pubmedqa", "tatqa")


def in_scope_questions() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {"in scope: answerable": [], "in scope: unanswerable": []}
    for name in CORPORA:
        for line in (ROOT / "corpora" / name / "questions.jsonl").read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                key = "in scope: unanswerable" if row.get("type") == "unanswerable" else "in scope: answerable"
                groups[key].append(row["question"])
    return groups


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=ROOT / ".agentkit" / "bench-answer-index")
    ap.add_argument("--limit", type=int, default=100, help="questions per other benchmark")
    ap.add_argument("--thresholds", default="0.15,0.2,0.25,0.3,0.35")
    ap.add_argument("--ask", type=int, default=0, help="answer this many gated HotpotQA questions with Agent.ask")
    ap.add_argument("--json", type=Path, help="write the summary and every question's scores here")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    settings = Settings.from_preset("default")
    corpus: Corpus = build_index(args.index, settings)
    stages = GraphBuilder(Components(settings, [corpus]))

    def ranked_for(question: str):
        state = {"question": question, "strategy": "grounded", "filters": None}
        for node in (stages.start, stages.retrieve, stages.rerank):
            state.update(node(state))
        return state.get("ranked") or []

    groups = in_scope_questions()
    for name in OTHER_BENCHMARKS:
        bench = load_benchmark(name, limit=args.limit)
        groups[f"out of scope: {name}"] = [q.question for q in bench.questions]

    thresholds = [float(t) for t in args.thresholds.split(",")]
    summary, rows = {}, []
    for group, questions in groups.items():
        sims, reranked, fired = [], [], {t: 0 for t in thresholds}
        for q in questions:
            ranked = ranked_for(q)
            sim = question_similarity(ranked)
            sims.append(sim)
            reranked.append(relevance(ranked[0]) if ranked else 0.0)
            for t in thresholds:
                fired[t] += out_of_scope(q, ranked, t)
            rows.append({"group": group, "question": q, "similarity": round(sim, 4),
                         "rerank": round(reranked[-1], 4),
                         "gated": out_of_scope(q, ranked, settings.out_of_scope_threshold)})
        summary[group] = {
            "n": len(questions),
            "similarity": {"min": round(min(sims), 3), "p5": round(percentile(sims, 5), 3),
                           "p50": round(percentile(sims, 50), 3), "max": round(max(sims), 3)},
            "rerank": {"min": round(min(reranked), 3), "p50": round(percentile(reranked, 50), 3)},
            "out_of_scope_at": {str(t): round(fired[t] / len(questions), 3) for t in thresholds},
        }
        s = summary[group]
        print(f"{group:32s} n={s['n']:3d}  similarity min {s['similarity']['min']:.3f} "
              f"p50 {s['similarity']['p50']:.3f}  rerank min {s['rerank']['min']:.3f}  out_of_scope at "
              + " ".join(f"{t}: {v:.2f}" for t, v in s["out_of_scope_at"].items()), flush=True)
    asked = []
    if args.ask:
        # what a user sees for them: the reason, and no model call (the time)
        agent = Agent([corpus], settings)
        gated = [r["question"] for r in rows if r["group"] == "out of scope: hotpotqa" and r["gated"]]
        for q in gated[: args.ask]:
            t0 = time.perf_counter()
            ans = agent.ask(q)
            asked.append({"question": q, "status": ans.status.value, "reason": ans.abstain_reason,
                          "seconds": round(time.perf_counter() - t0, 2)})
        reasons = Counter(a["reason"] or a["status"] for a in asked)
        print(f"Agent.ask on {len(asked)} gated HotpotQA questions: {dict(reasons)}, "
              f"p50 {percentile([a['seconds'] for a in asked], 50):.1f} s")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "asked": asked, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
