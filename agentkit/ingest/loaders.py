"""File loaders: one file in, a list of Documents out, or an ``IngestError`` that says why not.

Loaders only read; they never half-succeed. Text is normalised minimally (newlines, NULs, trailing
whitespace) so that any span of ``Document.text`` is what the user sees in the source.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import unicodedata
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from agentkit.errors import IngestError
from agentkit.types import Document

TEXT_FIELDS = ("text", "content", "body", "contents", "abstract")
ID_FIELDS = ("id", "_id", "doc_id")


class UnsupportedFormatError(IngestError):
    """The file's suffix has no loader; batch ingestion reports it as skipped rather than as an error."""


# ---------------------------------------------------------------------------------------------- helpers


def normalize_text(text: str) -> str:
    """CRLF/CR -> LF, drop NULs, strip trailing whitespace at the very end. Nothing else moves."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").rstrip()


def slugify(value: str) -> str:
    """Stable lowercase id: ASCII-folded, chars outside ``[a-z0-9._/#-]`` become '-'."""
    folded = unicodedata.normalize("NFKD", value.replace("\\", "/"))
    folded = "".join(c for c in folded if not unicodedata.combining(c)).lower()
    slug = re.sub(r"[^a-z0-9._/#-]+", "-", folded)
    slug = re.sub(r"-{2,}", "-", slug)
    slug = "/".join(part.strip("-") for part in slug.split("/") if part.strip("-") not in ("", ".", ".."))
    if not slug.strip("-./#"):
        # Names with no ASCII-foldable characters (e.g. CJK) still need a stable id.
        slug = "doc-" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:12]
    return slug


def path_slug(path: Path, root: Path | None) -> str:
    """Slug of ``path`` relative to ``root`` (or its own directory), without the suffix."""
    try:
        rel = path.relative_to(root) if root is not None else Path(path.name)
    except ValueError:
        rel = Path(path.name)
    return slugify(str(rel.with_suffix("")))


def _looks_binary(data: bytes) -> bool:
    """Control bytes (NUL etc.) in more than 5% of the first 8 KiB mean binary (or UTF-16) content."""
    head = data[:8192]
    if not head:
        return False
    controls = sum(1 for b in head if b < 9 or 13 < b < 32 and b != 27)
    return controls / len(head) > 0.05


def decode_text(path: Path, data: bytes) -> str:
    if _looks_binary(data):
        raise IngestError(str(path), "binary content, not text (UTF-16 files must be re-saved as UTF-8)")
    try:
        text = data.decode("utf-8-sig")  # also accepts plain UTF-8 without a BOM
    except UnicodeDecodeError as e:
        raise IngestError(
            str(path), f"not UTF-8 text (invalid byte at offset {e.start}); re-save it as UTF-8"
        )
    return normalize_text(text)


def _require_text(path: Path, text: str) -> str:
    if not text.strip():
        raise IngestError(str(path), "empty file (no text to index)")
    return text


def _scalar(value: str) -> Any:
    """Parse a front-matter value: quoted string, number, bool, [a, b] list, else the raw string."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    if value.startswith("[") and value.endswith("]"):
        return [_scalar(v) for v in value[1:-1].split(",") if v.strip()]
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    if re.fullmatch(r"-?\d+\.\d*", value):
        return float(value)
    return value


_FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\n(.*?)\n?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Parse a leading ``---`` block of ``key: value`` lines; return (metadata, text without the block)."""
    m = _FRONT_MATTER_RE.match(text)
    if not m:
        return {}, text
    meta: dict[str, Any] = {}
    key = ""
    for line in m.group(1).split("\n"):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        item = re.match(r"^[ \t]+-[ \t]+(.*)$", line)
        if item and key and (meta[key] == "" or isinstance(meta[key], list)):
            meta[key] = [*meta[key], _scalar(item.group(1))]  # YAML block list under "key:"
            continue
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][\w-]*", key):
            return {}, text  # not front matter after all (e.g. a markdown horizontal rule)
        # Dates stay strings so ISO dates compare as strings in filters ("date: 2024" too).
        meta[key] = value.strip().strip("\"'") if "date" in key.lower() else _scalar(value)
    return meta, text[m.end() :].lstrip("\n")


def _make_document(
    *,
    doc_id: str,
    path: Path,
    title: str,
    text: str,
    corpus: str,
    metadata: dict[str, Any],
) -> Document:
    return Document(id=doc_id, source=str(path), title=title, text=text, corpus=corpus, metadata=metadata)


def _front_matter_document(
    path: Path, text: str, fmt: str, corpus: str, root: Path | None, title_from: Callable[[str], str | None]
) -> Document:
    meta, body = split_front_matter(text)
    _require_text(path, body)
    title = str(meta.pop("title", "") or "") or title_from(body) or path.stem
    doc_id = slugify(str(meta.pop("id"))) if meta.get("id") not in (None, "") else path_slug(path, root)
    meta.pop("id", None)
    meta["format"] = fmt
    return _make_document(doc_id=doc_id, path=path, title=title, text=body, corpus=corpus, metadata=meta)


_MD_H1_RE = re.compile(r"^[ \t]{0,3}#[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)


def _markdown_title(body: str) -> str | None:
    m = _MD_H1_RE.search(body)
    return m.group(1).strip() if m else None


# ---------------------------------------------------------------------------------------------- loaders


def load_text(path: Path, data: bytes, corpus: str, root: Path | None) -> list[Document]:
    text = _require_text(path, decode_text(path, data))
    return [_front_matter_document(path, text, "txt", corpus, root, lambda _: None)]


def load_markdown(path: Path, data: bytes, corpus: str, root: Path | None) -> list[Document]:
    text = _require_text(path, decode_text(path, data))
    return [_front_matter_document(path, text, "markdown", corpus, root, _markdown_title)]


# fmt: off
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "div", "dl",
        "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
        "header", "hr", "html", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table",
        "tbody", "thead", "tfoot", "tr", "ul",
    }
)
# fmt: on
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "svg", "head"})
_HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})


class _HTMLText(HTMLParser):
    """Collects visible text as blocks; block elements become paragraph breaks, table rows '| a | b |'."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, str | None]] = []  # (text, heading tag or None)
        self.title = ""
        self.first_h1 = ""
        self._lines: list[str] = []
        self._buf: list[str] = []
        self._skip = 0
        self._in_title = False
        self._pre = 0
        self._heading: str | None = None
        self._cells: list[str] | None = None

    def _flush_line(self) -> None:
        raw = "".join(self._buf)
        self._buf = []
        line = raw.strip("\n") if self._pre else re.sub(r"\s+", " ", raw).strip()
        if self._cells is not None:
            if line:
                self._cells.append(line)
            return
        if line:
            self._lines.append(line)

    def _flush_block(self) -> None:
        self._flush_line()
        if self._lines:
            text = "\n".join(self._lines)
            self.blocks.append((text, self._heading))
            if self._heading == "h1" and not self.first_h1:
                self.first_h1 = text
        self._lines = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            if tag == "head":
                return  # <title> lives in <head>; its other children carry no text
            self._skip += 1
            return
        if tag == "title":
            self._in_title = True
        elif tag in ("br", "td", "th"):
            self._flush_line()
        elif tag in _BLOCK_TAGS:
            self._flush_block()
            if tag in _HEADING_TAGS:
                self._heading = tag
            elif tag == "pre":
                self._pre += 1
            elif tag == "tr":
                self._cells = []

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            if tag != "head":
                self._skip = max(0, self._skip - 1)
            return
        if tag == "title":
            self._in_title = False
        elif tag in ("td", "th"):
            self._flush_line()
        elif tag == "tr" and self._cells is not None:
            self._flush_line()
            cells, self._cells = self._cells, None
            if cells:
                self._lines.append("| " + " | ".join(cells) + " |")
            self._flush_block()
        elif tag in _BLOCK_TAGS:
            self._flush_block()
            if tag in _HEADING_TAGS:
                self._heading = None
            elif tag == "pre":
                self._pre = max(0, self._pre - 1)

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip:
            self._buf.append(data)

    def close(self) -> None:
        super().close()
        if self._cells:
            self._lines.append("| " + " | ".join(self._cells) + " |")
            self._cells = None
        self._flush_block()


def load_html(path: Path, data: bytes, corpus: str, root: Path | None) -> list[Document]:
    parser = _HTMLText()
    parser.feed(decode_text(path, data))
    parser.close()
    parts, headings, pos = [], [], 0
    for text, heading in parser.blocks:
        text = normalize_text(text)
        if not text:
            continue
        if heading:
            headings.append([pos, text])
        parts.append(text)
        pos += len(text) + 2
    body = _require_text(path, "\n\n".join(parts))
    title = re.sub(r"\s+", " ", parser.title).strip() or parser.first_h1 or path.stem
    meta: dict[str, Any] = {"format": "html"}
    if headings:
        meta["headings"] = headings
    return [
        _make_document(
            doc_id=path_slug(path, root), path=path, title=title, text=body, corpus=corpus, metadata=meta
        )
    ]


def load_pdf(path: Path, data: bytes, corpus: str, root: Path | None) -> list[Document]:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    if b"%PDF-" not in data[:1024]:
        raise IngestError(str(path), "not a PDF file (missing %PDF- header); is the suffix wrong?")
    pypdf_log = logging.getLogger("pypdf")
    level = pypdf_log.level
    pypdf_log.setLevel(logging.ERROR)  # damaged files are reported once, by us, not as pypdf log noise
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError(str(path), "encrypted PDF (needs a password); save a decrypted copy and retry")
        texts = [normalize_text(page.extract_text() or "") for page in reader.pages]
        info = reader.metadata
        pdf_title = str(info.title or "").strip() if info else ""
    except IngestError:
        raise
    except FileNotDecryptedError:
        raise IngestError(str(path), "encrypted PDF (needs a password); save a decrypted copy and retry")
    except DependencyError as e:
        raise IngestError(str(path), f"encrypted PDF that cannot be opened here ({e})")
    except Exception as e:  # noqa: BLE001 - pypdf raises PdfReadError and many builtin types on damaged files
        raise IngestError(str(path), f"broken or truncated PDF ({type(e).__name__}: {e})")
    finally:
        pypdf_log.setLevel(level)
    parts, pages, pos = [], [], 0
    for number, text in enumerate(texts, start=1):
        if not text.strip():
            continue
        pages.append([number, pos])
        parts.append(text)
        pos += len(text) + 2
    if not parts:
        raise IngestError(str(path), "PDF has no extractable text (scanned images? run OCR on it first)")
    meta = {"format": "pdf", "pages": pages, "n_pages": len(texts)}
    return [
        _make_document(
            doc_id=path_slug(path, root),
            path=path,
            title=pdf_title or path.stem,
            text="\n\n".join(parts),
            corpus=corpus,
            metadata=meta,
        )
    ]


def load_docx(path: Path, data: bytes, corpus: str, root: Path | None) -> list[Document]:
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
        blocks: list[tuple[str, bool]] = []  # (text, is heading)
        title = ""
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                for row in item.rows:
                    cells = [normalize_text(c.text).replace("\n", " ").strip() for c in row.cells]
                    if any(cells):
                        blocks.append(("| " + " | ".join(cells) + " |", False))
                continue
            style = (item.style.name if item.style is not None else "") or ""
            text = normalize_text(item.text)
            if not text.strip():
                continue
            is_heading = style.startswith("Heading") or style == "Title"
            if is_heading and not title and style in ("Title", "Heading 1"):
                title = text.strip()
            blocks.append((text, is_heading))
        core_title = (document.core_properties.title or "").strip()
    except Exception as e:  # noqa: BLE001 - python-docx raises zip/xml/key errors for broken files
        raise IngestError(str(path), f"broken, encrypted or non-DOCX file ({type(e).__name__}: {e})")
    parts, headings, pos = [], [], 0
    for text, is_heading in blocks:
        if is_heading:
            headings.append([pos + len(text) - len(text.lstrip()), text.strip()])
        parts.append(text)
        pos += len(text) + 2
    body = _require_text(path, "\n\n".join(parts))
    meta: dict[str, Any] = {"format": "docx"}
    if headings:
        meta["headings"] = headings
    return [
        _make_document(
            doc_id=path_slug(path, root),
            path=path,
            title=core_title or title or path.stem,
            text=body,
            corpus=corpus,
            metadata=meta,
        )
    ]


def _record_document(path: Path, record: Any, where: str, doc_id: str, fmt: str, corpus: str) -> Document:
    """One JSON record -> Document (the caller picks the id); ``where`` names the record in errors."""
    if not isinstance(record, dict):
        raise IngestError(str(path), f"{where} is not a JSON object")
    field = next((f for f in TEXT_FIELDS if f in record and record[f] not in (None, "")), None)
    if field is None:
        raise IngestError(str(path), f"{where} has no text field (expected one of: {', '.join(TEXT_FIELDS)})")
    value = record[field]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = "\n\n".join(value)
    if not isinstance(value, str):
        raise IngestError(str(path), f"{where}: field '{field}' must be a string, got {type(value).__name__}")
    text = normalize_text(value)
    if not text.strip():
        raise IngestError(str(path), f"{where}: field '{field}' is empty")
    meta = {
        k: v
        for k, v in record.items()
        if k not in (field, "title", *ID_FIELDS) and (v is None or isinstance(v, (str, int, float, bool)))
    }
    meta["format"] = fmt
    title = record.get("title")
    return _make_document(
        doc_id=doc_id,
        path=path,
        title=str(title) if title not in (None, "") else path.stem,
        text=text,
        corpus=corpus,
        metadata=meta,
    )


def _record_id(record: Any) -> str | None:
    if isinstance(record, dict):
        for key in ID_FIELDS:
            if record.get(key) not in (None, ""):
                return str(record[key])
    return None


def _check_unique(path: Path, docs: list[Document]) -> list[Document]:
    seen: dict[str, int] = {}
    for n, doc in enumerate(docs, start=1):
        if doc.id in seen:
            raise IngestError(str(path), f"duplicate id '{doc.id}' in records {seen[doc.id]} and {n}")
        seen[doc.id] = n
    return docs


def load_json(path: Path, data: bytes, corpus: str, root: Path | None) -> list[Document]:
    text = _require_text(path, decode_text(path, data))
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise IngestError(str(path), f"malformed JSON (line {e.lineno}, column {e.colno}: {e.msg})")
    slug = path_slug(path, root)
    if isinstance(value, dict) and isinstance(value.get("documents"), list):
        value = value["documents"]
    if isinstance(value, dict):
        rid = _record_id(value)
        return [_record_document(path, value, "the record", slugify(rid) if rid else slug, "json", corpus)]
    if not isinstance(value, list):
        raise IngestError(str(path), 'JSON must be a record, a list of records or {"documents": [...]}')
    if not value:
        raise IngestError(str(path), "empty file (the JSON list has no records)")
    docs = []
    for n, record in enumerate(value, start=1):
        rid = _record_id(record)
        doc_id = slugify(rid) if rid else f"{slug}#{n}"
        docs.append(_record_document(path, record, f"record {n}", doc_id, "json", corpus))
    return _check_unique(path, docs)


def load_jsonl(path: Path, data: bytes, corpus: str, root: Path | None) -> list[Document]:
    text = _require_text(path, decode_text(path, data))
    slug = path_slug(path, root)
    docs = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise IngestError(str(path), f"malformed JSON on line {lineno} ({e.msg}); no records were loaded")
        rid = _record_id(record)
        doc_id = f"{slug}#{slugify(rid) if rid else lineno}"
        doc = _record_document(path, record, f"line {lineno}", doc_id, "jsonl", corpus)
        doc.metadata["line"] = lineno
        docs.append(doc)
    return _check_unique(path, docs)


Loader = Callable[[Path, bytes, str, "Path | None"], list[Document]]

LOADERS: dict[str, Loader] = {
    ".txt": load_text,
    ".text": load_text,
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
    ".docx": load_docx,
    ".json": load_json,
    ".jsonl": load_jsonl,
}


def supported_suffixes() -> list[str]:
    return sorted(LOADERS)


def load_file(
    path: Path, *, corpus: str = "default", root: Path | None = None, max_bytes: int = 50_000_000
) -> list[Document]:
    """Load one file into Documents; raises ``IngestError`` (``UnsupportedFormatError`` for unknown types)."""
    path = Path(path)
    if not path.exists():  # a mistyped path is an error, whatever its suffix; only real files can be "skipped"
        raise IngestError(str(path), "file not found")
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        suffix = path.suffix or "(none)"
        supported = ", ".join(supported_suffixes())
        raise UnsupportedFormatError(str(path), f"unsupported file type '{suffix}' (supported: {supported})")
    if not path.is_file():
        raise IngestError(str(path), "not a regular file")
    size = path.stat().st_size
    if size > max_bytes:
        raise IngestError(
            str(path),
            f"file too large ({size:,} bytes > limit {max_bytes:,}); split it or raise max_file_bytes",
        )
    if size == 0:
        raise IngestError(str(path), "empty file (0 bytes)")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise IngestError(str(path), f"cannot read file ({e.strerror or e})")
    return loader(path, data, corpus, root)
