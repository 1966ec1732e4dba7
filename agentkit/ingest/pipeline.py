"""Batch ingestion: walk paths, load every file, dedupe, and report per file what happened.

A bad file never stops the batch and never half-enters: its report says why it was left out.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from agentkit.errors import IngestError
from agentkit.ingest.loaders import UnsupportedFormatError, load_file
from agentkit.types import Document

PathLike = str | os.PathLike[str]


class FileReport(BaseModel):
    path: str
    status: Literal["ok", "skipped", "error"]
    reason: str = ""
    n_documents: int = Field(0, description="documents from this file that are in IngestResult.documents")
    doc_ids: list[str] = Field(default_factory=list, description="ids of those documents")
    duplicates: dict[str, str] = Field(
        default_factory=dict,
        description="documents left out as duplicates: their id -> id of the document with the same content",
    )


class IngestResult(BaseModel):
    documents: list[Document] = Field(default_factory=list)
    report: list[FileReport] = Field(default_factory=list)

    @property
    def errors(self) -> list[FileReport]:
        return [r for r in self.report if r.status == "error"]

    @property
    def skipped(self) -> list[FileReport]:
        return [r for r in self.report if r.status == "skipped"]


def is_index_dir(path: Path) -> bool:
    """An agentkit index (the CURRENT and LOCK files ``agentkit.index.store`` writes; named here, not imported,
    because ingest comes before the index): never read back as documents."""
    return (path / "CURRENT").is_file() and (path / "LOCK").is_file()


def _walk(root: Path) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = [d for d in dirs if not d.startswith(".") and not is_index_dir(here / d)]
        for name in files:
            if not name.startswith(".") and (here / name).is_file():
                yield here / name


def iter_files(paths: PathLike | Iterable[PathLike]) -> Iterator[tuple[Path, Path]]:
    """Yield (file, root it was found under). Directories are walked recursively in sorted order,
    skipping hidden files and folders and agentkit indexes (an index built inside its own documents
    folder would otherwise come back as documents); a file given directly has its parent as root. Paths
    that do not exist are yielded too so the loader can report them. Each file is yielded once."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    seen: set[Path] = set()
    for given in paths:
        p = Path(given)
        if p.is_dir():
            found = () if is_index_dir(p) else _walk(p)
            candidates = [(f, p) for f in sorted(found, key=lambda f: f.relative_to(p).as_posix())]
        else:
            candidates = [(p, p.parent)]
        for f, root in candidates:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                yield f, root


def load_paths(
    paths: PathLike | Iterable[PathLike],
    *,
    corpus: str = "default",
    max_bytes: int = 50_000_000,
    skip_hashes: AbstractSet[str] | Mapping[str, str] = frozenset(),
    progress: Callable[[str, int, int], None] | None = None,
) -> IngestResult:
    """Load every file under ``paths``; one FileReport per file.

    Documents whose content sha256 was already seen in this batch, or is in ``skip_hashes``, are left out
    as duplicates ("duplicate of <doc_id>"; pass a mapping sha256 -> doc_id to name already-indexed ones).
    A file whose documents are all duplicates is reported as skipped. Two files producing the same
    document id is an error for the second one (give it a front-matter ``id``).
    """
    files = list(iter_files(paths))
    result = IngestResult()
    seen_hash: dict[str, str] = {}
    id_owner: dict[str, str] = {}
    for n, (path, root) in enumerate(files, start=1):
        if progress is not None:
            progress("load", n - 1, len(files))
        result.report.append(
            _ingest_one(path, root, corpus, max_bytes, skip_hashes, seen_hash, id_owner, result.documents)
        )
    if progress is not None:
        progress("load", len(files), len(files))
    return result


def _ingest_one(
    path: Path,
    root: Path,
    corpus: str,
    max_bytes: int,
    skip_hashes: AbstractSet[str] | Mapping[str, str],
    seen_hash: dict[str, str],
    id_owner: dict[str, str],
    out: list[Document],
) -> FileReport:
    try:
        docs = load_file(path, corpus=corpus, root=root, max_bytes=max_bytes)
    except UnsupportedFormatError as e:
        return FileReport(path=str(path), status="skipped", reason=e.reason)
    except IngestError as e:
        return FileReport(path=str(path), status="error", reason=e.reason)
    except Exception as e:  # noqa: BLE001 - a loader bug must not sink the whole batch
        return FileReport(path=str(path), status="error", reason=f"unexpected error: {type(e).__name__}: {e}")

    for doc in docs:
        if doc.id in id_owner:
            return FileReport(
                path=str(path),
                status="error",
                reason=f"document id '{doc.id}' is already used by {id_owner[doc.id]}; "
                "give this file a front-matter id or rename it",
            )
    kept: list[Document] = []
    duplicates: dict[str, str] = {}
    for doc in docs:
        original = seen_hash.get(doc.sha256)
        if original is None and doc.sha256 in skip_hashes:
            original = skip_hashes[doc.sha256] if isinstance(skip_hashes, Mapping) else "an indexed document"
        if original is not None:
            duplicates[doc.id] = original
            continue
        seen_hash[doc.sha256] = doc.id
        kept.append(doc)
    for doc in docs:
        id_owner[doc.id] = str(path)
    out.extend(kept)
    report = FileReport(
        path=str(path),
        status="ok" if kept else "skipped",
        n_documents=len(kept),
        doc_ids=[d.id for d in kept],
        duplicates=duplicates,
    )
    if duplicates:
        first = next(iter(duplicates.values()))
        report.reason = (
            f"duplicate of {first}"
            if len(docs) == 1
            else f"{len(duplicates)} of {len(docs)} documents are duplicates"
        )
    return report
