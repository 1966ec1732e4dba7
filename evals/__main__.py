"""``python -m evals run SUITE ...`` and ``python -m evals smoke`` (also ``agentkit eval ...``).

    python -m evals run hotpotqa --limit 20 --strategy grounded naive --preset fast
    python -m evals run medicine --seed 1 --limit 10 --out evals/out/medicine
    python -m evals smoke
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.markup import escape

from agentkit.errors import AgentkitError
from evals.loaders import LOADERS, REPO_ROOT, default_path
from evals.report import METRIC_KEYS
from evals.runner import (
    RESULTS_FILE,
    STRATEGIES,
    RunConfig,
    corpus_names,
    default_command,
    run,
    stderr,
    suite_names,
)

DEFAULT_OUT = REPO_ROOT / "evals" / "out"
SMOKE_QUESTIONS = 2
SMOKE_FILES = ("report.json", "report.md", "metrics.png", "reliability.png", RESULTS_FILE)


def _strategies(values: list[str] | None) -> list[str]:
    """``--strategy grounded naive`` and ``--strategy grounded,naive`` both work; order kept, no repeats."""
    items = [s.strip() for v in values or ["grounded"] for s in v.split(",") if s.strip()]
    unknown = [s for s in items if s not in STRATEGIES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown strategy {', '.join(unknown)}; choose from {', '.join(STRATEGIES)}")
    return list(dict.fromkeys(items))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evals", description="Evaluate agentkit on a suite.")
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run one suite (a corpus of this repository or a benchmark)")
    r.add_argument("suite", help=f"one of: {', '.join(suite_names())}")
    r.add_argument("--data", type=Path, help="upstream benchmark file (default: the slice under ../shared/data)")
    r.add_argument("--strategy", action="extend", nargs="+", dest="strategies", metavar="S",
                   help=f"strategies to compare ({', '.join(STRATEGIES)}); default grounded")
    r.add_argument("--limit", type=int, help="number of questions (default: all)")
    r.add_argument("--seed", type=int, help="shuffle questions with this seed before --limit (default: file order)")
    r.add_argument("--out", type=Path, help="output folder (default: evals/out/SUITE)")
    r.add_argument("--preset", default="default", help="settings preset: fast, default, quality")
    r.add_argument("--faithfulness", type=int, default=0, metavar="N",
                   help="ragas faithfulness on the first N answered questions (slow: LLM-judged)")
    r.add_argument("--pool", type=int, metavar="N",
                   help="index the documents of the first N questions, not only the kept ones (pooled suites)")
    r.add_argument("--drop-gold", action="store_true",
                   help="remove the questions' gold documents from the index: measures abstention on missing evidence")
    r.add_argument("--counterfactual", action="store_true",
                   help="add two tampered copies of each question's answer-bearing gold document (answer swapped): "
                        "measures conflict reporting")
    r.add_argument("--type", action="extend", nargs="+", dest="types", metavar="T", default=[],
                   help="only questions of these types, e.g. arithmetic (TAT-QA) or bridge comparison (HotpotQA)")
    r.add_argument("--ids", action="extend", nargs="+", default=[], metavar="ID",
                   help="only these question ids (or @FILE, one id per line), over the index the other options give")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    s = sub.add_parser("smoke", help=f"{SMOKE_QUESTIONS} questions of every suite, fast preset, end to end")
    s.add_argument("--out", type=Path, default=DEFAULT_OUT / "smoke", help="output folder")
    s.add_argument("--limit", type=int, default=SMOKE_QUESTIONS, help="questions per suite")
    c = sub.add_parser("calibrate", help="fit the confidence weights on finished runs; report cross-validated ECE")
    c.add_argument("outs", nargs="+", type=Path, help="run folders (each with results.jsonl)")
    c.add_argument("--strategy", action="extend", nargs="+", dest="strategies", metavar="S",
                   help="only these strategies' answers (default: all)")
    c.add_argument("--folds", type=int, default=5)
    c.add_argument("--json", type=Path, help="also write the result here")
    return parser


def _calibrate(args: argparse.Namespace) -> int:
    from evals.calibrate import calibrate

    for out in args.outs:
        if not (out / RESULTS_FILE).is_file():
            raise ValueError(f"{out / RESULTS_FILE} does not exist")
    res = calibrate(args.outs, args.strategies, args.folds)
    print(json.dumps(res, indent=2))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    return 0


def _ids(values: Sequence[str]) -> list[str]:
    """Question ids from the command line; ``@FILE`` reads one id per line."""
    ids: list[str] = []
    for v in values:
        if v.startswith("@"):
            ids += [line.strip() for line in Path(v[1:]).read_text().splitlines() if line.strip()]
        else:
            ids += [x for x in v.split(",") if x]
    return list(dict.fromkeys(ids))


def _run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    if args.limit is not None and args.limit < 0:
        raise argparse.ArgumentTypeError("--limit must be >= 0")
    config = RunConfig(
        suite=args.suite, data=args.data, strategies=_strategies(args.strategies), limit=args.limit,
        seed=args.seed, out=args.out or DEFAULT_OUT / args.suite, preset=args.preset,
        faithfulness=max(0, args.faithfulness), command=default_command(argv), progress=not args.no_progress,
        pool=args.pool, drop_gold=args.drop_gold, types=args.types, counterfactual=args.counterfactual,
        ids=_ids(args.ids),
    )
    doc = run(config)
    for strategy, m in doc["strategies"].items():
        stderr.print(f"{strategy}: n={m['n']} errors={m['errors']} F1={_fmt(m['answer_f1'])} "
                     f"EM={_fmt(m['exact_match'])} citation_recall={_fmt(m['citation_recall'])} "
                     f"CRAG={_fmt(m['crag_score'])} p50={_fmt(m['latency_p50'])} s")
    print(config.out / "report.md")
    return 0


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def check_report(out: Path, strategies: Sequence[str], n: int) -> list[str]:
    """Problems with a finished run's outputs (empty list when it is complete)."""
    problems = [f"{name} missing" for name in SMOKE_FILES if not (out / name).is_file()]
    if problems:
        return problems
    doc = json.loads((out / "report.json").read_text())
    for key in ("suite", "date", "model", "preset", "machine", "command", "strategies"):
        if key not in doc:
            problems.append(f"report.json lacks {key!r}")
    for strategy in strategies:
        metrics = doc.get("strategies", {}).get(strategy)
        if metrics is None:
            problems.append(f"report.json has no strategy {strategy!r}")
            continue
        missing = [k for k in (*METRIC_KEYS, "by_type", "faithfulness") if k not in metrics]
        if missing:
            problems.append(f"{strategy}: metric keys missing: {', '.join(missing)}")
        if metrics.get("n") != n:
            problems.append(f"{strategy}: {metrics.get('n')} questions scored, expected {n}")
        if metrics.get("errors"):
            problems.append(f"{strategy}: {metrics['errors']} questions raised (see {out / RESULTS_FILE})")
    return problems


def smoke(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Every corpus and every benchmark whose data is present, a few questions each, in one process so the
    generator and embedder load once. Fresh answers every time: earlier results are discarded."""
    suites = corpus_names() + [b for b in sorted(LOADERS) if (p := default_path(b)) is not None and p.is_file()]
    skipped = [b for b in sorted(LOADERS) if b not in suites]
    if skipped:
        stderr.print(f"smoke: no data for {', '.join(skipped)}; skipped")
    failures: dict[str, list[str]] = {}
    t_all = time.perf_counter()
    for suite in suites:
        out = args.out / suite
        (out / RESULTS_FILE).unlink(missing_ok=True)
        t0 = time.perf_counter()
        config = RunConfig(suite=suite, strategies=["grounded"], limit=args.limit, out=out, preset="fast",
                           command=default_command(argv), progress=False)
        try:
            doc = run(config)
        except AgentkitError as exc:
            failures[suite] = [str(exc)]
            continue
        failures[suite] = check_report(out, ["grounded"], doc["n_questions"])
        m = doc["strategies"]["grounded"]
        stderr.print(f"smoke {suite}: {doc['n_questions']} questions in {time.perf_counter() - t0:.1f} s, "
                     f"F1={_fmt(m['answer_f1'])}, errors={m['errors']}"
                     + (f" [red]{escape('; '.join(failures[suite]))}[/]" if failures[suite] else " ok"))
    bad = {s: p for s, p in failures.items() if p}
    stderr.print(f"smoke: {len(suites) - len(bad)}/{len(suites)} suites ok in {time.perf_counter() - t_all:.0f} s")
    return 1 if bad or not suites else 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "smoke":
            return smoke(args, argv)
        if args.command == "calibrate":
            return _calibrate(args)
        return _run(args, argv)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    except (AgentkitError, ValueError) as exc:
        stderr.print(f"[bold red]error:[/] {escape(str(exc))}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
