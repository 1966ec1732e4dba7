"""The `agentkit` command line: ingest, search, ask, models, eval."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agentkit.errors import AgentkitError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Cited answers over your own documents.")
console = Console(stderr=True)
out = Console(highlight=False, soft_wrap=True)

IndexOpt = Annotated[Path, typer.Option("--index", "-i", help="index directory")]
PresetOpt = Annotated[str, typer.Option("--preset", help="settings preset: fast, default, quality")]


def _settings(preset: str = "default", **overrides):
    from agentkit.settings import Settings

    return Settings.from_preset(preset, **{k: v for k, v in overrides.items() if v is not None})


def _emit_json(text: str) -> None:
    """JSON goes to stdout untouched: rich markup or emoji codes must never alter quoted document text."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]error:[/] {escape(str(exc))}")
    raise typer.Exit(2)


def _each(items: list[str], run, *, batch: bool, field: str, rejected: list[str]):
    """Yield (item, run(item)). In batch mode a rejected item gets its own error line instead, so the others
    are neither lost nor shifted, and is added to ``rejected``; a single item's error propagates."""
    for item in items:
        try:
            result = run(item)
        except AgentkitError as exc:
            if not batch:
                raise
            _emit_json(json.dumps({field: item, "error": str(exc), "error_type": type(exc).__name__},
                                  ensure_ascii=False))
            rejected.append(item)
            continue
        yield item, result


def _read_questions(path: Path) -> list[str]:
    """JSONL with a `question` field, or plain lines."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc}") from exc
    items = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                rec = json.loads(line)
            except ValueError as exc:
                raise typer.BadParameter(f"{path}:{n}: not valid JSON ({exc})") from exc
            # an empty question is kept, and rejected in its own line, so answers stay aligned with the file
            q = rec.get("question", rec.get("query")) if isinstance(rec, dict) else None
            if not isinstance(q, str):
                raise typer.BadParameter(f"{path}:{n}: no 'question' field")
            items.append(q)
        else:
            items.append(line)
    return items


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="files or directories")],
    index: IndexOpt,
    corpus: Annotated[str, typer.Option("--corpus", help="corpus name for these documents")] = "default",
    preset: PresetOpt = "default",
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
):
    """Add documents to an index (created if missing). Unchanged documents are skipped; changed ones replaced.

    Exit status: 0 when every file was read, 1 when some could not be (the others are indexed and the report
    says why), 2 on an error that stopped the run.
    """
    from agentkit.corpus import Corpus

    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn(), console=console, disable=as_json or not console.is_terminal) as bar:
            task = bar.add_task("ingest", total=None)

            def progress(stage: str, done: int, total: int) -> None:
                bar.update(task, description=stage, completed=done, total=total)

            c = Corpus.build(paths, index, corpus=corpus, settings=_settings(preset), progress=progress)
    except AgentkitError as exc:
        _fail(exc)
    report = c.last_report
    failed = any(f.status == "error" for f in report.files)
    if as_json:
        _emit_json(report.model_dump_json())
        if failed:
            raise typer.Exit(1)
        return
    table = Table(title=f"ingest report ({index})")
    for col in ("file", "status", "docs", "reason"):
        table.add_column(col)
    for f in report.files:
        color = {"ok": "green", "skipped": "yellow", "error": "red"}[f.status]
        table.add_row(escape(f.path), f"[{color}]{f.status}[/]", str(f.n_documents), escape(f.reason))
    console.print(table)
    console.print(f"added {len(report.added)}, updated {len(report.updated)}, unchanged {len(report.unchanged)}, "
                  f"deleted {len(report.deleted)}, {report.n_chunks} chunks in the index; {report.seconds:.1f} s")
    if failed:
        raise typer.Exit(1)  # scripts must notice a file that was not indexed


def _passage_json(p) -> dict:
    return {"doc_id": p.chunk.doc_id, "source": p.source, "title": p.title, "chunk_id": p.chunk.id,
            "text": p.chunk.text, "start": p.chunk.start, "end": p.chunk.end, "score": round(p.score, 6)}


@app.command()
def search(
    index: IndexOpt,
    query: Annotated[str | None, typer.Argument(help="the query")] = None,
    queries: Annotated[Path | None, typer.Option("--queries", help="JSONL (question field) or plain lines")] = None,
    k: Annotated[int, typer.Option("-k", min=1, help="results per query")] = 10,
    rerank: Annotated[bool, typer.Option("--rerank", help="rerank with the preset's reranker")] = False,
    preset: PresetOpt = "default",
    as_json: Annotated[bool, typer.Option("--json")] = False,
):
    """Hybrid (dense + BM25) search. Batch mode prints one JSON object per query, in order (exit 1 when a
    query was rejected: its line carries the error)."""
    from agentkit.corpus import Corpus
    from agentkit.graph.components import Components

    if (query is None) == (queries is None):
        raise typer.BadParameter("give a QUERY or --queries FILE")
    try:
        settings = _settings(preset)
        c = Corpus.open(index, settings=settings)
        # the embedding reranker inside Corpus.search reuses stored chunk vectors; others come from settings
        reranker: object = False
        if rerank:
            reranker = True if settings.reranker in ("none", "embedding") else Components(settings, [c]).reranker
        items = [query] if query is not None else _read_questions(queries)
        rejected: list[str] = []
        for q, results in _each(items, lambda q: c.search(q, k=k, rerank=reranker), batch=queries is not None,
                                field="query", rejected=rejected):
            if as_json or queries is not None:
                _emit_json(json.dumps({"query": q, "results": [_passage_json(p) for p in results]}, ensure_ascii=False))
            else:
                if not results:
                    out.print(f"No passages found: the index at {escape(str(c.index_dir))} holds {len(c)} chunks.")
                for n, p in enumerate(results, 1):
                    out.print(f"[bold]{n}. {escape(p.title or p.doc_id)}[/]  [dim]{escape(p.source)} "
                              f"[{p.chunk.start}:{p.chunk.end}] score={p.score:.4f}[/]")
                    out.print("   " + escape(" ".join(p.text.split())[:300]))
    except AgentkitError as exc:
        _fail(exc)
    if rejected:
        raise typer.Exit(1)


_ABSTAIN_WORDS = {
    "out_of_scope": "the documents are not about this question.",
    "no_relevant_evidence": "no passage in the documents is relevant enough to answer it.",
    "unsupported_after_verification": "the cited passages did not support the answer the model drafted.",
    "conflicting_evidence_unresolved": "the sources disagree and none could be preferred.",
    "step_limit_reached": "the agent reached its step limit before finding an answer.",
}


def _print_answer(ans, explain: bool) -> None:
    from agentkit.types import AnswerStatus

    numbers: dict[tuple, int] = {}
    for cite in ans.citations:
        numbers.setdefault((cite.doc_id, cite.start, cite.end), len(numbers) + 1)
    if ans.status == AnswerStatus.abstained:
        why = _ABSTAIN_WORDS.get(ans.abstain_reason or "", "the documents do not support an answer.")
        out.print(f"[bold yellow]Cannot answer[/] ({ans.abstain_reason}): {why}")
    else:
        head = "[bold magenta]Sources disagree[/]" if ans.status == AnswerStatus.conflict else "[bold green]Answer[/]"
        out.print(f"{head}: {escape(ans.answer)}")
        for s in ans.sentences:
            marks = "".join(f"[{numbers[(c.doc_id, c.start, c.end)]}]" for c in s.citations)
            out.print(f"  {escape(s.text)} {escape(marks)}")
        if ans.note:
            out.print(f"  [italic]{escape(ans.note)}[/]")
    if numbers:
        out.print("\n[bold]Sources[/]")
        for cite in ans.citations:
            n = numbers[(cite.doc_id, cite.start, cite.end)]
            out.print(f"  [{n}] {escape(cite.title or cite.doc_id)} — {escape(cite.source)} [{cite.start}:{cite.end}]")
            out.print(f"      “{escape(cite.quote)}”")
    out.print(f"\n[dim]confidence {ans.confidence:.2f} · strategy {ans.strategy}[/]")
    if explain:
        table = Table(title="trace")
        for col in ("stage", "seconds", "prompt tok", "completion tok", "detail"):
            table.add_column(col)
        for t in ans.trace:
            table.add_row(t.stage, f"{t.seconds:.2f}", str(t.prompt_tokens), str(t.completion_tokens),
                          escape(json.dumps(t.detail, ensure_ascii=False, default=str)[:160]))
        out.print(table)


def _stream_answer(agent, question: str, thread: str | None):
    """The agent's steps on stderr as they happen; the answer is returned for printing."""
    ans = None
    for ev in agent.stream(question, thread_id=thread):
        if ev.kind == "answer":
            ans = ev.answer
        elif ev.kind == "node_started":
            console.print(f"[dim]→ {ev.node}[/]")
        else:
            console.print(f"[cyan]{ev.kind}[/] {escape(json.dumps(ev.data, ensure_ascii=False)[:200])}")
    return ans


@app.command()
def ask(
    index: Annotated[list[Path], typer.Option("--index", "-i", help="index directory (repeatable)")],
    question: Annotated[str | None, typer.Argument(help="the question")] = None,
    questions: Annotated[Path | None, typer.Option("--questions", help="batch: JSONL or plain lines")] = None,
    preset: PresetOpt = "default",
    strategy: Annotated[str | None, typer.Option("--strategy", help="closed_book, naive, grounded, react, reflexion")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    explain: Annotated[bool, typer.Option("--explain", help="show stages, timings and token counts")] = False,
    stream: Annotated[bool, typer.Option("--stream", help="show the agent's steps live")] = False,
    thread: Annotated[str | None, typer.Option("--thread", help="thread id (needs --checkpoint)")] = None,
    checkpoint: Annotated[Path | None, typer.Option("--checkpoint", help="SQLite file for resumable threads")] = None,
):
    """Answer with citations, abstain, or report conflicting sources.

    Exit status: 0 when every question got an Answer (an abstention is an answer), 1 when a batch question was
    rejected (its line carries the error; the others are answered), 2 on an error that stopped the run.
    """
    from agentkit.agent import Agent
    from agentkit.corpus import Corpus

    if (question is None) == (questions is None):
        raise typer.BadParameter("give a QUESTION or --questions FILE")
    try:
        settings = _settings(preset, strategy=strategy)
        agent = Agent([Corpus.open(i, settings=settings) for i in index], settings, checkpoint=checkpoint)
        items = [question] if question is not None else _read_questions(questions)
        rejected: list[str] = []

        def answer(q: str):
            return _stream_answer(agent, q, thread) if stream and not as_json else agent.ask(q, thread_id=thread)

        for _q, ans in _each(items, answer, batch=questions is not None, field="question", rejected=rejected):
            if as_json or questions is not None:
                _emit_json(ans.model_dump_json())
            else:
                _print_answer(ans, explain)
    except AgentkitError as exc:
        _fail(exc)
    if rejected:
        raise typer.Exit(1)


@app.command()
def models(
    check: Annotated[bool, typer.Option("--check", help="exit non-zero unless every model's weights are installed")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
):
    """List the models, their packages, where the weights are, and their sizes."""
    from agentkit.models import describe

    rows = describe()
    if as_json:
        _emit_json(json.dumps(rows, indent=1))
    else:
        table = Table(title="models")
        for col in ("name", "kind", "packages", "installed", "size", "path"):
            table.add_column(col)
        for r in rows:
            size = f"{r['size'] / 1e6:.0f} MB" if r.get("size") else "?"
            table.add_row(r["name"], r["kind"], r["packages"], "yes" if r["installed"] else "[red]no[/]", size,
                          escape(str(r.get("path") or r.get("error"))))
        out.print(table)
    if check and not all(r["installed"] for r in rows):
        raise typer.Exit(1)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def eval(ctx: typer.Context):
    """Alias of `python -m evals` (e.g. `agentkit eval run hotpotqa --limit 5`)."""
    from evals.__main__ import main

    sys.exit(main(list(ctx.args)))


if __name__ == "__main__":
    app()
