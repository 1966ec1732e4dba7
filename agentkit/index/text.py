"""How a chunk is represented to both retrievers."""

from __future__ import annotations

import hashlib


def embed_text(title: str, text: str) -> str:
    """The text both dense and BM25 index: ``title + "\\n" + chunk.text`` (titles matter for entity questions)."""
    return f"{title}\n{text}" if title else text


def text_hash(text: str) -> str:
    """Key for reusing a stored embedding when the same text is indexed again."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
