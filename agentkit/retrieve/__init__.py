"""Retrieval over an index: hybrid dense+BM25 search, filters, rerankers."""

from agentkit.retrieve.filters import InvalidFilterError, compile_filters
from agentkit.retrieve.hybrid import HybridRetriever, rrf_fuse
from agentkit.retrieve.rerank import EmbeddingReranker, Reranker, apply_rerank_scores

__all__ = [
    "EmbeddingReranker",
    "HybridRetriever",
    "InvalidFilterError",
    "Reranker",
    "apply_rerank_scores",
    "compile_filters",
    "rrf_fuse",
]
