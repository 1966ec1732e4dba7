"""FinanceBench JSONL (patronus-ai/financebench ``financebench_open_source.jsonl``): ``financebench_id,
company,
doc_name, question, answer, justification, question_type, question_reasoning, evidence: [{evidence_text,
doc_name, evidence_page_num, evidence_text_full_page?}]``.

The filings themselves are PDFs outside the JSONL, so documents are built from the evidence: one per
(filing, page), holding the full page text when the record ships it, else the evidence text. Gold quotes
are the evidence texts located verbatim in that document (whitespace-insensitively, as PDF extraction
spacing differs); evidence that cannot be located becomes its own document so its quote stays verbatim.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentkit.types import Document
from evals.loaders._common import find_verbatim, read_records, require, short_hash, slugify
from evals.types import Benchmark, GoldEvidence, Question

NAME = "financebench"


def load_financebench(path: Path, limit: int | None = None) -> Benchmark:
    path = Path(path)
    documents: dict[str, Document] = {}
    questions: list[Question] = []
    for n, rec in enumerate(read_records(path, limit)):
        require(rec, ("financebench_id", "question", "answer"), path, f"record {n}")
        evidence: list[GoldEvidence] = []
        for item in rec.get("evidence") or []:
            ev = _add_evidence(documents, item, rec, path)
            if ev is not None and ev not in evidence:
                evidence.append(ev)
        questions.append(
            Question(
                id=str(rec["financebench_id"]),
                question=rec["question"],
                type=rec.get("question_type") or "single_hop",
                answers=[[str(rec["answer"])]] if str(rec["answer"]).strip() else [],
                evidence=evidence,
                corpus=NAME,
                doc_ids=list(dict.fromkeys(e.doc_id for e in evidence)),
                metadata={
                    "company": rec.get("company"),
                    "doc_name": rec.get("doc_name"),
                    "justification": rec.get("justification") or "",
                    "question_reasoning": rec.get("question_reasoning"),
                    "question_type": rec.get("question_type"),
                },
            )
        )
    return Benchmark(name=NAME, documents=list(documents.values()), questions=questions)


def _add_evidence(
    documents: dict[str, Document], item: dict[str, Any], rec: dict[str, Any], path: Path
) -> GoldEvidence | None:
    quote = str(item.get("evidence_text") or "").strip()
    page_text = str(item.get("evidence_text_full_page") or "")
    if not quote and not page_text:
        return None
    doc_name = str(item.get("doc_name") or item.get("evidence_doc_name") or rec.get("doc_name") or "unknown")
    page = item.get("evidence_page_num")
    base_id = f"{NAME}/{slugify(doc_name)}" + (f"/p{page}" if page is not None else "")
    metadata = {"doc_name": doc_name, "page": page, "company": rec.get("company"), "format": NAME}
    text = page_text or quote
    doc = documents.get(base_id)
    if doc is None:
        doc = documents[base_id] = Document(
            id=base_id, source=f"{path}#{doc_name}", title=doc_name, text=text, corpus=NAME, metadata=metadata
        )
    span = find_verbatim(doc.text, quote) if quote else None
    if quote and span is None:
        # The quote is not on the page we hold (no full page, or another extraction): its own document.
        doc_id = f"{base_id}/{short_hash(quote)}"
        doc = documents.setdefault(
            doc_id,
            Document(
                id=doc_id,
                source=f"{path}#{doc_name}",
                title=doc_name,
                text=quote,
                corpus=NAME,
                metadata=metadata,
            ),
        )
        span = (0, len(quote))
    return GoldEvidence(doc_id=doc.id, quote=doc.text[span[0] : span[1]] if span else "")
