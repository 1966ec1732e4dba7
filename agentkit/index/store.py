"""Versioned on-disk index with atomic commits.

Layout of ``index_dir``::

    CURRENT            name of the live version ("v-000003"), swapped atomically
    LOCK               flock'ed by the one writer at a time
    v-000003/          a complete, immutable version
        manifest.json  what it was built with, per-document sha256s, file sizes
        docs.json      document records (no text) with byte ranges into texts.bin
        texts.bin      UTF-8 document texts, concatenated
        chunks.json    columnar chunk table (ids, doc, start, end, page, section, vid, hash)
        vectors.npy    float32 embedding of every chunk (row i = chunk i)
        bm25_*.npy     token ids per chunk; bm25/ the bm25s score matrix
        dense.faiss    IVF index (only above the ANN threshold; flat IP is rebuilt from vectors)

A commit writes a new version into a ``.tmp-*`` directory, fsyncs it, renames it to ``v-<n>``
and only then replaces CURRENT (temp file + fsync + os.replace + fsync of the directory). A
process killed at any point leaves CURRENT naming the previous complete version; leftovers are
removed by the next writer.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from agentkit.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError
from agentkit.index.dense import DenseIndex, load_dense, needs_ann, save_dense, train_ivf, update_ivf
from agentkit.index.manifest import (
    MANIFEST_NAME,
    ChunkerInfo,
    Counts,
    DenseInfo,
    EmbedderInfo,
    Manifest,
    read_manifest,
)
from agentkit.index.sparse import SparseIndex, TokenStore
from agentkit.index.text import embed_text
from agentkit.retrieve.filters import MISSING, compile_conditions
from agentkit.types import Chunk, Document

CURRENT = "CURRENT"
LOCK = "LOCK"
DOCS_FILE = "docs.json"
TEXTS_FILE = "texts.bin"
CHUNKS_FILE = "chunks.json"
VECTORS_FILE = "vectors.npy"
_VERSION_RE = re.compile(r"^v-(\d{6,})$")
_TMP_PREFIX = ".tmp-"

Progress = Callable[[str, int, int], None]


@dataclass
class DocRecord:
    id: str
    source: str
    title: str
    corpus: str
    metadata: dict[str, Any]
    sha256: str
    offset: int  # byte range of the text in texts.bin
    length: int


@dataclass
class ChunkTable:
    ids: list[str]
    doc: np.ndarray  # int64 index into Snapshot.docs
    start: np.ndarray
    end: np.ndarray
    page: list[int | None]
    section: list[str | None]
    vid: np.ndarray  # stable vector ids (dense index ids)
    hash: list[str]  # hash of embed_text, to reuse vectors of unchanged chunks

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def empty(cls) -> ChunkTable:
        z = np.zeros(0, dtype=np.int64)
        return cls([], z, z, z, [], [], z, [])

    def select(self, rows: np.ndarray) -> ChunkTable:
        r = rows.tolist()
        return ChunkTable(
            ids=[self.ids[i] for i in r], doc=self.doc[rows], start=self.start[rows], end=self.end[rows],
            page=[self.page[i] for i in r], section=[self.section[i] for i in r],
            vid=self.vid[rows], hash=[self.hash[i] for i in r],
        )

    def extend(self, chunks: list[Chunk], doc_index: list[int], vids: np.ndarray, hashes: list[str]) -> ChunkTable:
        def col(values: list[int]) -> np.ndarray:
            return np.asarray(values, dtype=np.int64)

        return ChunkTable(
            ids=self.ids + [c.id for c in chunks],
            doc=np.concatenate([self.doc, col(doc_index)]),
            start=np.concatenate([self.start, col([c.start for c in chunks])]),
            end=np.concatenate([self.end, col([c.end for c in chunks])]),
            page=self.page + [c.page for c in chunks],
            section=self.section + [c.section for c in chunks],
            vid=np.concatenate([self.vid, vids.astype(np.int64)]),
            hash=self.hash + list(hashes),
        )

    def to_json(self) -> dict[str, list]:
        return {
            "id": self.ids, "doc": self.doc.tolist(), "start": self.start.tolist(), "end": self.end.tolist(),
            "page": self.page, "section": self.section, "vid": self.vid.tolist(), "hash": self.hash,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, list]) -> ChunkTable:
        table = cls(
            ids=list(raw["id"]), doc=np.asarray(raw["doc"], dtype=np.int64),
            start=np.asarray(raw["start"], dtype=np.int64), end=np.asarray(raw["end"], dtype=np.int64),
            page=list(raw["page"]), section=list(raw["section"]),
            vid=np.asarray(raw["vid"], dtype=np.int64), hash=list(raw["hash"]),
        )
        n = len(table.ids)
        lengths = {len(table.doc), len(table.start), len(table.end), len(table.page), len(table.section),
                   len(table.vid), len(table.hash)}
        if lengths != {n}:
            raise ValueError("chunk table columns have different lengths")
        return table


@dataclass
class Change:
    """One commit: documents to drop (deleted or replaced) and new documents with embedded chunks."""

    remove: set[str]
    docs: list[Document]
    chunks: list[Chunk]
    vectors: np.ndarray
    hashes: list[str]


class Snapshot:
    """One loaded, immutable index version: everything retrieval needs, in memory or mmapped."""

    def __init__(self, directory: Path, manifest: Manifest, docs: list[DocRecord], chunks: ChunkTable,
                 vectors: np.ndarray, sparse: SparseIndex, dense: DenseIndex):
        self.directory = directory
        self.manifest = manifest
        self.docs = docs
        self.chunks = chunks
        self.vectors = vectors
        self.sparse = sparse
        self.dense = dense
        self.doc_pos = {d.id: i for i, d in enumerate(docs)}
        self._chunk_pos: dict[str, int] | None = None
        # an open handle keeps serving this version even after a newer commit deletes its directory
        self._texts = open(directory / TEXTS_FILE, "rb")  # noqa: SIM115
        self._mask_cache: dict[str, np.ndarray] = {}
        self._columns: dict[str, tuple[list[Any], np.ndarray]] = {}
        self.doc_text = lru_cache(maxsize=512)(self._read_text)

    def close(self) -> None:
        self._texts.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown may have torn down io already
            self._texts.close()

    def __len__(self) -> int:
        return len(self.chunks)

    def _read_text(self, doc_index: int) -> str:
        # checked on every read (then cached): a flipped byte here would become a wrong "verbatim" quote
        rec = self.docs[doc_index]
        data = os.pread(self._texts.fileno(), rec.length, rec.offset)
        if hashlib.sha256(data).hexdigest() != rec.sha256:
            raise _corrupt(self.directory, f"the text of document {rec.id!r} in {TEXTS_FILE} does not match "
                                           "its checksum")
        return data.decode("utf-8")

    def document(self, doc_index: int) -> Document:
        rec = self.docs[doc_index]
        return Document(id=rec.id, source=rec.source, title=rec.title, text=self.doc_text(doc_index),
                        corpus=rec.corpus, metadata=dict(rec.metadata), sha256=rec.sha256)

    def chunk(self, row: int) -> Chunk:
        t = self.chunks
        d = int(t.doc[row])
        start, end = int(t.start[row]), int(t.end[row])
        return Chunk(id=t.ids[row], doc_id=self.docs[d].id, text=self.doc_text(d)[start:end],
                     start=start, end=end, page=t.page[row], section=t.section[row])

    def chunk_row(self, chunk_id: str) -> int | None:
        if self._chunk_pos is None:
            self._chunk_pos = {cid: i for i, cid in enumerate(self.chunks.ids)}
        return self._chunk_pos.get(chunk_id)

    def _column(self, key: str) -> tuple[list[Any], np.ndarray]:
        """Distinct values of a filter key over all documents, and each document's index into them."""
        cached = self._columns.get(key)
        if cached is None:
            distinct: dict[Any, int] = {}
            values: list[Any] = []
            codes = np.empty(len(self.docs), dtype=np.int64)
            for i, d in enumerate(self.docs):
                field = _DOC_FIELDS.get(key)
                value = getattr(d, field) if field else d.metadata.get(key, MISSING)
                marker = _hashable(value)
                code = distinct.get(marker)
                if code is None:
                    code = distinct[marker] = len(values)
                    values.append(value)
                codes[i] = code
            cached = self._columns[key] = (values, codes)
        return cached

    def chunk_mask(self, filters: Mapping[str, Any] | None, corpora: list[str] | None) -> np.ndarray | None:
        """Boolean mask over chunks allowed by the filters and corpus list (None: all allowed)."""
        conditions = compile_conditions(filters)
        if not conditions and corpora is None:
            return None
        key = json.dumps([filters, sorted(corpora) if corpora is not None else None], sort_keys=True, default=str)
        cached = self._mask_cache.get(key)
        if cached is not None:
            return cached
        if corpora is not None:
            conditions.append(("corpus", compile_conditions({"corpus": list(corpora)})[0][1]))
        doc_ok = np.ones(len(self.docs), dtype=bool)
        for field, check in conditions:
            # evaluate each distinct value once: metadata like corpus/date/authority has few of them
            values, codes = self._column(field)
            doc_ok &= np.fromiter((check(v) for v in values), dtype=bool, count=len(values))[codes]
        mask = doc_ok[self.chunks.doc] if len(self.chunks) else np.zeros(0, dtype=bool)
        if len(self._mask_cache) > 64:
            self._mask_cache.clear()
        self._mask_cache[key] = mask
        return mask


# filter keys that name document fields rather than metadata (see agentkit.retrieve.filters)
_DOC_FIELDS = {"doc_id": "id", "corpus": "corpus", "source": "source", "title": "title"}


def _hashable(value: Any) -> Any:
    """A dict key standing for ``value`` (lists and dicts become tuples, tagged by type)."""
    try:
        hash(value)
        return (type(value).__name__, value)
    except TypeError:
        return ("json", json.dumps(value, sort_keys=True, default=str))


# ---------------------------------------------------------------------------------------------
# filesystem helpers


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str), encoding="utf-8")


def _corrupt(directory: Path, what: str, exc: BaseException | None = None) -> IndexCorruptError:
    detail = f" ({type(exc).__name__}: {exc})" if exc is not None else ""
    return IndexCorruptError(
        f"index at {directory.parent} is corrupt: {what}{detail}. Rebuild it from the source documents "
        f"(Corpus.build into a fresh directory, or delete {directory.parent} and build again)"
    )


class IndexStore:
    """Reads and atomically writes versions of one index directory."""

    def __init__(self, index_dir: str | Path):
        self.index_dir = Path(index_dir)

    # -- reading -------------------------------------------------------------------------------

    def exists(self) -> bool:
        return (self.index_dir / CURRENT).is_file()

    def current_name(self) -> str:
        path = self.index_dir / CURRENT
        if not self.index_dir.is_dir():
            what = "is a file, not an index directory" if self.index_dir.exists() else "the directory does not exist"
            raise IndexNotFoundError(
                f"no index at {self.index_dir}: {what}; build one with "
                "Corpus.build(paths, index_dir) or `agentkit ingest PATHS --index DIR`"
            )
        try:
            name = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError as exc:
            raise IndexNotFoundError(
                f"no index at {self.index_dir}: it has no {CURRENT} file (never built, or the first build "
                "was interrupted); build one with Corpus.build(paths, index_dir) or "
                "`agentkit ingest PATHS --index DIR`"
            ) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise IndexCorruptError(f"cannot read {path}: {exc}; rebuild the index") from exc
        if not _VERSION_RE.match(name):
            raise IndexCorruptError(f"{path} names {name!r}, not an index version; rebuild the index")
        return name

    def read_manifest(self) -> Manifest:
        return read_manifest(self.index_dir / self.current_name())

    def load(self) -> Snapshot:
        """Load the live version; retries when a concurrent writer swaps versions underneath us."""
        for _ in range(5):
            name = self.current_name()
            try:
                return load_version(self.index_dir / name)
            except IndexCorruptError:
                if self.current_name() == name:
                    raise
        raise IndexCorruptError(f"index at {self.index_dir} kept changing while being opened; try again")

    # -- writing -------------------------------------------------------------------------------

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        self._check_location()
        self.index_dir.mkdir(parents=True, exist_ok=True)
        with open(self.index_dir / LOCK, "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _check_location(self) -> None:
        """A new index goes into a new or empty directory: never mixed into a folder of other files
        (`--index docs` by mistake), where it would sit among the user's documents."""
        if self.index_dir.exists() and not self.index_dir.is_dir():
            raise IndexNotFoundError(f"cannot create an index at {self.index_dir}: it is a file; "
                                     "give a new or empty directory")
        if self.index_dir.is_dir() and not self.exists():
            other = sorted(p.name for p in self.index_dir.iterdir()
                           if p.name != LOCK and not _VERSION_RE.match(p.name) and not p.name.startswith(_TMP_PREFIX))
            if other:
                raise IndexNotFoundError(
                    f"cannot create an index in {self.index_dir}: it is not an index and already holds "
                    f"{len(other)} other entries ({', '.join(other[:3])}{', ...' if len(other) > 3 else ''}); "
                    "give a new or empty directory")

    def _next_version(self, base: Snapshot | None) -> int:
        numbers = [int(m.group(1)) for p in self.index_dir.iterdir() if (m := _VERSION_RE.match(p.name))]
        if base is not None:
            numbers.append(base.manifest.version)
        return max(numbers, default=0) + 1

    def commit(self, base: Snapshot | None, change: Change, *, embedder: EmbedderInfo, chunker: ChunkerInfo,
               ann_threshold: int, progress: Progress | None = None) -> str:
        """Write base+change as a new version and make it live. Call with ``write_lock`` held."""
        self.index_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.index_dir / f"{_TMP_PREFIX}{uuid.uuid4().hex}"
        tmp.mkdir()
        version = self._next_version(base)
        try:
            _write_version(tmp, base, change, version=version, embedder=embedder, chunker=chunker,
                                      ann_threshold=ann_threshold, progress=progress)
            final = self.index_dir / f"v-{version:06d}"
            os.rename(tmp, final)
            _fsync_path(self.index_dir)
            if progress:  # the complete version exists but is not live yet
                progress("write", 8, 8)
            self._swap_current(final.name)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.cleanup(keep=final.name)
        return final.name

    def _swap_current(self, name: str) -> None:
        tmp = self.index_dir / f"{_TMP_PREFIX}{CURRENT}-{uuid.uuid4().hex}"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.index_dir / CURRENT)
        _fsync_path(self.index_dir)

    def cleanup(self, keep: str) -> None:
        """Remove superseded versions and leftovers of killed writers (call with the lock held)."""
        for path in self.index_dir.iterdir():
            if path.name == keep:
                continue
            if _VERSION_RE.match(path.name) or path.name.startswith(_TMP_PREFIX):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# version read / write


def load_version(directory: Path) -> Snapshot:
    manifest = read_manifest(directory)  # IndexMismatchError for other schema versions
    try:
        for name, size in manifest.files.items():
            actual = (directory / name).stat().st_size
            if actual != size:
                raise _corrupt(directory, f"{name} is {actual} bytes, the manifest says {size}")
        raw_docs = json.loads((directory / DOCS_FILE).read_text(encoding="utf-8"))
        docs = [DocRecord(**r) for r in raw_docs]
        if len(docs) != manifest.counts.documents or {d.id: d.sha256 for d in docs} != manifest.documents:
            raise _corrupt(directory, f"{DOCS_FILE} does not match the manifest's document list")
        chunks = ChunkTable.from_json(json.loads((directory / CHUNKS_FILE).read_text(encoding="utf-8")))
        n = len(chunks)
        if n != manifest.counts.chunks:
            raise _corrupt(directory, f"{CHUNKS_FILE} holds {n} chunks, the manifest says {manifest.counts.chunks}")
        if n and (chunks.doc.min() < 0 or chunks.doc.max() >= len(docs)):
            raise _corrupt(directory, f"{CHUNKS_FILE} refers to documents that do not exist")
        ivf = manifest.dense.kind == "ivf_flat"
        vectors = np.load(directory / VECTORS_FILE, mmap_mode="r" if ivf else None, allow_pickle=False)
        if vectors.shape != (n, manifest.embedder.dim) or vectors.dtype != np.float32:
            raise _corrupt(directory, f"{VECTORS_FILE} has shape {vectors.shape} {vectors.dtype}, "
                                      f"expected ({n}, {manifest.embedder.dim}) float32")
        sparse = SparseIndex.load(directory, n)
        dense = load_dense(directory, manifest.dense, vectors, chunks.vid)
        return Snapshot(directory, manifest, docs, chunks, vectors, sparse, dense)
    except (IndexCorruptError, IndexMismatchError):
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, EOFError) as exc:
        raise _corrupt(directory, "a file is missing or unreadable", exc) from exc


def _write_version(tmp: Path, base: Snapshot | None, change: Change, *, version: int, embedder: EmbedderInfo,
                   chunker: ChunkerInfo, ann_threshold: int, progress: Progress | None) -> Manifest:
    steps = 8  # the 8th is reported by IndexStore.commit once the version directory is in place
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress:
            progress("write", done, steps)

    if base is not None and (base.manifest.embedder != embedder):
        raise IndexMismatchError(f"cannot commit vectors from {embedder} into an index built with {base.manifest.embedder}")

    # documents: survivors (text bytes copied as-is) then new ones
    records: list[DocRecord] = []
    new_doc_index: dict[str, int] = {}
    old_to_new = np.full(len(base.docs) if base else 0, -1, dtype=np.int64)
    with open(tmp / TEXTS_FILE, "wb") as out:
        offset = 0
        if base is not None:
            for i, rec in enumerate(base.docs):
                if rec.id in change.remove:
                    continue
                data = os.pread(base._texts.fileno(), rec.length, rec.offset)
                out.write(data)
                old_to_new[i] = len(records)
                records.append(DocRecord(**{**rec.__dict__, "offset": offset, "length": len(data)}))
                offset += len(data)
        for doc in change.docs:
            data = doc.text.encode("utf-8")
            out.write(data)
            new_doc_index[doc.id] = len(records)
            records.append(DocRecord(id=doc.id, source=doc.source, title=doc.title, corpus=doc.corpus,
                                     metadata=json.loads(json.dumps(doc.metadata, default=str)),
                                     sha256=hashlib.sha256(data).hexdigest(), offset=offset, length=len(data)))
            offset += len(data)
        out.flush()
        os.fsync(out.fileno())
    _write_json(tmp / DOCS_FILE, [r.__dict__ for r in records])
    step()

    # chunks: surviving rows keep their vid; new rows get fresh ones
    next_vid = base.manifest.next_vid if base else 0
    if base is not None and len(base.chunks):
        keep_rows = np.flatnonzero(old_to_new[base.chunks.doc] >= 0)
        kept = base.chunks.select(keep_rows)
        kept.doc = old_to_new[kept.doc]
    else:
        keep_rows = np.zeros(0, dtype=np.int64)
        kept = ChunkTable.empty()
    new_vids = np.arange(next_vid, next_vid + len(change.chunks), dtype=np.int64)
    table = kept.extend(change.chunks, [new_doc_index[c.doc_id] for c in change.chunks], new_vids, change.hashes)
    _write_json(tmp / CHUNKS_FILE, table.to_json())
    step()

    dim = embedder.dim
    old_vectors = base.vectors[keep_rows] if base is not None else np.zeros((0, dim), np.float32)
    vectors = np.concatenate([np.asarray(old_vectors, dtype=np.float32),
                              np.asarray(change.vectors, dtype=np.float32).reshape(-1, dim)])
    np.save(tmp / VECTORS_FILE, vectors, allow_pickle=False)
    step()

    # BM25: token ids of survivors are reused; only new chunks are tokenised
    base_tokens = (TokenStore.load(base.directory, base.sparse.vocab) if base is not None and len(base.chunks)
                   else TokenStore.empty())
    titles = [records[new_doc_index[c.doc_id]].title for c in change.chunks]
    tokens = base_tokens.select_and_extend(keep_rows, [embed_text(t, c.text) for t, c in zip(titles, change.chunks)])
    tokens.save(tmp)
    step()
    SparseIndex.build(tokens).save(tmp)
    step()

    # dense: flat below the threshold, IVF (updated in place when possible) above
    current = base.manifest.dense if base is not None else DenseInfo()
    dense_index = None
    if needs_ann(len(vectors), ann_threshold, current):
        if current.kind == "ivf_flat" and base is not None:
            removed = base.chunks.vid[np.setdiff1d(np.arange(len(base.chunks)), keep_rows)]
            dense_index, info = update_ivf(base.directory, current, vectors, table.vid, removed,
                                           np.asarray(change.vectors, np.float32).reshape(-1, dim), new_vids)
        else:
            dense_index, info = train_ivf(vectors, table.vid)
    else:
        info = DenseInfo(kind="flat_ip")
    save_dense(tmp, dense_index)
    step()

    files = sorted(p for p in tmp.rglob("*") if p.is_file())
    for path in files:
        _fsync_path(path)
    manifest = Manifest(
        version=version,
        embedder=embedder, chunker=chunker, dense=info,
        counts=Counts(documents=len(records), chunks=len(table)),
        next_vid=next_vid + len(change.chunks),
        documents={r.id: r.sha256 for r in records},
        files={str(p.relative_to(tmp)): p.stat().st_size for p in files},
    )
    if base is not None:
        manifest.created_at = base.manifest.created_at
    with open(tmp / MANIFEST_NAME, "w", encoding="utf-8") as fh:
        fh.write(manifest.model_dump_json(indent=1))
        fh.flush()
        os.fsync(fh.fileno())
    for sub in {p.parent for p in files} | {tmp}:
        _fsync_path(sub)
    step()
    return manifest
