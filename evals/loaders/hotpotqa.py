"""HotpotQA (distractor or fullwiki) in the original JSON or the Hugging Face layout, detected per record.

Original: ``{_id, question, answer, type, level, supporting_facts: [[title, sent_id]],
           context: [[title, [sents]]]}``
HF:       ``{id, ..., supporting_facts: {title: [...], sent_id: [...]},
           context: {title: [...], sentences: [[...]]}}``

Paragraphs are pooled across questions and deduplicated by title. A document's text is ``"".join(sentences)``
exactly as HotpotQA builds it (sentences carry their own leading spaces); ``metadata["sentence_spans"]``
holds each sentence's whitespace-trimmed ``[start, end)`` so supporting facts map to verbatim quotes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentkit.types import Document
from evals.loaders._common import read_records, require, short_hash, slugify
from evals.types import Benchmark, BenchmarkFormatError, GoldEvidence, Question

NAME = "hotpotqa"


def _normalise(record: dict[str, Any], path: Path, index: int) -> dict[str, Any]:
    """Both layouts -> ``{id, question, answer, type, level, facts: [(title, i)], context: [(title, s)]}``"""
    qid = record.get("_id", record.get("id"))
    where = f"record {index}"
    require(record, ("question", "context"), path, where)
    if qid is None:
        raise BenchmarkFormatError(str(path), f"{where} has neither '_id' nor 'id'")
    context = record["context"]
    facts = record.get("supporting_facts") or []
    if isinstance(context, dict):  # HF layout: parallel lists
        pairs = list(zip(context.get("title", []), context.get("sentences", []), strict=True))
    else:
        pairs = [(title, sents) for title, sents in context]
    if isinstance(facts, dict):
        fact_pairs = list(zip(facts.get("title", []), facts.get("sent_id", []), strict=True))
    else:
        fact_pairs = [(title, sent_id) for title, sent_id in facts]
    return {
        "id": str(qid),
        "question": record["question"],
        "answer": record.get("answer"),
        "type": record.get("type") or "multi_hop",
        "level": record.get("level"),
        "facts": fact_pairs,
        "context": pairs,
    }


def _make_document(title: str, sentences: list[str], doc_id: str, source: str) -> Document:
    text = "".join(sentences)
    spans: list[list[int]] = []
    pos = 0
    for sentence in sentences:
        lead = len(sentence) - len(sentence.lstrip())
        trail = len(sentence.rstrip())
        spans.append([pos + lead, pos + max(lead, trail)])
        pos += len(sentence)
    return Document(
        id=doc_id,
        source=source,
        title=title,
        text=text,
        corpus=NAME,
        metadata={"sentence_spans": spans, "format": "hotpotqa"},
    )


def load_hotpotqa(path: Path, limit: int | None = None) -> Benchmark:
    path = Path(path)
    records = read_records(path, limit)
    documents: dict[tuple[str, tuple[str, ...]], Document] = {}
    used_ids: set[str] = set()
    questions: list[Question] = []
    for index, raw in enumerate(records):
        try:
            rec = _normalise(raw, path, index)
        except (TypeError, ValueError) as exc:
            raise BenchmarkFormatError(str(path), f"record {index} is not HotpotQA-shaped ({exc})") from exc
        by_title: dict[str, Document] = {}
        for title, sentences in rec["context"]:
            key = (title, tuple(sentences))
            doc = documents.get(key)
            if doc is None:
                doc_id = slugify(title)
                if doc_id in used_ids:  # another title (or another version of it) slugs the same
                    doc_id = f"{doc_id}-{short_hash(title + chr(0) + ''.join(sentences))}"
                used_ids.add(doc_id)
                doc = _make_document(title, list(sentences), doc_id, str(path))
                documents[key] = doc
            by_title.setdefault(title, doc)
        evidence: list[GoldEvidence] = []
        for title, sent_id in rec["facts"]:
            doc = by_title.get(title)
            if doc is None:
                raise BenchmarkFormatError(
                    str(path), f"question {rec['id']}: supporting fact title {title!r} is not in its context"
                )
            spans = doc.metadata["sentence_spans"]
            # Upstream has a few facts pointing past the paragraph's last sentence: keep them doc-level.
            quote = doc.text[spans[sent_id][0] : spans[sent_id][1]] if 0 <= sent_id < len(spans) else ""
            evidence.append(GoldEvidence(doc_id=doc.id, quote=quote))
        answer = rec["answer"]
        questions.append(
            Question(
                id=rec["id"],
                question=rec["question"],
                type=rec["type"],
                answers=[[str(answer)]] if answer not in (None, "") else [],
                evidence=evidence,
                corpus=NAME,
                doc_ids=list(dict.fromkeys(d.id for d in by_title.values())),
                metadata={
                    "level": rec["level"],
                    "supporting_facts": [[by_title[t].id, i] for t, i in rec["facts"]],
                },
            )
        )
    return Benchmark(name=NAME, documents=list(documents.values()), questions=questions)
