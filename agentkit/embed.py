"""Sentence embeddings (the dense retriever's and the cheap reranker's model). Loaded once per process."""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Protocol

import numpy as np

from agentkit import models


class Embedder(Protocol):
    name: str
    dim: int

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """L2-normalised float32 matrix of shape (len(texts), dim)."""
        ...


class SentenceTransformerEmbedder:
    def __init__(self, name_or_path: str = "minilm", device: str = "cpu"):
        from sentence_transformers import SentenceTransformer

        path = models.resolve_embedder(name_or_path)
        self.name = name_or_path
        self._model = SentenceTransformer(str(path), device=device, local_files_only=True)
        dim_of = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dim_of())
        self._lock = threading.Lock()  # torch modules are not re-entrant across threads

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        with self._lock:
            # A single query is latency-bound: one thread avoids oversubscription stalls (20 ms vs 100s of
            # ms when the CPU is busy); batches keep torch's default parallelism for throughput.
            threads = torch.get_num_threads()
            if len(texts) <= 4:
                torch.set_num_threads(1)
            try:
                vecs = self._model.encode(
                    list(texts), batch_size=batch_size, normalize_embeddings=True,
                    convert_to_numpy=True, show_progress_bar=False,
                )
            finally:
                torch.set_num_threads(threads)
        return np.ascontiguousarray(vecs, dtype=np.float32)


@lru_cache(maxsize=4)
def load_embedder(name_or_path: str = "minilm") -> SentenceTransformerEmbedder:
    """One instance per model per process: loading takes seconds, queries take milliseconds."""
    return SentenceTransformerEmbedder(name_or_path)
