"""Retrieval tools over indexed corpora: ``search_corpus`` and ``read_span``.

Both are read-only. Their output is document text, which is untrusted: it goes back to the model
as an observation and is never parsed for instructions or tool calls (see ``agentkit.tools``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from agentkit.errors import AgentkitError, ToolError
from agentkit.tools.registry import Tool, ToolOutput
from agentkit.types import Document, ScoredPassage

MAX_K = 20
DEFAULT_SNIPPET_CHARS = 300
DEFAULT_SPAN_CHARS = 1500


class SearchableCorpus(Protocol):
    """The part of ``agentkit.Corpus`` these tools use (a Protocol keeps them testable and decoupled)."""

    def search(self, query: str, k: int = 10, *, filters: dict | None = None, corpora: list[str] | None = None,
               rerank: Any = False) -> list[ScoredPassage]: ...

    def document(self, doc_id: str) -> Document: ...


class SearchCorpusArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=300, description="keywords or a question")
    k: int = Field(5, ge=1, le=MAX_K, description="how many passages to return")


class ReadSpanArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    doc_id: str = Field(min_length=1, max_length=200, description="a doc id from search_corpus results")
    start: int = Field(ge=0, description="first character offset")
    end: int = Field(ge=0, description="character offset after the last one")


class DocumentSpan(BaseModel):
    """Exactly ``document.text[start:end]``, ready to cite."""

    doc_id: str
    title: str = ""
    source: str = ""
    start: int
    end: int
    text: str


def snippet(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: max(0, limit - 3)].rstrip() + "..."


def merge_results(per_corpus: list[list[ScoredPassage]], k: int, by_score: bool) -> list[ScoredPassage]:
    """Merge per-corpus rankings: by reranker score when one ran (comparable across corpora), else
    round-robin by rank, because fused RRF scores from different indexes are not comparable."""
    if by_score:
        ordered = sorted((p for ps in per_corpus for p in ps), key=lambda p: p.score, reverse=True)
    else:
        ordered = [ps[i] for i in range(max((len(ps) for ps in per_corpus), default=0))
                   for ps in per_corpus if i < len(ps)]
    seen: set[str] = set()
    merged = []
    for p in ordered:
        if p.chunk.id not in seen:
            seen.add(p.chunk.id)
            merged.append(p)
    return merged[:k]


def format_passages(passages: list[ScoredPassage], snippet_chars: int) -> str:
    lines = []
    for i, p in enumerate(passages, 1):
        title = f' "{p.title}"' if p.title else ""
        lines.append(f"[{i}] doc {p.doc_id}{title} | chunk {p.chunk.id} | chars {p.chunk.start}-{p.chunk.end}")
        lines.append(f"    {snippet(p.chunk.text, snippet_chars)}")
    return "\n".join(lines)


@dataclass
class SearchCorpusTool:
    corpora: list[SearchableCorpus]
    reranker: Any = None
    snippet_chars: int = DEFAULT_SNIPPET_CHARS
    name: str = "search_corpus"
    description: str = ("Search the documents; returns numbered passages with doc id, title, chunk id, "
                        "character span and a snippet.")
    args_model: type[BaseModel] = field(default=SearchCorpusArgs)

    def run(self, args: SearchCorpusArgs) -> ToolOutput:
        rerank = self.reranker if self.reranker is not None else False
        per_corpus = [c.search(args.query, k=args.k, rerank=rerank) for c in self.corpora]
        passages = merge_results(per_corpus, args.k, by_score=self.reranker is not None)
        if not passages:
            return ToolOutput(content=f"No passages found for {args.query!r}; try other keywords.", data=[])
        return ToolOutput(content=format_passages(passages, self.snippet_chars), data=passages)


def find_document(corpora: Iterable[SearchableCorpus], doc_id: str) -> Document:
    for corpus in corpora:
        try:
            return corpus.document(doc_id)
        except (KeyError, LookupError, AgentkitError):
            continue
    raise ToolError(f"unknown document id {doc_id!r}; use a doc id exactly as shown in search_corpus results")


@dataclass
class ReadSpanTool:
    corpora: list[SearchableCorpus]
    max_chars: int = DEFAULT_SPAN_CHARS
    name: str = "read_span"
    description: str = ""
    args_model: type[BaseModel] = field(default=ReadSpanArgs)

    def __post_init__(self) -> None:
        if not self.description:
            self.description = (f"Read the exact text of a document between two character offsets "
                                f"(at most {self.max_chars} chars), e.g. around a search result.")

    def run(self, args: ReadSpanArgs) -> ToolOutput:
        doc = find_document(self.corpora, args.doc_id)
        n = len(doc.text)
        if args.start >= n:
            raise ToolError(f"start {args.start} is beyond the end of {doc.id} ({n} chars)")
        if args.end <= args.start:
            raise ToolError(f"end ({args.end}) must be greater than start ({args.start})")
        end = min(args.end, n, args.start + self.max_chars)
        note = ""
        if end < args.end:
            reason = "document end" if end == n else f"limit of {self.max_chars} chars"
            note = f"; cut at {reason}"
        span = DocumentSpan(doc_id=doc.id, title=doc.title, source=doc.source, start=args.start, end=end,
                            text=doc.text[args.start:end])
        header = f"{doc.id} [{args.start}:{end}] of {n} chars{note}:"
        return ToolOutput(content=f"{header}\n{span.text}", data=span)


def make_corpus_tools(corpora: list[SearchableCorpus], reranker: Any = None, *,
                      snippet_chars: int = DEFAULT_SNIPPET_CHARS, span_chars: int = DEFAULT_SPAN_CHARS) -> list[Tool]:
    """``search_corpus`` and ``read_span`` over ``corpora`` (searched in order, results merged).

    ``reranker`` (an ``agentkit.retrieve.rerank.Reranker``) is passed to ``Corpus.search``.
    """
    if not corpora:
        raise ToolError("make_corpus_tools needs at least one corpus")
    corpora = list(corpora)
    return [SearchCorpusTool(corpora, reranker=reranker, snippet_chars=snippet_chars),
            ReadSpanTool(corpora, max_chars=span_chars)]
