"""Dense (embedding) search over chunk vectors with FAISS.

Small corpora use exact inner product (``IndexFlatIP``, rebuilt from ``vectors.npy`` on open:
a memcpy). Above ``settings.ann_threshold`` chunks the index becomes IVF-Flat: unlike HNSW it
supports ``remove_ids``, so updates and deletes are applied in place to the stored index and
never need a rebuild. Vectors carry stable ids (``vid``) that survive row reshuffles.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Protocol

import faiss
import numpy as np

from agentkit.index.manifest import DenseInfo

DENSE_FILE = "dense.faiss"
# Below this many allowed rows a filtered search is exact over the subset: cheap, and IVF with
# a restrictive selector would otherwise return fewer than k hits.
EXACT_SUBSET_MAX = 20_000
# Retrain IVF centroids when the corpus grew or shrank this much since training.
RETRAIN_FACTOR = 4


class DenseIndex(Protocol):
    kind: str

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, inner products) of the best ``k`` rows, best first; ``allowed`` is a boolean row mask."""
        ...


def _topk(scores: np.ndarray, k: int) -> np.ndarray:
    k = min(k, scores.shape[0])
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


def exact_search(vectors: np.ndarray, query: np.ndarray, k: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sims = vectors[rows] @ query
    best = _topk(sims, k)
    return rows[best], sims[best]


class FlatDense:
    kind = "flat_ip"

    def __init__(self, vectors: np.ndarray):
        self._vectors = vectors
        self._index = faiss.IndexFlatIP(vectors.shape[1])
        if len(vectors):
            self._index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        n = self._index.ntotal
        if n == 0 or k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if allowed is not None:
            return exact_search(self._vectors, query, k, np.flatnonzero(allowed))
        scores, ids = self._index.search(query.reshape(1, -1), min(k, n))
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]


class IVFDense:
    kind = "ivf_flat"

    def __init__(self, index: faiss.Index, row_vids: np.ndarray, vectors: np.ndarray, nprobe: int):
        self._index = index
        self._index.nprobe = nprobe
        self.nprobe = nprobe
        self._vectors = vectors
        self._row_vids = row_vids
        size = int(row_vids.max()) + 1 if len(row_vids) else 0
        self._row_of_vid = np.full(size, -1, dtype=np.int64)
        self._row_of_vid[row_vids] = np.arange(len(row_vids))

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        if self._index.ntotal == 0 or k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        params = None
        if allowed is not None:
            rows = np.flatnonzero(allowed)
            if len(rows) <= EXACT_SUBSET_MAX:
                return exact_search(self._vectors, query, k, rows)
            bits = np.zeros(len(self._row_of_vid), dtype=bool)
            bits[self._row_vids[rows]] = True
            packed = np.packbits(bits, bitorder="little")
            selector = faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(packed))
            params = faiss.SearchParametersIVF(nprobe=self.nprobe, sel=selector)
        scores, vids = self._index.search(query.reshape(1, -1), k, params=params)
        keep = vids[0] >= 0
        return self._row_of_vid[vids[0][keep]], scores[0][keep]


def ivf_params(n: int) -> tuple[int, int]:
    """(nlist, nprobe) for n vectors: ~4*sqrt(n) lists, probing enough of them for high recall@50."""
    nlist = int(min(65_536, max(64, 4 * math.sqrt(n))))
    # 1/8 of the lists (recall@50 vs exact ~0.9 on MiniLM vectors of real passages), capped at 128 lists
    # so a million chunks scan ~3% of the vectors and stay within the latency budget
    nprobe = min(nlist, max(32, min(nlist // 8, 128)))
    return nlist, nprobe


def train_ivf(vectors: np.ndarray, vids: np.ndarray, seed: int = 0) -> tuple[faiss.Index, DenseInfo]:
    n, dim = vectors.shape
    nlist, nprobe = ivf_params(n)
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.own_fields = True
    quantizer.this.disown()  # the IVF index owns (and frees) its quantizer
    # 32 points per list and 10 k-means iterations: centroids good enough for IVF at a fraction of the
    # default cost (training is part of a commit)
    index.cp.niter = 10
    index.cp.min_points_per_centroid = 8  # small corpora just above the threshold: train anyway, quietly
    rng = np.random.default_rng(seed)
    sample_n = min(n, 32 * nlist)
    sample = vectors[np.sort(rng.choice(n, size=sample_n, replace=False))] if sample_n < n else vectors
    index.train(np.ascontiguousarray(sample, dtype=np.float32))
    _add(index, vectors, vids)
    return index, DenseInfo(kind="ivf_flat", nlist=nlist, nprobe=nprobe, trained_at=n)


def _add(index: faiss.Index, vectors: np.ndarray, vids: np.ndarray, batch: int = 65_536) -> None:
    for i in range(0, len(vectors), batch):
        index.add_with_ids(
            np.ascontiguousarray(vectors[i : i + batch], dtype=np.float32),
            np.ascontiguousarray(vids[i : i + batch], dtype=np.int64),
        )


def needs_ann(n: int, threshold: int, current: DenseInfo) -> bool:
    """IVF above the threshold; once IVF, stay IVF until the corpus halves (avoids flapping at the boundary)."""
    if current.kind == "ivf_flat":
        return n > threshold // 2
    return n > threshold


def update_ivf(
    previous: Path, info: DenseInfo, vectors: np.ndarray, vids: np.ndarray,
    removed_vids: np.ndarray, added_vectors: np.ndarray, added_vids: np.ndarray,
) -> tuple[faiss.Index, DenseInfo]:
    """Apply a commit to the previous version's IVF index, or retrain when its lists no longer fit the size."""
    n = len(vectors)
    if info.kind != "ivf_flat" or not (info.trained_at / RETRAIN_FACTOR <= n <= info.trained_at * RETRAIN_FACTOR):
        return train_ivf(vectors, vids)
    index = faiss.read_index(str(previous / DENSE_FILE))
    if len(removed_vids):
        index.remove_ids(np.ascontiguousarray(removed_vids, dtype=np.int64))
    _add(index, added_vectors, added_vids)
    return index, info


def load_dense(directory: Path, info: DenseInfo, vectors: np.ndarray, row_vids: np.ndarray) -> DenseIndex:
    if info.kind == "flat_ip":
        return FlatDense(vectors)
    index = faiss.read_index(str(directory / DENSE_FILE))
    if index.ntotal != len(vectors) or index.d != vectors.shape[1]:
        raise ValueError(f"{DENSE_FILE} holds {index.ntotal}x{index.d} vectors, expected {vectors.shape}")
    return IVFDense(index, row_vids, vectors, info.nprobe)


def save_dense(directory: Path, index: faiss.Index | None) -> list[Path]:
    if index is None:
        return []
    faiss.write_index(index, str(directory / DENSE_FILE))
    return [directory / DENSE_FILE]
