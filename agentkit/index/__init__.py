"""Persistent hybrid index: versioned directory with dense (FAISS) and sparse (BM25) parts."""

from agentkit.index.manifest import SCHEMA_VERSION, Manifest
from agentkit.index.store import Change, IndexStore, Snapshot
from agentkit.index.text import embed_text, text_hash

__all__ = ["SCHEMA_VERSION", "Change", "IndexStore", "Manifest", "Snapshot", "embed_text", "text_hash"]
