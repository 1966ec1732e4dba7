"""The manifest: what an index version was built with and what it holds.

Opening checks it first, so an index built with another embedder or an older layout fails
with a message that says how to fix it instead of returning garbage neighbours.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from agentkit.errors import IndexCorruptError, IndexMismatchError

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"

DenseKind = Literal["flat_ip", "ivf_flat"]


class EmbedderInfo(BaseModel):
    name: str
    dim: int


class ChunkerInfo(BaseModel):
    chunk_size: int
    overlap: int


class DenseInfo(BaseModel):
    kind: DenseKind = "flat_ip"
    nlist: int = 0
    nprobe: int = 0
    trained_at: int = Field(0, description="number of chunks the IVF centroids were trained on")


class Counts(BaseModel):
    documents: int = 0
    chunks: int = 0


class Manifest(BaseModel):
    schema_version: int = SCHEMA_VERSION
    version: int = 0
    created_at: str = Field(default_factory=lambda: _now())
    updated_at: str = Field(default_factory=lambda: _now())
    embedder: EmbedderInfo
    chunker: ChunkerInfo
    dense: DenseInfo = Field(default_factory=DenseInfo)
    text_template: str = "title + '\\n' + chunk.text"
    counts: Counts = Field(default_factory=Counts)
    next_vid: int = Field(0, description="next stable vector id; ids are never reused")
    documents: dict[str, str] = Field(default_factory=dict, description="doc id -> sha256 of its text")
    files: dict[str, int] = Field(default_factory=dict, description="file name -> size in bytes, for integrity checks")

    def touch(self) -> None:
        self.updated_at = _now()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_manifest(version_dir: Path) -> Manifest:
    path = version_dir / MANIFEST_NAME
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(
            f"index manifest {path} is missing or unreadable ({exc}); rebuild the index "
            "(Corpus.build / `agentkit ingest PATHS --index DIR`) into a fresh directory"
        ) from exc
    schema = raw.get("schema_version") if isinstance(raw, dict) else None
    if schema != SCHEMA_VERSION:
        # checked before full validation: a newer/older layout may not parse at all
        raise IndexMismatchError(
            f"index at {version_dir.parent} uses schema version {schema!r}, this agentkit reads "
            f"schema version {SCHEMA_VERSION}; rebuild the index from the source documents "
            "(Corpus.build into a fresh directory)"
        )
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        raise IndexCorruptError(f"index manifest {path} is invalid: {exc}; rebuild the index") from exc


def check_embedder(manifest: Manifest, index_dir: Path, name: str, dim: int | None = None) -> None:
    """Raise IndexMismatchError unless the index was built with this embedder (and dimension, when known)."""
    built = manifest.embedder
    if built.name != name or (dim is not None and built.dim != dim):
        asked = f"{name!r}" + (f" ({dim}-d)" if dim is not None else "")
        raise IndexMismatchError(
            f"index at {index_dir} was built with embedder {built.name!r} ({built.dim}-d) but "
            f"embedder {asked} was requested; either use embedder={built.name!r} in your settings or "
            "rebuild the index with the new embedder (Corpus.build into a fresh directory)"
        )
