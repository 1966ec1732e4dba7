"""Retrieval acceptance benchmark on HotpotQA (distractor dev slice), through the real CLI.

Every context paragraph of every question is pooled into one corpus (one ``.md`` file per paragraph:
``# Title``, blank line, ``"".join(sentences)``), ingested with ``agentkit ingest`` and searched with
``agentkit search --queries Q.jsonl --json -k 10`` (plain, ``--rerank``, and dense-only / BM25-only via
``AGENTKIT_K_SPARSE=0`` / ``AGENTKIT_K_DENSE=0``, which leave RRF a single ranking).

A question counts as recalled when BOTH supporting paragraphs (by title) are among the distinct documents
of the top-10 results; "any" counts at least one; MRR uses the distinct-document rank of the first one.

    python -m evals.bench.bench_retrieval_hotpot --out /tmp/hotpot_retrieval.json
    python -m evals.bench.bench_retrieval_hotpot --modes hybrid --keep /tmp/hotpot_work
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from evals.loaders.hotpotqa import load_hotpotqa

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "hotpotqa" / "hotpot_dev_distractor_first103.json"

# mode -> (extra CLI args, extra environment): Settings reads AGENTKIT_* variables, so single-retriever
# runs go through exactly the same CLI and fusion code with the other retriever switched off.
MODES: dict[str, tuple[list[str], dict[str, str]]] = {
    "hybrid": ([], {}),
    "rerank": (["--rerank"], {}),
    "dense": ([], {"AGENTKIT_K_SPARSE": "0"}),
    "bm25": ([], {"AGENTKIT_K_DENSE": "0"}),
}


def agentkit_cmd() -> list[str]:
    """The installed console script next to this interpreter, else the module."""
    script = Path(sys.executable).with_name("agentkit")
    return [str(script)] if script.exists() else [sys.executable, "-m", "agentkit.cli"]


def write_corpus(data: Path, out_dir: Path, limit: int | None) -> tuple[dict[str, str], list[dict]]:
    """Write one markdown file per pooled paragraph; return (file stem -> title, questions with gold titles)."""
    bench = load_hotpotqa(data, limit=limit)
    out_dir.mkdir(parents=True, exist_ok=True)
    title_of: dict[str, str] = {}
    for doc in bench.documents:
        (out_dir / f"{doc.id}.md").write_text(f"# {doc.title}\n\n{doc.text}\n", encoding="utf-8")
        title_of[doc.id] = doc.title
    questions = []
    for q in bench.questions:
        gold = sorted({title_of[doc_id] for doc_id, _ in q.metadata["supporting_facts"]})
        questions.append({"id": q.id, "question": q.question, "type": q.type, "level": q.metadata.get("level"),
                          "gold_titles": gold})
    return title_of, questions


def run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[str, float]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env={**os.environ, **(env or {})},
                          cwd=REPO_ROOT)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return proc.stdout, seconds


def parse_search_output(stdout: str, n_queries: int) -> list[list[dict]]:
    rows = []
    for line in stdout.splitlines():
        line = line.strip()
        if line:
            rows.append(json.loads(line)["results"])
    if len(rows) != n_queries:
        raise SystemExit(f"search printed {len(rows)} result lines for {n_queries} queries")
    return rows


def ranked_titles(results: list[dict], title_of: dict[str, str]) -> list[str]:
    """Distinct paragraph titles in result order; a result maps back through its source file name."""
    seen: list[str] = []
    for r in results:
        stem = Path(r["source"]).stem
        title = title_of.get(stem) or title_of.get(r["doc_id"]) or r["title"]
        if title not in seen:
            seen.append(title)
    return seen


def score(questions: list[dict], results: list[list[dict]], title_of: dict[str, str], k: int) -> dict:
    per_q = []
    for q, res in zip(questions, results, strict=True):
        titles = ranked_titles(res[:k], title_of)
        gold = set(q["gold_titles"])
        ranks = [i for i, t in enumerate(titles, 1) if t in gold]
        per_q.append({"id": q["id"], "type": q["type"], "gold": q["gold_titles"], "found_ranks": ranks,
                      "both": gold <= set(titles), "any": bool(ranks), "rr": 1.0 / ranks[0] if ranks else 0.0,
                      "top": titles[:k]})
    n = len(per_q)
    summary = {
        "n_questions": n,
        f"recall_both@{k}": sum(p["both"] for p in per_q) / n,
        f"recall_any@{k}": sum(p["any"] for p in per_q) / n,
        "mrr": sum(p["rr"] for p in per_q) / n,
        # both gold paragraphs within the first 2 / 5 distinct documents: what a 5-passage prompt sees
        "recall_both@2": sum(set(p["gold"]) <= set(p["top"][:2]) for p in per_q) / n,
        "recall_both@5": sum(set(p["gold"]) <= set(p["top"][:5]) for p in per_q) / n,
        "by_type": {},
    }
    for t in sorted({p["type"] for p in per_q}):
        sub = [p for p in per_q if p["type"] == t]
        summary["by_type"][t] = {"n": len(sub), f"recall_both@{k}": sum(p["both"] for p in sub) / len(sub)}
    return {"summary": summary, "per_question": per_q}


def failure_report(questions: list[dict], per_q: list[dict], title_of: dict[str, str]) -> list[dict]:
    """For each missed question: which gold title was missed and whether it is named in the question."""
    out = []
    for q, p in zip(questions, per_q, strict=True):
        if p["both"]:
            continue
        missed = [t for t in p["gold"] if t not in p["top"]]
        out.append({"question": q["question"], "type": q["type"], "missed": missed,
                    "missed_title_in_question": [t.lower() in q["question"].lower() for t in missed],
                    "top5": p["top"][:5]})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--limit", type=int, default=None, help="first N questions (and their paragraphs)")
    ap.add_argument("--out", type=Path, default=None, help="JSON summary (with per-question details)")
    ap.add_argument("--keep", type=Path, default=None, help="work dir to keep (corpus, index, raw outputs)")
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--modes", default="hybrid,rerank,dense,bm25", help=f"comma list of {', '.join(MODES)}")
    ap.add_argument("--preset", default="default")
    args = ap.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        ap.error(f"unknown mode(s) {unknown}; choose from {list(MODES)}")
    if not args.data.is_file():
        ap.error(f"data file {args.data} not found (see ../shared/data/README.md)")

    work = args.keep or Path(tempfile.mkdtemp(prefix="hotpot_bench_"))
    if args.keep and work.exists():
        shutil.rmtree(work)
    docs_dir, index_dir = work / "paragraphs", work / "index"
    title_of, questions = write_corpus(args.data, docs_dir, args.limit)
    qfile = work / "queries.jsonl"
    qfile.write_text("".join(json.dumps({"question": q["question"]}) + "\n" for q in questions), encoding="utf-8")
    print(f"{len(title_of)} paragraphs, {len(questions)} questions -> {work}", file=sys.stderr)

    cli = agentkit_cmd()
    env = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    stdout, ingest_s = run([*cli, "ingest", str(docs_dir), "--index", str(index_dir), "--corpus", "hotpotqa",
                            "--preset", args.preset, "--json"], env)
    ingest = json.loads(stdout)
    errors = [f for f in ingest["files"] if f["status"] == "error"]
    print(f"ingest: {ingest['n_chunks']} chunks in {ingest_s:.1f} s (wall, incl. start-up); "
          f"{len(errors)} file errors", file=sys.stderr)

    result: dict = {
        "data": str(args.data), "n_paragraphs": len(title_of), "n_questions": len(questions), "k": args.k,
        "ingest": {"n_chunks": ingest["n_chunks"], "wall_s": round(ingest_s, 2), "file_errors": len(errors)},
        "loadavg_1m_start": round(os.getloadavg()[0], 2), "modes": {},
    }
    for mode in modes:
        extra, extra_env = MODES[mode]
        stdout, search_s = run([*cli, "search", "--queries", str(qfile), "--index", str(index_dir), "--json",
                                "-k", str(args.k), "--preset", args.preset, *extra], {**env, **extra_env})
        (work / f"search_{mode}.jsonl").write_text(stdout, encoding="utf-8")
        scored = score(questions, parse_search_output(stdout, len(questions)), title_of, args.k)
        s = scored["summary"]
        s["wall_s"] = round(search_s, 2)
        s["failures"] = failure_report(questions, scored["per_question"], title_of)
        result["modes"][mode] = s
        print(f"{mode:7s} recall_both@{args.k}={s[f'recall_both@{args.k}']:.3f} "
              f"recall_any@{args.k}={s[f'recall_any@{args.k}']:.3f} mrr={s['mrr']:.3f} "
              f"both@5={s['recall_both@5']:.3f} ({search_s:.1f} s for {len(questions)} queries, wall) "
              f"by type: {json.dumps(s['by_type'])}")
    result["loadavg_1m_end"] = round(os.getloadavg()[0], 2)
    missed = Counter(t for m in result["modes"].values() for f in m["failures"] for t in [f["type"]])
    result["missed_by_type_all_modes"] = dict(missed)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
