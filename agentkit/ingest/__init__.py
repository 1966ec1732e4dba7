"""Ingestion: files -> Documents -> sentence-aware Chunks, with a per-file report of what went in."""

from agentkit.ingest.chunking import chunk_document, split_sentences
from agentkit.ingest.loaders import LOADERS, UnsupportedFormatError, load_file, slugify, supported_suffixes
from agentkit.ingest.pipeline import FileReport, IngestResult, iter_files, load_paths

__all__ = [
    "LOADERS",
    "FileReport",
    "IngestResult",
    "UnsupportedFormatError",
    "chunk_document",
    "iter_files",
    "load_file",
    "load_paths",
    "slugify",
    "split_sentences",
    "supported_suffixes",
]
