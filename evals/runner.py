"""Run a suite end to end: load questions and documents, build (or reuse) the index, ask every question with
every strategy, score each answer on its own, append one JSON line per (question, strategy), and write the
report and plots.

    run(RunConfig(suite="hotpotqa", limit=20, out=Path("evals/out/hotpotqa")))

Resumable: ``OUT/results.jsonl`` is the source of truth; a rerun skips (id, strategy) pairs already in it.
The answer function is injectable (``answer_fn(question, strategy) -> Answer``) so the loop, scoring and
report are testable without models; in production it wraps ``Agent.ask``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import random
import re
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from pydantic import BaseModel, Field
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agentkit.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError, IngestError
from agentkit.settings import Settings, Strategy
from agentkit.types import Answer, AnswerStatus, Document
from evals.loaders import LOADERS, REPO_ROOT, load_benchmark, load_corpus_questions
from evals.loaders.counterfactual import with_counterfactuals
from evals.metrics import (
    answer_scores,
    both_sides_cited,
    citation_doc_precision,
    citation_doc_recall,
    cited_sentences,
    conflict_handled,
    crag_outcome,
    misinformation_as_sole_answer,
    quote_verbatim_rate,
    ramdocs_exact_match,
    supporting_fact_scores,
)
from evals.types import Benchmark, BenchmarkFormatError, Question

if TYPE_CHECKING:
    from agentkit.corpus import Corpus

STRATEGIES: tuple[str, ...] = get_args(Strategy)
CORPORA_DIR = REPO_ROOT / "corpora"
# Benchmarks whose questions each come with their own small document pool (RAMDocs' per-question documents,
# ConflictQA's two passages, a TAT-QA report, a PubMed abstract): each question searches only its pool.
# HotpotQA, FinanceBench and the repository's corpora search the pooled index, as a user's agent would.
PER_QUESTION_POOL = frozenset({"ramdocs", "conflictqa", "tatqa", "pubmedqa"})
RESULTS_FILE = "results.jsonl"
INDEX_HASH_FILE = "index_documents.json"
FAITHFULNESS_FILE = "faithfulness.jsonl"

AnswerFn = Callable[[Question, str], Answer]
FaithfulnessFn = Callable[[Question, Answer], float]

stderr = Console(stderr=True)


class RunConfig(BaseModel):
    suite: str
    data: Path | None = Field(None, description="upstream benchmark file (or corpus questions.jsonl)")
    strategies: list[str] = Field(default_factory=lambda: ["grounded"])
    limit: int | None = Field(None, ge=0)
    seed: int | None = Field(None, description="shuffle questions with this seed before limiting")
    out: Path
    preset: str = "default"
    faithfulness: int = Field(0, ge=0, description="ragas faithfulness on the first N answered questions")
    pool: int | None = Field(None, ge=1, description="index the documents of the first N questions (pooled suites)")
    drop_gold: bool = Field(False, description="remove the questions' gold documents: every answer should abstain")
    types: list[str] = Field(default_factory=list, description="only questions of these types (before --limit)")
    counterfactual: bool = Field(False, description="add two answer-swapped copies of each answer-bearing gold document")
    ids: list[str] = Field(default_factory=list, description="only these question ids, over the same index (after --pool)")
    command: str = ""
    progress: bool = True


# ---------------------------------------------------------------------------------------------- suites


def corpus_names() -> list[str]:
    if not CORPORA_DIR.is_dir():
        return []
    return sorted(p.name for p in CORPORA_DIR.iterdir() if (p / "docs").is_dir() and (p / "questions.jsonl").is_file())


def suite_names() -> list[str]:
    return corpus_names() + sorted(LOADERS)


def load_corpus_suite(name: str, questions_path: Path | None = None) -> Benchmark:
    """A repository corpus as a Benchmark: its documents exactly as ``Corpus.build`` would ingest them."""
    from agentkit.ingest import load_paths

    result = load_paths(CORPORA_DIR / name / "docs", corpus=name)
    failed = [f"{r.path} ({r.reason})" for r in result.report if r.status == "error"]
    if failed:
        raise IngestError(str(CORPORA_DIR / name / "docs"), "cannot ingest " + "; ".join(failed))
    questions = load_corpus_questions(questions_path or CORPORA_DIR / name / "questions.jsonl")
    return Benchmark(name=name, documents=result.documents, questions=questions)


def load_suite(suite: str, data: Path | None = None, limit: int | None = None, seed: int | None = None,
               pool: int | None = None, drop_gold: bool = False, types: Sequence[str] = (),
               counterfactual: bool = False, ids: Sequence[str] = ()) -> Benchmark:
    """Questions and documents of a suite; with ``seed`` the questions are shuffled before limiting, and the
    documents are cut down to the kept questions' pools (``Benchmark.limit``).

    ``pool``: the index holds the documents of the first ``pool`` questions (at least the kept ones), so a
    few HotpotQA questions are asked over ~1000 pooled paragraphs. ``drop_gold``: the kept questions' gold
    documents leave the index and the questions become unanswerable (the missing-evidence abstention test).
    ``counterfactual``: each kept question's answer-bearing gold document gets two answer-swapped copies
    (``evals.loaders.counterfactual``); questions without one are dropped. ``ids``: only these questions,
    over the index the other options give (rerun a few questions of a pooled run on the same ~1000
    paragraphs); an id not in the suite is an error.
    """
    if suite in corpus_names():
        bench = load_corpus_suite(suite, data)
    elif suite in LOADERS:
        # Without a seed the loader's own limit reads just the file's head (fast on the full upstream files).
        head = None if seed is not None or limit is None or types else max(limit, pool or 0)
        bench = load_benchmark(suite, data, limit=head)
    else:
        raise BenchmarkFormatError(suite, f"unknown suite; choose one of {', '.join(suite_names())}")
    if seed is not None:
        questions = list(bench.questions)
        random.Random(seed).shuffle(questions)
        bench = Benchmark(name=bench.name, documents=bench.documents, questions=questions)
    if types:
        bench = Benchmark(name=bench.name, documents=bench.documents,
                          questions=[q for q in bench.questions if q.type in set(types)])
    kept = bench.limit(limit)
    if pool is not None and pool > len(kept.questions):
        pooled = bench.limit(pool)
        have = {d.id for d in kept.documents}
        kept = Benchmark(name=bench.name, questions=kept.questions,
                         documents=kept.documents + [d for d in pooled.documents if d.id not in have])
    if ids:
        wanted = set(ids)
        missing = sorted(wanted - {q.id for q in kept.questions})
        if missing:
            raise BenchmarkFormatError(suite, f"no question with id {', '.join(missing)} among the selected questions")
        kept = Benchmark(name=kept.name, documents=kept.documents,
                         questions=[q for q in kept.questions if q.id in wanted])
    if drop_gold:
        kept = without_gold(kept)
    if counterfactual:
        kept = with_counterfactuals(kept)
    return kept


def without_gold(bench: Benchmark) -> Benchmark:
    """The benchmark minus every question's gold documents; its questions become unanswerable (their
    original answers stay in ``metadata["answers_with_gold"]``). Questions without gold evidence are dropped."""
    questions = [q for q in bench.questions if q.evidence and q.answerable]
    gold = {e.doc_id for q in questions for e in q.evidence}
    return Benchmark(
        name=bench.name,
        documents=[d for d in bench.documents if d.id not in gold],
        questions=[q.model_copy(update={"answers": [], "type": "unanswerable", "evidence": [], "doc_ids": [
            d for d in q.doc_ids if d not in gold], "metadata": {**q.metadata, "answers_with_gold": q.answers,
                                                                 "supporting_facts": None}})
                   for q in questions],
    )


# ---------------------------------------------------------------------------------------------- index


def document_set_hash(documents: Iterable[Document], settings: Settings) -> str:
    """Identity of an index's content: document ids and text hashes, plus what shapes the vectors."""
    h = hashlib.sha256(f"{settings.embedder}\0{settings.chunk_size}\0{settings.chunk_overlap}\n".encode())
    for doc_id, sha in sorted((d.id, d.sha256) for d in documents):
        h.update(f"{doc_id}\0{sha}\n".encode())
    return h.hexdigest()


def ensure_index(bench: Benchmark, out: Path, settings: Settings, embedder: Any | None = None) -> Corpus:
    """``OUT/index`` over the benchmark's documents: opened as is when its recorded document set matches,
    otherwise synced (stale documents deleted, new ones added; unchanged chunks keep their vectors)."""
    from agentkit.corpus import Corpus

    index_dir = out / "index"
    stamp = out / INDEX_HASH_FILE
    digest = document_set_hash(bench.documents, settings)
    recorded = json.loads(stamp.read_text()).get("hash") if stamp.is_file() else None
    try:
        corpus = Corpus.open(index_dir, settings=settings, embedder=embedder)
    except IndexNotFoundError:
        corpus = None
    except (IndexCorruptError, IndexMismatchError) as exc:
        stderr.print(f"[yellow]rebuilding {escape(str(index_dir))}: {escape(str(exc))}[/]")
        shutil.rmtree(index_dir, ignore_errors=True)
        corpus = None
    if corpus is not None and recorded == digest:
        return corpus
    stamp.unlink(missing_ok=True)  # until the sync below commits, the index is not known to match
    if corpus is None:
        index_dir.parent.mkdir(parents=True, exist_ok=True)
        corpus = Corpus(index_dir, settings, embedder=embedder)
    wanted = {d.id for d in bench.documents}
    stale = [d.id for d in corpus.documents() if d.id not in wanted] if len(corpus) else []
    if stale:
        corpus.delete(stale)
    t0 = time.perf_counter()
    report = corpus.add_documents(list(bench.documents))
    rejected = [f"{f.path}: {f.reason}" for f in report.files if f.status == "error"]
    if rejected:
        raise IngestError(str(index_dir), "documents rejected by the index: " + "; ".join(rejected[:5]))
    stderr.print(f"index {escape(str(index_dir))}: {len(bench.documents)} documents, {report.n_chunks} chunks "
                 f"({report.n_embedded} embedded) in {time.perf_counter() - t0:.1f} s")
    stamp.write_text(json.dumps({"hash": digest, "n_documents": len(bench.documents)}))
    return corpus


def agent_answer_fn(agent: Any, per_question_pool: bool) -> AnswerFn:
    """``Agent.ask`` as an AnswerFn; with a per-question pool each question searches only its own documents."""

    def answer(question: Question, strategy: str) -> Answer:
        filters = {"doc_id": list(question.doc_ids)} if per_question_pool and question.doc_ids else None
        return agent.ask(question.question, strategy=strategy, filters=filters)

    return answer


# ---------------------------------------------------------------------------------------------- scoring

_SCALES: dict[str, float] = {"": 1.0, "thousand": 1e3, "million": 1e6, "billion": 1e9, "percent": 1.0}
_SCALE_WORDS: dict[str, str] = {
    "thousand": "thousand", "thousands": "thousand", "k": "thousand",
    "million": "million", "millions": "million", "mn": "million", "m": "million",
    "billion": "billion", "billions": "billion", "bn": "billion", "b": "billion",
    "percent": "percent", "per cent": "percent", "percentage": "percent", "%": "percent",
}
_NUMBER = re.compile(
    r"(?<![\w.,])(?P<neg>[-−–]|\()?\s*[$€£¥]?\s*(?P<num>\d[\d,]*(?:\.\d+)?|\.\d+)\)?"
    r"(?:\s*(?P<scale>%|per cent|percentage|percent|thousands?|millions?|billions?|mn|bn|k|m|b)\b|\s*(?P<pct>%))?",
    re.IGNORECASE,
)

_LIST_GAP = re.compile(r"\s*(?:,|;|/|&|and|or|to)?\s*(?:and\s+)?", re.IGNORECASE)


def parse_numbers(text: str) -> list[tuple[float, str]]:
    """Every number in ``text`` with the scale word right after it: ``"$(12.6) million"`` -> ``[(-12.6,
    "million")]``, ``"22.2%"`` -> ``[(22.2, "percent")]``. Accounting parentheses and unicode minus are negative."""
    found: list[tuple[float, str, int, int]] = []
    for m in _NUMBER.finditer(text):
        try:
            value = float(m.group("num").replace(",", ""))
        except ValueError:
            continue
        if m.group("neg"):
            value = -value
        word = (m.group("scale") or m.group("pct") or "").lower()
        found.append((value, _SCALE_WORDS.get(word, ""), m.start(), m.end()))
    # "1,073.3 and 1,095.0 million": list items without a scale word share the scale of the item after them
    for i in range(len(found) - 2, -1, -1):
        value, scale, start, end = found[i]
        nxt = found[i + 1]
        if not scale and nxt[1] and _LIST_GAP.fullmatch(text[end : nxt[2]]):
            found[i] = (value, nxt[1], start, end)
    return [(value, scale) for value, scale, _, _ in found]


def _gold_numbers(question: Question) -> list[float] | None:
    """TAT-QA gold as numbers (arithmetic/count answers, or spans that are all numbers); None otherwise."""
    raw = question.metadata.get("answer")
    items = raw if isinstance(raw, list) else [raw]
    values = []
    for item in items:
        if isinstance(item, bool):
            return None
        if isinstance(item, (int, float)):
            values.append(float(item))
            continue
        parsed = parse_numbers(str(item))
        # a span like "$1,496.5" is numeric; "fixed-price type" or "2019 and 2018" is not
        if len(parsed) != 1 or re.sub(r"[\d,.\s$€£¥()%\-−–]", "", str(item)):
            return None
        values.append(parsed[0][0])
    return values or None


def numeric_match(prediction: str, question: Question) -> tuple[bool, bool] | None:
    """(value and scale word right, value right) for a TAT-QA question with a numeric gold answer.

    Values are compared in absolute units (``12,600,000`` equals ``12.6 million``) within 1e-2 relative;
    the scale word must also equal the gold scale (none for unscaled answers). None when the gold is text."""
    gold = _gold_numbers(question)
    if gold is None:
        return None
    scale = question.metadata.get("scale") or ""
    predicted = parse_numbers(prediction)

    def close(p: float, p_scale: str, g: float) -> bool:
        a, b = p * _SCALES[p_scale], g * _SCALES[scale]
        return abs(a - b) <= 1e-2 * max(abs(b), 1e-9) if b else abs(a) <= 1e-2

    def found(g: float, need_scale: bool) -> bool:
        return any(close(p, s, g) and (not need_scale or s == scale) for p, s in predicted)

    value_ok = all(found(g, False) for g in gold)
    return value_ok and all(found(g, True) for g in gold), value_ok


def prediction_of(answer: Answer | None) -> str | list[str]:
    """What answer metrics score: nothing for an abstention or a failure, every candidate for a conflict
    report, else the short answer (the sentences when the short form is empty)."""
    if answer is None or answer.status == AnswerStatus.abstained:
        return ""
    if answer.status == AnswerStatus.conflict and answer.conflicts:
        return [c.answer for c in answer.conflicts]
    return answer.answer or answer.text


def is_conflicting(question: Question) -> bool:
    return question.type == "conflicting" or bool(question.wrong_answers)


def score_question(question: Question, answer: Answer | None, documents: Mapping[str, Document]) -> dict[str, Any]:
    """Per-question metrics; ``answer=None`` is a failed question, scored as wrong (not as an abstention).
    Keys are always present; a metric that does not apply to the question is None."""
    prediction = prediction_of(answer)
    scores = answer_scores(prediction, question.answers)
    if answer is None:  # answer_scores counts an empty prediction as a correct abstention
        scores = {"em": 0.0, "f1": 0.0}
    abstained = answer is not None and answer.status == AnswerStatus.abstained
    correct = scores["f1"] >= 0.5  # for unanswerable questions f1 is 1 exactly when the system abstained
    # A correct abstention is the right answer to an unanswerable question: CRAG credits it (+1), while
    # abstaining on an answerable question is the tolerated "missing" outcome (0).
    outcome = "correct" if (abstained and correct) else crag_outcome(correct, abstained)
    citations = answer.citations if answer is not None else []
    cited = [c.doc_id for c in citations]
    gold_docs = [e.doc_id for e in question.evidence]
    facts = question.metadata.get("supporting_facts")
    conflicting = is_conflicting(question)
    listed = prediction if isinstance(prediction, list) else ([prediction] if prediction else [])
    # RAMDocs scores the whole response: the short answer(s) and the sentences that state them
    response = listed + [s.text for s in answer.sentences] if answer is not None and listed else listed
    numeric = numeric_match("; ".join(listed), question) if question.corpus == "tatqa" else None
    cost = _cost(answer)
    return {
        "status": answer.status.value if answer is not None else "error",
        "abstained": abstained,
        "answerable": question.answerable,
        "confidence": answer.confidence if answer is not None else 0.0,
        "em": scores["em"],
        "f1": scores["f1"],
        "correct": correct,
        "crag": outcome,
        "citation_precision": citation_doc_precision(cited, gold_docs) if gold_docs else None,
        "citation_recall": citation_doc_recall(cited, gold_docs),
        "n_citations": len(citations),
        "quote_verbatim": quote_verbatim_rate(citations, documents),
        "sp_f1": supporting_fact_scores(cited_sentences(citations, documents), [tuple(f) for f in facts])["sp_f1"]
        if facts else None,
        "conflict_em": float(ramdocs_exact_match(response, question.answers, question.wrong_answers))
        if conflicting else None,
        "misinformation_sole": float(misinformation_as_sole_answer(response, question.answers, question.wrong_answers))
        if conflicting else None,
        "conflict_flag": float(answer is not None and answer.status == AnswerStatus.conflict) if conflicting else None,
        "conflict_handled": float(conflict_handled(response, question.answers, question.wrong_answers, question.resolution,
                                                   explained=bool(answer is not None and answer.note)))
        if conflicting else None,
        "conflict_both_cited": float(both_sides_cited(answer, question.answers, question.wrong_answers))
        if question.metadata.get("counterfactual") else None,
        "numeric": float(numeric[0]) if numeric is not None else None,
        "numeric_value": float(numeric[1]) if numeric is not None else None,
        **cost,
    }


def _cost(answer: Answer | None) -> dict[str, int | None]:
    if answer is None:
        return {"prompt_tokens": None, "completion_tokens": None, "steps": None}
    return {
        "prompt_tokens": sum(s.prompt_tokens for s in answer.trace),
        "completion_tokens": sum(s.completion_tokens for s in answer.trace),
        "steps": len(answer.trace),
    }


def make_record(
    question: Question, strategy: str, suite: str, answer: Answer | None, seconds: float,
    documents: Mapping[str, Document], error: str | None = None, tags: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": question.id,
        "strategy": strategy,
        "suite": suite,
        **(tags or {}),
        "question": question.question,
        "type": question.type,
        "gold": {
            "answers": question.answers,
            "wrong_answers": question.wrong_answers,
            "evidence": [e.model_dump() for e in question.evidence],
        },
        "seconds": round(seconds, 4),
        "error": error,
        "answer": answer.model_dump(mode="json") if answer is not None else None,
        "metrics": score_question(question, answer, documents),
    }


# ---------------------------------------------------------------------------------------------- results file


def read_results(path: Path) -> list[dict[str, Any]]:
    """Records of a results file; a torn last line (process killed mid-write) is dropped and the file
    rewritten without it, so appending continues on a clean line."""
    if not path.is_file():
        return []
    records, torn = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            torn = True
            continue
        if isinstance(rec, dict) and "id" in rec and "strategy" in rec:
            records.append(rec)
    if torn or not path.read_bytes().endswith(b"\n") and records:
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        os.replace(tmp, path)
    return records


def run_questions(
    bench: Benchmark, strategies: Sequence[str], answer_fn: AnswerFn, results_path: Path, *,
    progress: bool = True, tags: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Ask every (question, strategy) pair not yet in ``results_path``, appending each record as soon as it
    is scored. Returns the records of this selection (finished earlier or now), in question order.

    ``tags`` (preset, model) are stored in every record; resuming a file written under other tags is refused,
    since its answers would be mixed into a report that claims one configuration."""
    existing = read_results(results_path)
    for key, value in (tags or {}).items():
        other = next((r.get(key) for r in existing if r.get(key) != value), None)
        if other is not None:
            raise ValueError(f"{results_path} holds answers made with {key} {other!r}, not {value!r}; "
                             "pass another --out (or delete that file) to run this configuration")
    done = {(r["id"], r["strategy"]): r for r in reversed(existing)}  # first record of a pair wins
    documents = bench.document_map()
    questions = {q.id: q for q in bench.questions}
    for (qid, _), rec in done.items():  # rescored with the current metrics: no model call needed
        if qid in questions and rec.get("answer") is not None and not rec.get("error"):
            rec["metrics"] = score_question(questions[qid], Answer.model_validate(rec["answer"]), documents)
    todo = [(q, s) for s in strategies for q in bench.questions if (q.id, s) not in done]
    if len(todo) < len(bench.questions) * len(strategies):
        stderr.print(f"resuming: {len(bench.questions) * len(strategies) - len(todo)} finished answers reused "
                     f"from {escape(str(results_path))}")
    results_path.parent.mkdir(parents=True, exist_ok=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with (open(results_path, "a", encoding="utf-8") as fh,
          Progress(*columns, console=stderr, disable=not progress) as bar):
        task = bar.add_task(bench.name, total=len(todo))
        for question, strategy in todo:
            bar.update(task, description=f"{bench.name} · {strategy}")
            t0 = time.perf_counter()
            answer, error = None, None
            try:
                answer = answer_fn(question, strategy)
            except Exception as exc:  # noqa: BLE001  (one failing question must not lose the run; scored as wrong)
                error = f"{type(exc).__name__}: {exc}"
            seconds = time.perf_counter() - t0
            record = make_record(question, strategy, bench.name, answer, seconds, documents, error, tags)
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            fh.flush()
            done[(question.id, strategy)] = record
            bar.advance(task)
    return [done[(q.id, s)] for s in strategies for q in bench.questions]


# ---------------------------------------------------------------------------------------------- faithfulness


def cited_contexts(answer: Answer, corpus: Any | None) -> list[str]:
    """The passages an answer cites: whole cited chunks when the index has them, else the quotes."""
    contexts: list[str] = []
    for c in answer.citations:
        text = c.quote
        if corpus is not None:
            try:
                text = corpus.chunk(c.chunk_id).text
            except KeyError:
                pass
        if text not in contexts:
            contexts.append(text)
    return contexts


def faithfulness_scores(
    records: Sequence[dict[str, Any]], questions: Mapping[str, Question], n: int, fn: FaithfulnessFn, cache: Path,
) -> dict[str, dict[str, Any]]:
    """ragas faithfulness of the first ``n`` answered records of each strategy, cached in ``cache``."""
    known = {(r["id"], r["strategy"]): r for r in read_results(cache)}
    by_strategy: dict[str, list[float]] = {}
    for rec in records:
        strategy = rec["strategy"]
        scores = by_strategy.setdefault(strategy, [])
        answer = rec.get("answer")
        if len(scores) >= n or rec.get("error") or not answer or answer["status"] != "answered":
            continue
        hit = known.get((rec["id"], strategy))
        if hit is None:
            try:
                value, error = fn(questions[rec["id"]], Answer.model_validate(answer)), None
            except Exception as exc:  # noqa: BLE001  (a judge failing on one answer is recorded, not fatal)
                value, error = None, f"{type(exc).__name__}: {exc}"
            if value is not None and math.isnan(value):  # ragas: the judge extracted no claim to check
                value, error = None, "no statements extracted from the answer"
            hit = {"id": rec["id"], "strategy": strategy, "faithfulness": value, "error": error}
            with open(cache, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(hit) + "\n")
        scores.append(hit["faithfulness"])
    out = {}
    for strategy, values in by_strategy.items():
        valid = [v for v in values if v is not None]
        out[strategy] = {
            "faithfulness": sum(valid) / len(valid) if valid else None,
            "faithfulness_n": len(valid),
            "faithfulness_note": f"ragas faithfulness over cited passages, first {len(values)} answered questions"
            + (f"; {len(values) - len(valid)} not scored (no claims extracted or judge failure)"
               if len(valid) < len(values) else ""),
        }
    return out


# ---------------------------------------------------------------------------------------------- run


def machine_info() -> dict[str, Any]:
    return {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


def default_command(argv: Sequence[str]) -> str:
    return shlex.join([Path(sys.executable).name, "-m", "evals", *argv])


def run(
    config: RunConfig, *, answer_fn: AnswerFn | None = None, bench: Benchmark | None = None,
    faithfulness_fn: FaithfulnessFn | None = None, settings: Settings | None = None,
) -> dict[str, Any]:
    """Run a suite and write ``results.jsonl``, ``report.json``, ``report.md`` and the plots under ``out``.
    Without ``answer_fn`` an Agent is built over ``OUT/index`` (models load once, here)."""
    from evals import plots, report

    unknown = [s for s in config.strategies if s not in STRATEGIES]
    if unknown:
        raise ValueError(f"unknown strategy {', '.join(unknown)}; choose from {', '.join(STRATEGIES)}")
    settings = settings or Settings.from_preset(config.preset)
    if bench is None:
        bench = load_suite(config.suite, config.data, config.limit, config.seed, config.pool, config.drop_gold,
                           config.types, config.counterfactual, config.ids)
    out = config.out
    out.mkdir(parents=True, exist_ok=True)
    corpus = None
    agent = None
    if answer_fn is None:
        from agentkit.agent import Agent

        corpus = ensure_index(bench, out, settings)
        agent = Agent([corpus], settings)
        answer_fn = agent_answer_fn(agent, config.suite in PER_QUESTION_POOL)
    stderr.print(f"{config.suite}: {len(bench.questions)} questions × {len(config.strategies)} strategies "
                 f"({', '.join(config.strategies)}), preset {settings.preset}, generator {settings.generator}")
    model = settings.generator_url or settings.generator
    records = run_questions(bench, config.strategies, answer_fn, out / RESULTS_FILE, progress=config.progress,
                            tags={"preset": settings.preset, "model": model})

    faith: dict[str, dict[str, Any]] = {}
    if config.faithfulness:
        if faithfulness_fn is None and agent is not None:
            faithfulness_fn = _ragas_faithfulness(agent.components.generator, corpus)
        if faithfulness_fn is not None:
            questions = {q.id: q for q in bench.questions}
            faith = faithfulness_scores(records, questions, config.faithfulness, faithfulness_fn,
                                        out / FAITHFULNESS_FILE)

    strategies = report.aggregate(records, config.strategies)
    for strategy, metrics in strategies.items():
        metrics.update(faith.get(strategy) or {
            "faithfulness": None,
            "faithfulness_note": "not computed: pass --faithfulness N to judge the first N answered questions",
        })
    doc = {
        "suite": config.suite,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": model,
        "embedder": settings.embedder,
        "reranker": settings.reranker,
        "preset": settings.preset,
        "machine": machine_info(),
        "command": config.command or default_command(["run", config.suite]),
        "data": str(config.data) if config.data else None,
        "limit": config.limit,
        "seed": config.seed,
        "n_questions": len(bench.questions),
        "n_documents": len(bench.documents),
        "strategies": strategies,
    }
    report.write_report(doc, out)
    plots.plot_metrics(strategies, out / "metrics.png", title=f"{config.suite} ({settings.preset})")
    plots.plot_reliability(records, out / "reliability.png", title=f"{config.suite}: reliability")
    return doc


def _ragas_faithfulness(generator: Any, corpus: Any | None) -> FaithfulnessFn:
    from evals.metrics.ragas_adapter import faithfulness

    def judge(question: Question, answer: Answer) -> float:
        return faithfulness(generator, question.question, answer.text, cited_contexts(answer, corpus))

    return judge
