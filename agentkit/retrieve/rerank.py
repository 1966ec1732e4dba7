"""Rerankers: re-score a short list of fused candidates with a stronger (slower) relevance signal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from agentkit.embed import Embedder
from agentkit.index.text import embed_text
from agentkit.types import ScoredPassage

VectorLookup = Callable[[list[str]], list[np.ndarray | None]]


@runtime_checkable
class Reranker(Protocol):
    name: str

    def rerank(self, query: str, passages: list[ScoredPassage], top_k: int | None = None) -> list[ScoredPassage]:
        """Set ``scores["rerank"]`` in [0, 1], ``ranks["rerank"]`` and ``score``; return best-first."""
        ...


def apply_rerank_scores(passages: list[ScoredPassage], scores: list[float], top_k: int | None) -> list[ScoredPassage]:
    """Shared bookkeeping for rerankers: copy passages, attach scores and ranks, sort, cut."""
    scored = []
    for p, s in zip(passages, scores, strict=True):
        s = float(min(1.0, max(0.0, s)))
        scored.append(p.model_copy(update={"scores": {**p.scores, "rerank": s}, "score": s, "ranks": dict(p.ranks)}))
    # stable sort: ties keep the fused order
    scored.sort(key=lambda p: -p.score)
    for rank, p in enumerate(scored, start=1):
        p.ranks["rerank"] = rank
    return scored[:top_k] if top_k is not None else scored


class EmbeddingReranker:
    """Cheap tier: max(0, cosine) between the query and the passage's ``title + "\\n" + text`` embedding.

    ``vectors`` may look up already-stored embeddings by chunk id (the index keeps them), so
    reranking costs one query embedding; passages it cannot find are embedded on the fly.
    """

    name = "embedding"

    def __init__(self, embedder: Embedder, vectors: VectorLookup | None = None):
        self.embedder = embedder
        self._lookup = vectors

    def rerank(self, query: str, passages: list[ScoredPassage], top_k: int | None = None) -> list[ScoredPassage]:
        if not passages:
            return []
        q = self.embedder.encode([query])[0]
        found = self._lookup([p.chunk.id for p in passages]) if self._lookup else [None] * len(passages)
        missing = [i for i, v in enumerate(found) if v is None]
        if missing:
            fresh = self.embedder.encode([embed_text(passages[i].title, passages[i].text) for i in missing])
            for i, vec in zip(missing, fresh):
                found[i] = vec
        matrix = np.vstack([np.asarray(v, dtype=np.float32) for v in found])
        return apply_rerank_scores(passages, (matrix @ q).tolist(), top_k)
