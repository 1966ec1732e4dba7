"""``Corpus``: a persistent, incrementally updated hybrid index over documents.

    corpus = Corpus.build(["docs/"], "my-index")          # create, or sync if it exists
    corpus.search("max daily dose of veltrazine", k=5)     # dense + BM25, fused by RRF
    corpus.add(["new.md"]); corpus.delete(["old-doc"])     # each an atomic commit

Every change is committed as a new immutable version (see ``agentkit.index.store``), so a crash
mid-ingest leaves the previous index intact. Unchanged chunks are never embedded twice: vectors
are reused by the hash of the text they embed.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from agentkit.embed import Embedder, load_embedder
from agentkit.errors import IngestError
from agentkit.index.manifest import ChunkerInfo, EmbedderInfo, Manifest, check_embedder
from agentkit.index.store import Change, IndexStore, Snapshot
from agentkit.index.text import embed_text, text_hash
from agentkit.ingest import FileReport, chunk_document, load_paths
from agentkit.retrieve.hybrid import HybridRetriever
from agentkit.retrieve.rerank import EmbeddingReranker, Reranker
from agentkit.settings import Settings
from agentkit.types import Chunk, Document, ScoredPassage

Progress = Callable[[str, int, int], None]
PathArg = str | os.PathLike[str] | Iterable[str | os.PathLike[str]]
EMBED_BATCH = 256


class IngestReport(BaseModel):
    files: list[FileReport] = Field(default_factory=list)
    added: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    deleted: list[str] = Field(default_factory=list)
    n_chunks: int = Field(0, description="chunks in the index after this operation")
    n_embedded: int = Field(0, description="chunks whose text had to be embedded (the rest reused stored vectors)")
    seconds: float = 0.0


class _QueryCache:
    """Wraps an embedder so a query embedded for retrieval is not embedded again for reranking."""

    def __init__(self, embedder: Embedder, size: int = 256):
        self.inner = embedder
        self.name = embedder.name
        self.dim = embedder.dim
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        if len(texts) != 1:
            return self.inner.encode(texts, batch_size=batch_size)
        with self._lock:
            hit = self._cache.get(texts[0])
            if hit is not None:
                self._cache.move_to_end(texts[0])
                return hit[None, :]
        vec = self.inner.encode(texts, batch_size=batch_size)
        with self._lock:
            self._cache[texts[0]] = vec[0]
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return vec


def _paths(paths: PathArg) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        return [Path(paths)]
    return [Path(p) for p in paths]


def _under(source: str, roots: list[Path]) -> bool:
    try:
        path = Path(source).resolve()
    except (OSError, RuntimeError):
        return False
    return any(path == root or root in path.parents for root in roots)


class Corpus:
    """A searchable, persistent document collection stored in ``index_dir``."""

    def __init__(self, index_dir: Path, settings: Settings, *, embedder: Embedder | None = None,
                 snapshot: Snapshot | None = None):
        self.index_dir = Path(index_dir)
        self.settings = settings
        self._store = IndexStore(self.index_dir)
        self._snapshot = snapshot
        self._embedder: _QueryCache | None = None
        self._embedder_lock = threading.Lock()
        self.last_report: IngestReport | None = None
        if embedder is not None:
            self._set_embedder(embedder)

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def build(cls, paths: PathArg, index_dir: str | os.PathLike[str], *, corpus: str = "default",
              settings: Settings | None = None, progress: Progress | None = None,
              embedder: Embedder | None = None) -> Corpus:
        """Create the index, or sync an existing one: new files added, changed ones replaced, and
        documents of ``corpus`` that came from files under ``paths`` that no longer exist deleted."""
        settings = settings or Settings.from_preset("default")
        store = IndexStore(index_dir)
        if store.exists():
            c = cls.open(index_dir, settings=settings, embedder=embedder)
        else:
            c = cls(Path(index_dir), settings, embedder=embedder)
        c.last_report = c._ingest(paths, corpus=corpus, progress=progress, mirror=True)
        return c

    @classmethod
    def open(cls, index_dir: str | os.PathLike[str], *, settings: Settings | None = None,
             embedder: Embedder | None = None) -> Corpus:
        """Open an existing index. Raises IndexNotFoundError, IndexCorruptError or IndexMismatchError."""
        settings = settings or Settings.from_preset("default")
        store = IndexStore(index_dir)
        manifest = store.read_manifest()
        name = embedder.name if embedder is not None else settings.embedder
        check_embedder(manifest, store.index_dir, name, embedder.dim if embedder is not None else None)
        snapshot = store.load()
        return cls(store.index_dir, cls._adopt_chunker(settings, snapshot.manifest), embedder=embedder,
                   snapshot=snapshot)

    @staticmethod
    def _adopt_chunker(settings: Settings, manifest: Manifest) -> Settings:
        # the index is chunked one way: later additions follow the manifest, not the caller's preset
        chunker = manifest.chunker
        if (settings.chunk_size, settings.chunk_overlap) == (chunker.chunk_size, chunker.overlap):
            return settings
        return settings.model_copy(update={"chunk_size": chunker.chunk_size, "chunk_overlap": chunker.overlap})

    # -- embedder ------------------------------------------------------------------------------

    def _set_embedder(self, embedder: Embedder) -> None:
        if self._snapshot is not None:
            check_embedder(self._snapshot.manifest, self.index_dir, embedder.name, embedder.dim)
        self._embedder = _QueryCache(embedder)

    @property
    def embedder(self) -> Embedder:
        """Loaded on first use, once per Corpus (and cached per process by ``load_embedder``)."""
        if self._embedder is None:
            with self._embedder_lock:
                if self._embedder is None:
                    self._set_embedder(load_embedder(self.settings.embedder))
        assert self._embedder is not None
        return self._embedder

    # -- reading -------------------------------------------------------------------------------

    @property
    def manifest(self) -> Manifest:
        return self._snap().manifest

    def reload(self) -> bool:
        """Switch to the newest committed version (another process may have written); True if it changed."""
        before = self._snapshot.directory.name if self._snapshot is not None else None
        snapshot = self._store.load()
        if snapshot.directory.name == before:
            snapshot.close()
            return False
        emb = self._embedder
        check_embedder(snapshot.manifest, self.index_dir, emb.name if emb else self.settings.embedder,
                       emb.dim if emb else None)
        self._snapshot = snapshot
        self.settings = self._adopt_chunker(self.settings, snapshot.manifest)
        return True

    def _snap(self) -> Snapshot:
        if self._snapshot is None:
            self._snapshot = self._store.load()
        return self._snapshot

    def __len__(self) -> int:
        return len(self._snapshot) if self._snapshot is not None else 0

    def __repr__(self) -> str:
        n_docs = len(self._snapshot.docs) if self._snapshot is not None else 0
        return f"Corpus({str(self.index_dir)!r}, documents={n_docs}, chunks={len(self)})"

    @property
    def corpora(self) -> list[str]:
        return sorted({d.corpus for d in self._snap().docs})

    def documents(self) -> Iterator[Document]:
        snap = self._snap()
        for i in range(len(snap.docs)):
            yield snap.document(i)

    def document(self, doc_id: str) -> Document:
        snap = self._snap()
        pos = snap.doc_pos.get(doc_id)
        if pos is None:
            raise KeyError(f"no document {doc_id!r} in the index at {self.index_dir}")
        return snap.document(pos)

    def chunk(self, chunk_id: str) -> Chunk:
        snap = self._snap()
        row = snap.chunk_row(chunk_id)
        if row is None:
            raise KeyError(f"no chunk {chunk_id!r} in the index at {self.index_dir}")
        return snap.chunk(row)

    def search(self, query: str, k: int = 10, *, filters: Mapping[str, Any] | None = None,
               corpora: list[str] | None = None, rerank: bool | Reranker = False) -> list[ScoredPassage]:
        """Hybrid search. ``scores`` holds "dense", "bm25", "rrf" (and "rerank" in [0, 1] when reranked)."""
        snap = self._snap()
        retriever = HybridRetriever(snap, self.embedder, self.settings)
        if rerank is False or rerank is None:
            return retriever.search(query, k, filters=filters, corpora=corpora)
        reranker = self.embedding_reranker() if rerank is True else rerank
        candidates = retriever.search(query, max(k, self.settings.rerank_top_n), filters=filters, corpora=corpora)
        return reranker.rerank(query, candidates, top_k=k)

    def embedding_reranker(self) -> EmbeddingReranker:
        """The cheap reranker, reading this index's stored chunk vectors instead of re-embedding passages."""
        snap = self._snap()

        def lookup(chunk_ids: list[str]) -> list[np.ndarray | None]:
            rows = [snap.chunk_row(cid) for cid in chunk_ids]
            return [np.asarray(snap.vectors[r]) if r is not None else None for r in rows]

        return EmbeddingReranker(self.embedder, vectors=lookup)

    # -- writing -------------------------------------------------------------------------------

    def add(self, paths: PathArg, *, corpus: str = "default", progress: Progress | None = None) -> IngestReport:
        """Ingest files: new documents added, changed ones (same id, new content) replaced, unchanged skipped."""
        self.last_report = self._ingest(paths, corpus=corpus, progress=progress, mirror=False)
        return self.last_report

    def add_documents(self, docs: list[Document], *, progress: Progress | None = None) -> IngestReport:
        self.last_report = self._commit(docs, progress=progress)
        return self.last_report

    def delete(self, doc_ids: Iterable[str]) -> int:
        """Delete documents by id (unknown ids are ignored); returns how many were deleted."""
        ids = [doc_ids] if isinstance(doc_ids, str) else list(doc_ids)
        self.last_report = self._commit([], delete=ids)
        return len(self.last_report.deleted)

    def _ingest(self, paths: PathArg, *, corpus: str, progress: Progress | None, mirror: bool) -> IngestReport:
        t0 = time.perf_counter()
        roots = _paths(paths)
        snap = self._snapshot
        # no skip_hashes: a file whose body is unchanged may still carry new front matter (title, date)
        result = load_paths(roots, corpus=corpus, max_bytes=self.settings.max_file_bytes, progress=progress)
        present = {d.id: d for d in snap.docs} if snap is not None else {}
        seen = {d.id for d in result.documents}
        delete: list[str] = []
        for rep in result.report:
            for doc_id in rep.duplicates:
                seen.add(doc_id)
                # a document whose new content duplicates another one: its old version must go
                if doc_id in present and present[doc_id].corpus == corpus:
                    delete.append(doc_id)
        if mirror and snap is not None:
            resolved = [r.resolve() for r in roots]
            # a path that could not be read (a typo, an unmounted disk, no permission) is not a path
            # whose files were removed: keep every document under it
            failed = [Path(r.path).resolve() for r in result.report if r.status == "error"]
            for d in snap.docs:
                if (d.corpus == corpus and d.id not in seen and _under(d.source, resolved)
                        and not _under(d.source, failed)):
                    delete.append(d.id)
        report = self._commit(result.documents, delete=delete, progress=progress, files=result.report)
        report.seconds = time.perf_counter() - t0
        return report

    def _refresh(self) -> None:
        """Under the write lock: pick up commits made by other processes since we loaded."""
        if not self._store.exists():
            self._snapshot = None
            return
        if self._snapshot is None or self._store.current_name() != self._snapshot.directory.name:
            self.reload()

    def _commit(self, docs: list[Document], *, delete: Iterable[str] = (), progress: Progress | None = None,
                files: list[FileReport] | None = None) -> IngestReport:
        t0 = time.perf_counter()
        report = IngestReport(files=list(files or []))
        with self._store.write_lock():
            self._refresh()
            snap = self._snapshot
            present = {d.id: d for d in snap.docs} if snap is not None else {}
            to_delete = {i for i in delete if i in present}
            new_docs: list[Document] = []
            taken: set[str] = set()
            for doc in docs:
                if doc.id in taken:
                    report.files.append(FileReport(path=doc.source, status="error",
                                                   reason=f"document id {doc.id!r} given twice in one batch"))
                    continue
                taken.add(doc.id)
                old = present.get(doc.id)
                if old is None:
                    report.added.append(doc.id)
                elif old.corpus != doc.corpus:
                    report.files.append(FileReport(
                        path=doc.source, status="error",
                        reason=f"document id {doc.id!r} already exists in corpus {old.corpus!r}; give the document "
                               "another id (front-matter id) or delete the existing one first"))
                    continue
                elif (old.sha256, old.title, old.source, old.metadata) == (doc.sha256, doc.title, doc.source,
                                                                         _jsonable(doc.metadata)):
                    report.unchanged.append(doc.id)
                    continue
                else:
                    report.updated.append(doc.id)
                to_delete.discard(doc.id)
                new_docs.append(doc)
            report.deleted = sorted(to_delete)
            if new_docs or to_delete or snap is None:
                change, n_embedded = self._prepare(snap, new_docs, to_delete | set(report.updated), progress)
                report.n_embedded = n_embedded
                emb = self.embedder
                self._store.commit(
                    snap, change, embedder=EmbedderInfo(name=emb.name, dim=emb.dim),
                    chunker=ChunkerInfo(chunk_size=self.settings.chunk_size, overlap=self.settings.chunk_overlap),
                    ann_threshold=self.settings.ann_threshold, progress=progress,
                )
                self._snapshot = self._store.load()
        report.n_chunks = len(self)
        report.seconds = time.perf_counter() - t0
        return report

    def _prepare(self, snap: Snapshot | None, docs: list[Document], remove: set[str],
                 progress: Progress | None) -> tuple[Change, int]:
        """Chunk and embed new documents; returns the change and how many texts were embedded."""
        chunks: list[Chunk] = []
        texts: list[str] = []
        for doc in docs:
            for c in chunk_document(doc, chunk_size=self.settings.chunk_size, overlap=self.settings.chunk_overlap):
                if c.doc_id != doc.id or doc.text[c.start:c.end] != c.text:
                    raise IngestError(doc.source, f"chunk {c.id} does not match the document text (chunker bug)")
                chunks.append(c)
                texts.append(embed_text(doc.title, c.text))
        hashes = [text_hash(t) for t in texts]
        # reuse stored vectors for texts already embedded (unchanged chunks of an updated document)
        stored = {h: r for r, h in enumerate(snap.chunks.hash)} if snap is not None else {}
        dim = self.embedder.dim
        vectors = np.zeros((len(chunks), dim), dtype=np.float32)
        todo: dict[str, list[int]] = {}
        for i, h in enumerate(hashes):
            if h in stored:
                vectors[i] = snap.vectors[stored[h]]
            else:
                todo.setdefault(h, []).append(i)
        order = [rows for rows in todo.values()]
        for b in range(0, len(order), EMBED_BATCH):
            batch = order[b : b + EMBED_BATCH]
            encoded = self.embedder.encode([texts[rows[0]] for rows in batch])
            for rows, vec in zip(batch, encoded):
                vectors[rows] = vec
            if progress:
                progress("embed", min(b + EMBED_BATCH, len(order)), len(order))
        return Change(remove=remove, docs=docs, chunks=chunks, vectors=vectors, hashes=hashes), len(order)


def _jsonable(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata as stored (dates become ISO strings), so comparisons with stored records are fair."""
    return json.loads(json.dumps(metadata, default=str))
