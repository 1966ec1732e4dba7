"""The data contract of the whole library.

Every stage speaks these types: ingest produces Documents and Chunks, retrieval produces
ScoredPassages, generation produces an Answer whose sentences carry Citations. The central
invariant, tested: ``document.text[chunk.start:chunk.end] == chunk.text`` and the same for
every Citation's quote.
"""

from __future__ import annotations

import hashlib
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Document(BaseModel):
    """A whole source document. ``text`` is the normalised full text all offsets refer to."""

    model_config = ConfigDict(frozen=False)

    id: str
    source: str = Field(description="Path or URI the document was ingested from")
    title: str = ""
    text: str
    corpus: str = "default"
    metadata: dict[str, Any] = Field(
        default_factory=dict,
        description="Free metadata; known keys: date (ISO), authority (0..1 or label), pages [[page, start]]",
    )
    sha256: str = ""

    @model_validator(mode="after")
    def _fill_hash(self) -> Document:
        if not self.sha256:
            self.sha256 = sha256_text(self.text)
        return self

    def page_at(self, offset: int) -> int | None:
        """Page number (1-based) containing ``offset`` for paged sources (PDF), else None."""
        pages = self.metadata.get("pages")
        if not pages:
            return None
        current = None
        for page, start in pages:
            if start <= offset:
                current = page
            else:
                break
        return current


class Chunk(BaseModel):
    """A span of a Document: ``text == document.text[start:end]``."""

    id: str
    doc_id: str
    text: str
    start: int
    end: int
    page: int | None = None
    section: str | None = None

    @model_validator(mode="after")
    def _check_span(self) -> Chunk:
        if self.end - self.start != len(self.text) or self.start < 0:
            raise ValueError(f"chunk {self.id}: span [{self.start},{self.end}) does not match text length")
        return self


class ScoredPassage(BaseModel):
    """A retrieved chunk with the scores that put it there."""

    chunk: Chunk
    title: str = ""
    source: str = ""
    corpus: str = "default"
    metadata: dict[str, Any] = Field(default_factory=dict)
    scores: dict[str, float] = Field(default_factory=dict, description="per-retriever raw scores, e.g. dense, bm25, rerank")
    ranks: dict[str, int] = Field(default_factory=dict, description="per-retriever 1-based ranks")
    score: float = 0.0

    @property
    def doc_id(self) -> str:
        return self.chunk.doc_id

    @property
    def text(self) -> str:
        return self.chunk.text


class Citation(BaseModel):
    """A verbatim span of a source document that supports a claim."""

    doc_id: str
    chunk_id: str
    source: str
    title: str = ""
    start: int
    end: int
    quote: str

    @model_validator(mode="after")
    def _check_span(self) -> Citation:
        if self.end - self.start != len(self.quote) or self.start < 0:
            raise ValueError("citation span does not match quote length")
        return self


class AnswerStatus(str, Enum):
    answered = "answered"
    abstained = "abstained"
    conflict = "conflict"


AbstainReason = Literal[
    "no_relevant_evidence",
    "unsupported_after_verification",
    "conflicting_evidence_unresolved",
    "out_of_scope",
    "step_limit_reached",
]


class AnswerSentence(BaseModel):
    text: str
    citations: list[Citation] = Field(default_factory=list)
    support: float = Field(0.0, ge=0.0, le=1.0, description="verifier's probability that the citations entail the sentence")


class ConflictCandidate(BaseModel):
    answer: str
    citations: list[Citation] = Field(default_factory=list)
    support: int = Field(0, description="number of independent documents backing this answer")
    note: str = ""


class TraceStep(BaseModel):
    stage: str
    seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    detail: dict[str, Any] = Field(default_factory=dict)


class Answer(BaseModel):
    """What ``Agent.ask`` returns. Stable JSON: field names are part of the public API."""

    question: str
    status: AnswerStatus
    answer: str = Field("", description="short form (entity, number, yes/no) used for exact-match scoring")
    sentences: list[AnswerSentence] = Field(default_factory=list)
    confidence: float = Field(0.0, ge=0.0, le=1.0)
    abstain_reason: AbstainReason | None = None
    conflicts: list[ConflictCandidate] = Field(default_factory=list)
    note: str = Field("", description="how disagreeing sources were handled, when they were")
    strategy: str = "grounded"
    trace: list[TraceStep] = Field(default_factory=list)

    @property
    def citations(self) -> list[Citation]:
        seen: dict[tuple[str, int, int], Citation] = {}
        for s in self.sentences:
            for c in s.citations:
                seen.setdefault((c.doc_id, c.start, c.end), c)
        for cand in self.conflicts:
            for c in cand.citations:
                seen.setdefault((c.doc_id, c.start, c.end), c)
        return list(seen.values())

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)
