"""BM25 over chunks, backed by ``bm25s``.

BM25 weights depend on corpus-wide statistics (idf, average length), so every commit rebuilds
the score matrix. What stays incremental is the tokenisation: each chunk's token ids are kept
(``bm25_tokens.npy`` + ``bm25_offsets.npy``) against a vocabulary that only grows, so a commit
tokenises only the new chunks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np
from bm25s.stopwords import STOPWORDS_EN

_TOKEN_RE = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = frozenset(STOPWORDS_EN)

TOKENS_FILE = "bm25_tokens.npy"
OFFSETS_FILE = "bm25_offsets.npy"
BM25_DIR = "bm25"


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens without English stopwords (no stemming: PyStemmer is not a dependency)."""
    return [t for t in _TOKEN_RE.findall(text.lower()) if t not in _STOPWORDS]


class TokenStore:
    """Token ids of every chunk (CSR-like: flat ids + offsets) and the growing vocabulary."""

    def __init__(self, vocab: dict[str, int], tokens: np.ndarray, offsets: np.ndarray):
        self.vocab = vocab
        self.tokens = tokens
        self.offsets = offsets

    @classmethod
    def empty(cls) -> TokenStore:
        return cls({}, np.zeros(0, dtype=np.int32), np.zeros(1, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def select_and_extend(self, keep_rows: np.ndarray, new_texts: Sequence[str]) -> TokenStore:
        """A new store holding rows ``keep_rows`` (ascending) of this one followed by ``new_texts`` tokenised."""
        vocab = dict(self.vocab)
        all_lengths = np.diff(self.offsets)
        keep = np.zeros(len(self), dtype=bool)
        keep[keep_rows] = True
        lengths = all_lengths[keep]
        pieces = [np.asarray(self.tokens)[np.repeat(keep, all_lengths)]]
        new_lengths = []
        for text in new_texts:
            ids = [vocab.setdefault(tok, len(vocab)) for tok in tokenize(text)]
            pieces.append(np.asarray(ids, dtype=np.int32))
            new_lengths.append(len(ids))
        all_lengths = np.concatenate([lengths, np.asarray(new_lengths, dtype=np.int64)])
        offsets = np.zeros(len(all_lengths) + 1, dtype=np.int64)
        np.cumsum(all_lengths, out=offsets[1:])
        tokens = np.concatenate(pieces).astype(np.int32)
        return TokenStore(vocab, tokens, offsets)

    def rows(self) -> list[list[int]]:
        return [self.tokens[s:e].tolist() for s, e in zip(self.offsets[:-1].tolist(), self.offsets[1:].tolist())]

    def save(self, directory: Path) -> list[Path]:
        np.save(directory / TOKENS_FILE, self.tokens)
        np.save(directory / OFFSETS_FILE, self.offsets)
        return [directory / TOKENS_FILE, directory / OFFSETS_FILE]

    @classmethod
    def load(cls, directory: Path, vocab: dict[str, int]) -> TokenStore:
        tokens = np.load(directory / TOKENS_FILE, mmap_mode="r")
        offsets = np.load(directory / OFFSETS_FILE)
        return cls(vocab, tokens, offsets)


def lucene_matrix(tokens: TokenStore, k1: float, b: float) -> dict:
    """The BM25 (Lucene variant) score matrix in bm25s's CSC layout, built with vectorised numpy.

    Same numbers as ``bm25s.BM25().index((token_ids, vocab))`` (a test checks it), without its
    per-document Python loop, which at a million chunks would dominate every commit.
    """
    n = len(tokens)
    flat = np.asarray(tokens.tokens, dtype=np.int64)
    n_vocab = max(len(tokens.vocab), int(flat.max()) + 1 if flat.size else 0)
    lengths = np.diff(tokens.offsets)
    rows = np.repeat(np.arange(n, dtype=np.int64), lengths)
    pairs, tf = np.unique(rows * n_vocab + flat, return_counts=True)  # sorted by (row, token)
    doc, col = pairs // n_vocab, pairs % n_vocab
    df = np.bincount(col, minlength=n_vocab)
    idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
    norm = (k1 * ((1 - b) + b * lengths / lengths.mean())).astype(np.float32)
    tf = tf.astype(np.float32)
    data = idf[col] * (tf / (norm[doc] + tf))
    order = np.argsort(col * n + doc, kind="stable")  # CSC: by column, then row
    indptr = np.zeros(n_vocab + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    return {"data": data[order].astype(np.float32), "indices": doc[order].astype(np.int32), "indptr": indptr,
            "num_docs": n}


class SparseIndex:
    """BM25 scores for all chunks; row i of the index is chunk i of the snapshot."""

    def __init__(self, bm25: bm25s.BM25 | None, n_rows: int):
        self._bm25 = bm25
        self.n_rows = n_rows

    @property
    def vocab(self) -> dict[str, int]:
        return dict(self._bm25.vocab_dict) if self._bm25 is not None else {}

    @classmethod
    def build(cls, tokens: TokenStore) -> SparseIndex:
        n = len(tokens)
        if n == 0 or tokens.tokens.size == 0:
            return cls(None, n)  # nothing to match: every query gets no BM25 hits
        bm25 = bm25s.BM25()  # lucene variant, k1=1.5, b=0.75
        bm25.scores = lucene_matrix(tokens, bm25.k1, bm25.b)
        bm25.vocab_dict = dict(tokens.vocab)  # token -> column; ids are 0..V-1
        bm25.unique_token_ids_set = set(bm25.vocab_dict.values())
        bm25.nonoccurrence_array = None
        return cls(bm25, n)

    def save(self, directory: Path) -> list[Path]:
        out = directory / BM25_DIR
        out.mkdir()
        if self._bm25 is not None:
            self._bm25.save(str(out), show_progress=False)
        else:
            (out / "EMPTY").write_text("no chunks\n")
        return sorted(p for p in out.iterdir())

    @classmethod
    def load(cls, directory: Path, n_rows: int) -> SparseIndex:
        path = directory / BM25_DIR
        if (path / "EMPTY").is_file():
            return cls(None, n_rows)
        bm25 = bm25s.BM25.load(str(path), mmap=False, show_progress=False)
        num_docs = bm25.scores.get("num_docs")
        if num_docs != n_rows:
            raise ValueError(f"BM25 index holds {num_docs} rows, expected {n_rows}")
        return cls(bm25, n_rows)

    def query_ids(self, query: str) -> np.ndarray:
        if self._bm25 is None:
            return np.zeros(0, dtype=np.int32)
        vocab = self._bm25.vocab_dict
        ids = {vocab[t] for t in tokenize(query) if t in vocab}
        return np.fromiter(sorted(ids), dtype=np.int32, count=len(ids))

    def scores(self, query: str) -> np.ndarray | None:
        """BM25 score of every row, or None when no query term is in the vocabulary."""
        ids = self.query_ids(query)
        if ids.size == 0:
            return None
        return self._bm25.get_scores_from_ids(ids.tolist())
