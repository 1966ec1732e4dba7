"""Hybrid retrieval: dense top-k + BM25 top-k, fused by reciprocal rank."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from agentkit.embed import Embedder
from agentkit.errors import InvalidQuestionError
from agentkit.settings import Settings
from agentkit.types import ScoredPassage

if TYPE_CHECKING:  # the index package imports retrieve.filters; avoid the cycle at runtime
    from agentkit.index.store import Snapshot


def rrf_fuse(rankings: Mapping[str, list[int]], rrf_k: int) -> dict[int, float]:
    """Reciprocal-rank fusion: sum over retrievers of 1 / (rrf_k + rank), ranks 1-based."""
    fused: dict[int, float] = {}
    for rows in rankings.values():
        for rank, row in enumerate(rows, start=1):
            fused[row] = fused.get(row, 0.0) + 1.0 / (rrf_k + rank)
    return fused


def _top_positive(scores: np.ndarray, k: int) -> np.ndarray:
    """Rows of the k highest strictly positive scores, best first (ties: lower row first)."""
    positive = np.flatnonzero(scores > 0)
    if positive.size == 0 or k <= 0:
        return positive[:0]
    if positive.size > k:
        part = np.argpartition(-scores[positive], k - 1)[:k]
        positive = positive[part]
    order = np.lexsort((positive, -scores[positive]))
    return positive[order]


class HybridRetriever:
    """Searches one loaded index version. Cheap to construct; the embedder is shared."""

    def __init__(self, snapshot: Snapshot, embedder: Embedder, settings: Settings):
        self.snapshot = snapshot
        self.embedder = embedder
        self.settings = settings

    def search(self, query: str, k: int = 10, *, filters: Mapping[str, Any] | None = None,
               corpora: list[str] | None = None) -> list[ScoredPassage]:
        if not isinstance(query, str) or not query.strip():
            raise InvalidQuestionError("search query is empty; pass a question or keywords")
        snap = self.snapshot
        mask = snap.chunk_mask(filters, corpora)  # validates filters even on an empty index
        if k <= 0 or len(snap) == 0 or (mask is not None and not mask.any()):
            return []
        q = self.embedder.encode([query])[0]
        fused, rankings, bm25 = self._fuse(q, query, mask)
        order = self._order(fused, q)
        if self.settings.expand_query and order:
            # Second hop (pseudo-relevance feedback): the best passage usually names the bridge entity a
            # multi-hop question never mentions; searching with it finds the other paragraph. The first
            # search's leaders keep their places so single-hop results do not degrade.
            top_text = snap.chunk(order[0]).text[: self.settings.expansion_chars]
            q2_text = query + "\n" + top_text
            q2 = self.embedder.encode([q2_text])[0]
            fused2, _, _ = self._fuse(q2, q2_text, mask)
            keep = order[: self.settings.expansion_keep]
            merged = list(dict.fromkeys(keep + self._order(fused2, q2) + order))
            # the merged order is the ranking; its score must fall with rank so callers can merge lists
            fused = {row: 2.0 / (self.settings.rrf_k + pos) for pos, row in enumerate(merged, start=1)}
            order = merged
        order = order[:k]
        dense_of = dict(zip(order, np.asarray(snap.vectors[np.asarray(order, dtype=np.int64)] @ q,
                                              dtype=np.float32).tolist())) if order else {}

        rank_of = {name: {row: i for i, row in enumerate(rs, start=1)} for name, rs in rankings.items()}
        out = []
        for row in order:
            chunk = snap.chunk(row)
            rec = snap.docs[int(snap.chunks.doc[row])]
            out.append(ScoredPassage(
                chunk=chunk, title=rec.title, source=rec.source, corpus=rec.corpus, metadata=dict(rec.metadata),
                scores={"dense": float(dense_of[row]), "bm25": float(bm25[row]) if bm25 is not None else 0.0,
                        "rrf": float(fused[row])},
                ranks={name: ranks[row] for name, ranks in rank_of.items() if row in ranks},
                score=float(fused[row]),
            ))
        return out

    def _fuse(self, q: np.ndarray, text: str, mask):
        snap = self.snapshot
        dense_rows, _ = snap.dense.search(q, self.settings.k_dense, mask)
        bm25 = snap.sparse.scores(text)
        if bm25 is not None and mask is not None:
            bm25 = np.where(mask, bm25, 0.0)
        sparse_rows = _top_positive(bm25, self.settings.k_sparse) if bm25 is not None else np.zeros(0, np.int64)
        rankings = {"dense": dense_rows.tolist(), "bm25": sparse_rows.tolist()}
        return rrf_fuse(rankings, self.settings.rrf_k), rankings, bm25

    def _order(self, fused: dict[int, float], q: np.ndarray) -> list[int]:
        rows = np.fromiter(fused, dtype=np.int64, count=len(fused))
        # ties broken by raw dense similarity, then row, so results are deterministic
        dense = dict(zip(rows.tolist(), np.asarray(self.snapshot.vectors[rows] @ q, dtype=np.float32).tolist()))
        return sorted(fused, key=lambda r: (-fused[r], -dense[r], r))
