"""TAT-QA JSON: a list of ``{table: {uid, table: [[cells]]}, paragraphs: [{uid, order, text}],
questions: [...]}``.

One document per context: the table rendered as a markdown table (first row as header), a blank line, then
the paragraphs in ``order``, separated by blank lines. ``metadata["paragraph_spans"]`` maps each paragraph's
order to its ``[start, end)`` and ``metadata["table_span"]`` covers the table, so ``rel_paragraphs`` become
verbatim quotes; span answers read from the table also quote the table row that holds them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentkit.types import Document
from evals.loaders._common import read_json, require
from evals.types import Benchmark, BenchmarkFormatError, GoldEvidence, Question

NAME = "tatqa"
_SEP = "\n\n"


def render_table(rows: list[list[Any]]) -> str:
    """Markdown table; pipes and newlines inside cells are neutralised so each row stays one line."""
    if not rows:
        return ""
    width = max(len(r) for r in rows)

    def line(row: list[Any]) -> str:
        cells = [str(c).replace("\n", " ").replace("|", "/").strip() for c in row]
        cells += [""] * (width - len(cells))
        return "| " + " | ".join(cells) + " |"

    header, *body = rows
    return "\n".join([line(header), "|" + "---|" * width, *(line(r) for r in body)])


def format_number(value: float) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def answer_aliases(answer: Any, scale: str) -> list[list[str]]:
    """TAT-QA answer -> required answers with aliases. Lists are spans (each one required); numbers get
    their scaled spellings (``-12.6`` + ``million`` -> ``-12.6 million``; percent -> ``-22.22%``)."""
    if isinstance(answer, list):
        return [[str(a)] for a in answer if str(a).strip()]  # upstream has a few empty spans
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        return [[str(answer)]] if str(answer).strip() else []
    base = format_number(answer)
    aliases = [base]
    if isinstance(answer, float) and f"{answer:.2f}".rstrip("0").rstrip(".") != base:
        aliases.append(f"{answer:.2f}")  # the official TAT-QA scorer rounds arithmetic answers to 2 places
    if scale == "percent":
        aliases.append(f"{base}%")
    elif scale:
        aliases.append(f"{base} {scale}")
    return [aliases]


def _build_document(ctx: dict[str, Any], path: Path, index: int) -> tuple[Document, dict[str, str]]:
    require(ctx, ("table", "paragraphs", "questions"), path, f"context {index}")
    table = ctx["table"]
    uid = table.get("uid") or f"context-{index}"
    table_md = render_table(table.get("table") or [])
    parts = [table_md]
    spans: dict[str, list[int]] = {}
    pos = len(table_md)
    texts: dict[str, str] = {}
    for para in sorted(ctx["paragraphs"], key=lambda p: p.get("order", 0)):
        pos += len(_SEP)
        order = str(para.get("order"))
        spans[order] = [pos, pos + len(para["text"])]
        texts[order] = para["text"]
        parts.append(para["text"])
        pos += len(para["text"])
    doc = Document(
        id=f"{NAME}/{uid}",
        source=f"{path}#{uid}",
        text=_SEP.join(parts),
        corpus=NAME,
        metadata={"table_span": [0, len(table_md)], "paragraph_spans": spans, "format": NAME},
    )
    return doc, texts


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _evidence(doc: Document, q: dict[str, Any], para_texts: dict[str, str]) -> list[GoldEvidence]:
    evidence = [
        GoldEvidence(doc_id=doc.id, quote=para_texts[str(o)])
        for o in q.get("rel_paragraphs") or []
        if str(o) in para_texts
    ]
    if "table" in str(q.get("answer_from", "")) and isinstance(q.get("answer"), list):
        table_lines = doc.text[: doc.metadata["table_span"][1]].split("\n")
        for ans in q["answer"]:
            row = next((ln for ln in table_lines if str(ans).strip() in _cells(ln)), None)
            if row is not None and all(e.quote != row for e in evidence):
                evidence.append(GoldEvidence(doc_id=doc.id, quote=row))
    return evidence or [GoldEvidence(doc_id=doc.id)]


def load_tatqa(path: Path, limit: int | None = None) -> Benchmark:
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, list):
        raise BenchmarkFormatError(str(path), "expected a JSON array of TAT-QA contexts")
    documents: list[Document] = []
    questions: list[Question] = []
    for index, ctx in enumerate(data):
        if limit is not None and len(questions) >= limit:
            break
        doc, para_texts = _build_document(ctx, path, index)
        documents.append(doc)
        for q in ctx["questions"]:
            require(q, ("uid", "question", "answer", "answer_type"), path, f"context {index} question")
            scale = q.get("scale") or ""
            questions.append(
                Question(
                    id=q["uid"],
                    question=q["question"],
                    type=q["answer_type"],
                    answers=answer_aliases(q["answer"], scale),
                    evidence=_evidence(doc, q, para_texts),
                    corpus=NAME,
                    doc_ids=[doc.id],
                    metadata={
                        "answer": q["answer"],
                        "answer_type": q["answer_type"],
                        "scale": scale,
                        "derivation": q.get("derivation", ""),
                        "answer_from": q.get("answer_from", ""),
                        "rel_paragraphs": q.get("rel_paragraphs", []),
                        "req_comparison": q.get("req_comparison"),
                    },
                )
            )
    bench = Benchmark(name=NAME, documents=documents, questions=questions)
    return bench.limit(limit)
