"""Helpers shared by the benchmark loaders: reading JSON/JSONL, stable ids, verbatim span search."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from pathlib import Path
from typing import Any

from evals.types import BenchmarkFormatError


def read_json(path: Path) -> Any:
    """A whole JSON document (list or object)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError as exc:
        raise BenchmarkFormatError(str(path), "file not found") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BenchmarkFormatError(str(path), f"not a readable JSON file ({exc})") from exc


def read_jsonl(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """JSON Lines records (blank lines skipped); stops after ``limit`` records."""
    records: list[dict[str, Any]] = []
    try:
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if limit is not None and len(records) >= limit:
                    break
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise BenchmarkFormatError(str(path), f"line {lineno} is not valid JSON ({exc})") from exc
                if not isinstance(record, dict):
                    raise BenchmarkFormatError(str(path), f"line {lineno} is not a JSON object")
                records.append(record)
    except FileNotFoundError as exc:
        raise BenchmarkFormatError(str(path), "file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchmarkFormatError(str(path), f"cannot read file ({exc})") from exc
    return records


def read_records(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Records from a JSON array or a JSONL file, detected from the first non-blank character."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            head = fh.read(4096).lstrip()
    except FileNotFoundError as exc:
        raise BenchmarkFormatError(str(path), "file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchmarkFormatError(str(path), f"cannot read file ({exc})") from exc
    if head.startswith("["):
        data = read_json(path)
        if not all(isinstance(r, dict) for r in data):
            raise BenchmarkFormatError(str(path), "expected a JSON array of objects")
        return data[:limit] if limit is not None else data
    return read_jsonl(path, limit)


def require(record: dict[str, Any], keys: tuple[str, ...], path: Path, where: str) -> None:
    missing = [k for k in keys if k not in record]
    if missing:
        raise BenchmarkFormatError(
            str(path), f"{where} lacks field(s) {', '.join(missing)}; is this the right benchmark file?"
        )


_NON_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    """Lowercase ASCII slug (``"Ed Wood (film)"`` -> ``"ed-wood-film"``); a hash when nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = _NON_SLUG.sub("-", ascii_text.lower()).strip("-")
    return slug or "t-" + short_hash(text)


def short_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]


def find_verbatim(text: str, quote: str) -> tuple[int, int] | None:
    """Span of ``quote`` in ``text``; falls back to a whitespace-insensitive match (PDF extractions differ
    in spacing), returning the span of the document's own characters so the quote stays verbatim."""
    quote = quote.strip()
    if not quote:
        return None
    start = text.find(quote)
    if start >= 0:
        return start, start + len(quote)
    tokens = quote.split()
    pattern = r"\s*".join(re.escape(t) for t in tokens)
    match = re.search(pattern, text)
    return (match.start(), match.end()) if match else None
