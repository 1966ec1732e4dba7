"""RAMDocs JSONL: ``{question, documents: [{text, type: correct|misinfo|noise, answer}], disambig_entity,
gold_answers, wrong_answers}``. Each question brings its own documents; records have no id, so the
question id is the 0-based line number (stable for the upstream file and its prefixes)."""

from __future__ import annotations

from pathlib import Path

from agentkit.types import Document
from evals.loaders._common import read_jsonl, require
from evals.types import Benchmark, BenchmarkFormatError, GoldEvidence, Question

NAME = "ramdocs"


def load_ramdocs(path: Path, limit: int | None = None) -> Benchmark:
    path = Path(path)
    documents: list[Document] = []
    questions: list[Question] = []
    for n, rec in enumerate(read_jsonl(path, limit)):
        require(rec, ("question", "documents", "gold_answers"), path, f"record {n}")
        if not isinstance(rec["documents"], list) or not isinstance(rec["gold_answers"], list):
            raise BenchmarkFormatError(str(path), f"record {n}: 'documents' and 'gold_answers' must be lists")
        doc_ids: list[str] = []
        evidence: list[GoldEvidence] = []
        for i, raw in enumerate(rec["documents"]):
            require(raw, ("text",), path, f"record {n} document {i}")
            doc = Document(
                id=f"{NAME}/{n}/{i}",
                source=f"{path}#{n}",
                text=raw["text"],
                corpus=NAME,
                metadata={"type": raw.get("type", ""), "answer": raw.get("answer", ""), "format": NAME},
            )
            documents.append(doc)
            doc_ids.append(doc.id)
            if raw.get("type") == "correct":
                evidence.append(GoldEvidence(doc_id=doc.id))
        types = [d.get("type") for d in rec["documents"]]
        questions.append(
            Question(
                id=f"{NAME}-{n}",
                question=rec["question"],
                type="conflicting",
                answers=[[str(a)] for a in rec["gold_answers"]],
                wrong_answers=[str(a) for a in rec.get("wrong_answers") or []],
                evidence=evidence,
                corpus=NAME,
                doc_ids=doc_ids,
                metadata={
                    "disambig_entity": rec.get("disambig_entity", []),
                    "n_correct": types.count("correct"),
                    "n_misinfo": types.count("misinfo"),
                    "n_noise": types.count("noise"),
                },
            )
        )
    return Benchmark(name=NAME, documents=documents, questions=questions)
