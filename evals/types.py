"""The evaluation data model: every benchmark loader produces a ``Benchmark`` of Documents and Questions.

Answers are a list of *required* answers, each a list of aliases: ``[["Paris", "Paris, France"]]`` is one
answer with two accepted spellings, ``[["red"], ["blue"]]`` requires both, ``[]`` means unanswerable.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from agentkit.errors import IngestError
from agentkit.types import Document


class GoldEvidence(BaseModel):
    doc_id: str
    quote: str = Field("", description="verbatim span of the document; empty when only the document is known")


class Question(BaseModel):
    id: str
    question: str
    type: str = Field(
        description="single_hop | multi_hop | comparison | bridge | numeric | unanswerable | conflicting | "
        "injection | yes_no | span | multi-span | arithmetic | count ..."
    )
    answers: list[list[str]] = Field(description="required answers, each with its aliases; [] = unanswerable")
    wrong_answers: list[str] = Field(default_factory=list)
    evidence: list[GoldEvidence] = Field(default_factory=list)
    corpus: str = ""
    doc_ids: list[str] = Field(default_factory=list, description="this question's own context pool, if any")
    resolution: str | None = Field(
        None, description="conflicting questions: the answer that document metadata settles on, if any")
    resolution_rule: Literal["date", "authority"] | None = Field(
        None, description="which metadata settles it: the newer source, or the more authoritative one")
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


class Benchmark(BaseModel):
    name: str
    documents: list[Document]
    questions: list[Question]

    def document_map(self) -> dict[str, Document]:
        return {d.id: d for d in self.documents}

    def limit(self, n: int | None) -> Benchmark:
        """The first ``n`` questions and only the documents they refer to (all documents if none do)."""
        if n is None or n >= len(self.questions):
            return self
        if n < 0:
            raise ValueError("limit must be >= 0")
        questions = self.questions[:n]
        wanted = {d for q in questions for d in q.doc_ids} | {e.doc_id for q in questions for e in q.evidence}
        has_pools = any(q.doc_ids for q in self.questions)
        documents = [d for d in self.documents if d.id in wanted] if has_pools else self.documents
        return Benchmark(name=self.name, documents=documents, questions=questions)


class BenchmarkFormatError(IngestError):
    """A benchmark file is missing, unreadable or not in the expected upstream format."""
