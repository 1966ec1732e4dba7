"""PubMedQA PQA-L JSON keyed by PMID: ``{pmid: {QUESTION, CONTEXTS[], LABELS[], MESHES, YEAR,
final_decision, LONG_ANSWER}}``. One document per PMID: the abstract's context paragraphs joined by blank
lines, with ``metadata["sections"] = [{label, start, end}]`` from LABELS (BACKGROUND, METHODS...)."""

from __future__ import annotations

from pathlib import Path

from agentkit.types import Document
from evals.loaders._common import read_json, require
from evals.types import Benchmark, BenchmarkFormatError, GoldEvidence, Question

NAME = "pubmedqa"
_SEP = "\n\n"


def load_pubmedqa(path: Path, limit: int | None = None) -> Benchmark:
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict):
        raise BenchmarkFormatError(str(path), "expected a JSON object keyed by PMID (PQA-L format)")
    documents: list[Document] = []
    questions: list[Question] = []
    for pmid, rec in list(data.items())[:limit]:
        require(rec, ("QUESTION", "CONTEXTS", "final_decision"), path, f"PMID {pmid}")
        contexts = [str(c) for c in rec["CONTEXTS"]]
        labels = list(rec.get("LABELS") or [])
        sections = []
        pos = 0
        for i, ctx in enumerate(contexts):
            sections.append(
                {"label": labels[i] if i < len(labels) else "", "start": pos, "end": pos + len(ctx)}
            )
            pos += len(ctx) + len(_SEP)
        doc = Document(
            id=f"{NAME}/{pmid}",
            source=f"{path}#{pmid}",
            title=f"PMID {pmid}",
            text=_SEP.join(contexts),
            corpus=NAME,
            metadata={
                "sections": sections,
                "meshes": rec.get("MESHES", []),
                "year": rec.get("YEAR"),
                "format": NAME,
            },
        )
        documents.append(doc)
        decision = str(rec["final_decision"]).strip().lower()
        questions.append(
            Question(
                id=str(pmid),
                question=rec["QUESTION"],
                type="yes_no",
                answers=[[decision]],
                evidence=[GoldEvidence(doc_id=doc.id)],
                corpus=NAME,
                doc_ids=[doc.id],
                metadata={"long_answer": rec.get("LONG_ANSWER", ""), "final_decision": decision},
            )
        )
    return Benchmark(name=NAME, documents=documents, questions=questions)
