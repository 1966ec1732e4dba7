"""Loaders and batch ingestion: formats, titles, ids, bad files, dedupe. Fixtures are built in tmp_path."""

from __future__ import annotations

import io
import json
from pathlib import Path

import docx
import pytest
from pypdf import PdfWriter

from agentkit.errors import IngestError
from agentkit.ingest import (
    IngestResult,
    UnsupportedFormatError,
    chunk_document,
    iter_files,
    load_file,
    load_paths,
    slugify,
)

# ------------------------------------------------------------------------------------------ fixtures


def make_pdf(pages: list[list[str]], title: str | None = None) -> bytes:
    """A minimal, valid PDF with one Helvetica text line per entry of each page."""
    n = len(pages)
    font_id = 3 + 2 * n
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n))
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode()]
    for i, lines in enumerate(pages):
        escaped = [ln.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for ln in lines]
        content = (
            "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({ln}) Tj T*" for ln in escaped) + " ET"
        ).encode()
        objs.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 {font_id} 0 R >> >>"
            f" /Contents {4 + 2 * i} 0 R >>".encode()
        )
        objs.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    if title:
        objs.append(f"<< /Title ({title}) >>".encode())
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for num, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % num + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    info = f" /Info {len(objs)} 0 R" if title else ""
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R{info} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def encrypt_pdf(data: bytes, password: str = "secret") -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(data))
    writer.encrypt(password)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def make_docx(path: Path, paragraphs: list[tuple[str, str | None]], title: str = "") -> Path:
    d = docx.Document()
    for text, style in paragraphs:
        d.add_paragraph(text, style=style)
    table = d.add_table(rows=2, cols=2)
    for r, row in enumerate([("Drug", "Dose"), ("Veltrazine", "40 mg")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    if title:
        d.core_properties.title = title
    d.save(path)
    return path


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def reason_of(path: Path, **kw) -> str:
    with pytest.raises(IngestError) as info:
        load_file(path, **kw)
    return info.value.reason


# ------------------------------------------------------------------------------------- text formats


def test_markdown_front_matter_goes_to_metadata_and_is_removed(tmp_path: Path) -> None:
    p = write(
        tmp_path / "med" / "Velt Monograph.md",
        "---\ntitle: Veltrazine Monograph\nid: VELT-2024\ndate: 2024-03-01\nauthority: 0.9\n"
        "tags: [renal, dosing]\n---\n\n# Heading Not Title\n\nMax dose is 40 mg.\r\n",
    )
    (doc,) = load_file(p, corpus="medicine", root=tmp_path)
    assert doc.id == "velt-2024"
    assert doc.title == "Veltrazine Monograph"
    assert doc.text == "# Heading Not Title\n\nMax dose is 40 mg."
    assert doc.metadata == {
        "date": "2024-03-01",
        "authority": 0.9,
        "tags": ["renal", "dosing"],
        "format": "markdown",
    }
    assert doc.corpus == "medicine"
    assert doc.source == str(p)


def test_markdown_title_from_first_heading_and_id_from_relative_path(tmp_path: Path) -> None:
    p = write(tmp_path / "Medicine" / "Veltrazine Monograph.md", "Intro line.\n\n# Veltrazine\n\nText.")
    (doc,) = load_file(p, root=tmp_path)
    assert doc.title == "Veltrazine"
    assert doc.id == "medicine/veltrazine-monograph"
    # Stable across runs and without a root the id is the file's own slug.
    assert load_file(p, root=tmp_path)[0].id == doc.id
    assert load_file(p)[0].id == "veltrazine-monograph"


def test_txt_title_is_file_stem_and_text_is_normalised(tmp_path: Path) -> None:
    p = write(tmp_path / "notes.txt", b"\xef\xbb\xbfLine one.\r\nLine\x00 two.\r\n\r\n   \n")
    (doc,) = load_file(p)
    assert doc.title == "notes"
    assert doc.text == "Line one.\nLine two."
    assert doc.metadata["format"] == "txt"


def test_front_matter_block_lists_and_date_strings(tmp_path: Path) -> None:
    p = write(
        tmp_path / "x.md", "---\ndate: 2024\nupdated_date: '2024-05-01'\ntags:\n  - a\n  - 2\n---\nBody."
    )
    (doc,) = load_file(p)
    assert doc.metadata == {
        "date": "2024",
        "updated_date": "2024-05-01",
        "tags": ["a", 2],
        "format": "markdown",
    }
    assert doc.text == "Body."


def test_horizontal_rule_at_start_is_not_front_matter(tmp_path: Path) -> None:
    p = write(tmp_path / "rule.md", "---\nJust some text, not a key.\n---\nBody.")
    (doc,) = load_file(p)
    assert doc.text.startswith("---\nJust some text")


def test_html_drops_scripts_and_keeps_blocks_tables_and_title(tmp_path: Path) -> None:
    html = """<!doctype html><html><head><title>Drug  Guide</title><style>p {color: red}</style>
    <script>var x = "secret";</script></head><body>
    <h1>Veltrazine</h1><p>Max   dose is <b>40&nbsp;mg</b>.<br>Take with food.</p>
    <div>Second block &amp; more.</div>
    <table><tr><th>Drug</th><th>Dose</th></tr><tr><td>A</td><td>5 mg</td></tr></table>
    <h2>Warnings. Read first</h2><ul><li>Not for children.</li><li>Avoid alcohol.</li></ul>
    </body></html>"""
    (doc,) = load_file(write(tmp_path / "guide.html", html))
    assert doc.title == "Drug Guide"
    assert "secret" not in doc.text and "color" not in doc.text
    assert doc.text == (
        "Veltrazine\n\nMax dose is 40 mg.\nTake with food.\n\nSecond block & more.\n\n"
        "| Drug | Dose |\n\n| A | 5 mg |\n\nWarnings. Read first\n\nNot for children.\n\nAvoid alcohol."
    )
    warn = doc.text.index("Warnings")
    assert doc.metadata["headings"] == [[0, "Veltrazine"], [warn, "Warnings. Read first"]]
    chunks = chunk_document(doc, chunk_size=60, overlap=0)
    assert chunks[-1].section == "Warnings. Read first"
    # the heading is kept whole and leads its section's chunk
    assert any(c.text.startswith("Warnings. Read first\n\nNot for children.") for c in chunks)


def test_html_title_falls_back_to_h1_then_stem(tmp_path: Path) -> None:
    (a,) = load_file(write(tmp_path / "a.htm", "<h1>Big  Title</h1><p>Body.</p>"))
    (b,) = load_file(write(tmp_path / "plain-page.html", "<p>Body only.</p>"))
    assert a.title == "Big Title"
    assert b.title == "plain-page"


# ------------------------------------------------------------------------------------------ PDF, DOCX


def test_pdf_pages_are_kept_for_page_at(tmp_path: Path) -> None:
    p = write(
        tmp_path / "report.pdf",
        make_pdf([["Page one says hello."], [], ["Page three text."]], "Annual Report"),
    )
    (doc,) = load_file(p)
    assert doc.title == "Annual Report"
    assert doc.text == "Page one says hello.\n\nPage three text."
    assert doc.metadata["pages"] == [[1, 0], [3, 22]]
    assert doc.page_at(doc.text.index("hello")) == 1
    assert doc.page_at(doc.text.index("three")) == 3
    chunks = chunk_document(doc, chunk_size=25, overlap=0)
    assert [c.page for c in chunks] == [1, 3]


def test_pdf_without_title_uses_stem(tmp_path: Path) -> None:
    (doc,) = load_file(write(tmp_path / "scan-01.pdf", make_pdf([["Some text."]])))
    assert doc.title == "scan-01"


def test_docx_paragraphs_headings_and_tables(tmp_path: Path) -> None:
    p = make_docx(
        tmp_path / "memo.docx",
        [("Dosing Memo", "Title"), ("Adults take 40 mg.", None), ("Renal", "Heading 2"), ("Halve it.", None)],
    )
    (doc,) = load_file(p)
    assert doc.title == "Dosing Memo"
    assert (
        doc.text
        == "Dosing Memo\n\nAdults take 40 mg.\n\nRenal\n\nHalve it.\n\n| Drug | Dose |\n\n| Veltrazine | 40 mg |"
    )
    assert [h[1] for h in doc.metadata["headings"]] == ["Dosing Memo", "Renal"]
    p2 = make_docx(tmp_path / "other.docx", [("Body text.", None)], title="Core Title")
    assert load_file(p2)[0].title == "Core Title"


# ---------------------------------------------------------------------------------------- JSON, JSONL


def test_jsonl_records_ids_titles_and_metadata(tmp_path: Path) -> None:
    lines = [
        {"id": "Q 1", "title": "First", "text": "Alpha text.", "year": 2020, "nested": {"x": 1}},
        {"content": "Beta text.", "source_url": "http://x"},
        {"_id": 7, "abstract": "Gamma text.", "title": "Third"},
    ]
    p = write(
        tmp_path / "sub" / "Recs.jsonl",
        "\n".join(json.dumps(x) for x in lines[:2]) + "\n\n" + json.dumps(lines[2]),
    )
    docs = load_file(p, root=tmp_path)
    assert [d.id for d in docs] == ["sub/recs#q-1", "sub/recs#2", "sub/recs#7"]
    assert [d.title for d in docs] == ["First", "Recs", "Third"]
    assert [d.text for d in docs] == ["Alpha text.", "Beta text.", "Gamma text."]
    assert docs[0].metadata == {"year": 2020, "format": "jsonl", "line": 1}
    assert docs[1].metadata["source_url"] == "http://x"


def test_json_list_single_record_and_documents_wrapper(tmp_path: Path) -> None:
    lst = write(tmp_path / "list.json", json.dumps([{"doc_id": "A1", "body": "One."}, {"text": "Two."}]))
    assert [d.id for d in load_file(lst)] == ["a1", "list#2"]
    one = write(tmp_path / "one.json", json.dumps({"title": "Solo", "contents": "Only record."}))
    (doc,) = load_file(one)
    assert (doc.id, doc.title, doc.text) == ("one", "Solo", "Only record.")
    wrapped = write(tmp_path / "wrapped.json", json.dumps({"documents": [{"id": "w", "text": "Wrapped."}]}))
    assert [d.id for d in load_file(wrapped)] == ["w"]


# -------------------------------------------------------------------------------------------- bad files


@pytest.mark.parametrize(
    ("name", "content", "reason_part"),
    [
        ("bin.txt", bytes(range(256)) * 4, "binary"),
        ("utf16.txt", "hello world".encode("utf-16"), "binary"),
        ("latin1.txt", "caf\xe9 au lait".encode("latin-1"), "not UTF-8"),
        ("empty.md", b"", "empty"),
        ("blank.txt", b"  \n\t\r\n  ", "empty"),
        ("only-front-matter.md", b"---\ntitle: x\n---\n\n", "empty"),
        ("bad.json", b'[{"text": "a"}, {"text": ', "malformed JSON"),
        ("scalar.json", b"42", "JSON must be"),
        ("nofield.json", b'[{"text": "ok"}, {"summary": "no text field"}]', "record 2 has no text field"),
        ("emptylist.json", b"[]", "empty"),
        ("bad.jsonl", b'{"text": "fine"}\n{"text": "fine too"}\n{"text": broken}\n', "line 3"),
        ("nofield.jsonl", b'{"text": "fine"}\n{"title": "no body"}\n', "line 2 has no text field"),
        ("dupid.jsonl", b'{"id": 1, "text": "a"}\n{"id": 1, "text": "b"}\n', "duplicate id"),
        ("fake.pdf", b"this is not a pdf at all", "not a PDF"),
        ("broken.pdf", make_pdf([["Hello there."]])[:300], "broken or truncated PDF"),
        ("image-only.pdf", make_pdf([[]]), "no extractable text"),
        ("locked.pdf", encrypt_pdf(make_pdf([["Secret text."]])), "encrypted PDF"),
        ("broken.docx", b"PK\x03\x04 not really a zip", "broken"),
        ("empty.html", b"<html><script>only()</script></html>", "empty"),
    ],
)
def test_bad_files_raise_ingest_error_with_reason(
    tmp_path: Path, name: str, content: bytes, reason_part: str
) -> None:
    assert reason_part in reason_of(write(tmp_path / name, content))


def test_oversized_missing_and_unsupported_files(tmp_path: Path) -> None:
    big = write(tmp_path / "big.txt", "word " * 100)
    assert "too large" in reason_of(big, max_bytes=100)
    assert load_file(big, max_bytes=1000)
    assert "not found" in reason_of(tmp_path / "missing.md")
    with pytest.raises(UnsupportedFormatError) as info:
        load_file(write(tmp_path / "image.png", b"\x89PNG"))
    assert "unsupported file type '.png'" in info.value.reason


def test_empty_docx_is_reported(tmp_path: Path) -> None:
    d = docx.Document()
    d.save(tmp_path / "blank.docx")
    assert "empty" in reason_of(tmp_path / "blank.docx")


# ------------------------------------------------------------------------------------------- pipeline


def test_iter_files_sorted_recursive_skips_hidden(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    for rel in ["b.md", "a/z.txt", "a/b.txt", ".hidden.md", ".git/config.md", "a/.secret/x.md"]:
        write(root / rel, "Text.")
    extra = write(tmp_path / "extra.md", "Extra.")
    files = list(iter_files([root, extra, root / "b.md"]))
    assert [(f.relative_to(tmp_path).as_posix(), r) for f, r in files] == [
        ("corpus/a/b.txt", root),
        ("corpus/a/z.txt", root),
        ("corpus/b.md", root),
        ("extra.md", tmp_path),
    ]


def test_load_paths_reports_every_file_and_never_half_enters(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    write(root / "good.md", "# Good\n\nFine text.")
    write(root / "bad.jsonl", '{"text": "would be fine"}\n{"text": oops}\n')
    write(root / "locked.pdf", encrypt_pdf(make_pdf([["Secret."]])))
    write(root / "photo.jpg", b"\xff\xd8\xff")
    write(root / "latin.txt", "na\xefve".encode("latin-1"))
    result = load_paths([root], corpus="c1")
    assert isinstance(result, IngestResult)
    assert [d.id for d in result.documents] == ["good"]
    assert all(d.corpus == "c1" for d in result.documents)
    status = {Path(r.path).name: (r.status, r.reason) for r in result.report}
    assert status["good.md"][0] == "ok"
    assert status["bad.jsonl"][0] == "error" and "line 2" in status["bad.jsonl"][1]
    assert status["locked.pdf"][0] == "error" and "encrypted" in status["locked.pdf"][1]
    assert status["photo.jpg"][0] == "skipped" and "unsupported" in status["photo.jpg"][1]
    assert status["latin.txt"] == ("error", "not UTF-8 text (invalid byte at offset 2); re-save it as UTF-8")
    assert [r.path for r in result.errors] == [
        str(root / "bad.jsonl"),
        str(root / "latin.txt"),
        str(root / "locked.pdf"),
    ]
    ok = next(r for r in result.report if r.status == "ok")
    assert (ok.n_documents, ok.doc_ids) == (1, ["good"])


def test_missing_path_is_reported_not_raised(tmp_path: Path) -> None:
    result = load_paths([tmp_path / "nope.md"])
    assert result.documents == []
    assert result.report[0].status == "error" and "not found" in result.report[0].reason


def test_duplicates_by_content_are_skipped(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "Same content.")
    write(tmp_path / "b.md", "Same content.\r\n")  # identical after normalisation
    write(tmp_path / "c.md", "Different content.")
    write(tmp_path / "recs.jsonl", '{"text": "Different content."}\n{"text": "New record."}\n')
    result = load_paths(tmp_path)
    assert [d.id for d in result.documents] == ["a", "c", "recs#2"]
    rep = {Path(r.path).name: r for r in result.report}
    assert (rep["b.md"].status, rep["b.md"].reason) == ("skipped", "duplicate of a")
    assert rep["b.md"].duplicates == {"b": "a"}
    assert rep["recs.jsonl"].status == "ok" and rep["recs.jsonl"].duplicates == {"recs#1": "c"}
    assert rep["recs.jsonl"].doc_ids == ["recs#2"]


def test_skip_hashes_leave_out_already_indexed_documents(tmp_path: Path) -> None:
    first = load_paths(write(tmp_path / "a.md", "Indexed before."))
    (doc,) = first.documents
    write(tmp_path / "b.md", "Brand new.")
    again = load_paths(tmp_path, skip_hashes={doc.sha256: doc.id})
    assert [d.id for d in again.documents] == ["b"]
    rep = {Path(r.path).name: r for r in again.report}
    assert rep["a.md"].status == "skipped" and rep["a.md"].reason == "duplicate of a"
    assert rep["a.md"].duplicates == {"a": "a"}
    as_set = load_paths(tmp_path, skip_hashes={doc.sha256})
    assert [d.id for d in as_set.documents] == ["b"]


def test_same_id_from_two_files_is_an_error_for_the_second(tmp_path: Path) -> None:
    write(tmp_path / "notes.md", "Markdown notes.")
    write(tmp_path / "notes.txt", "Text notes.")
    result = load_paths(tmp_path)
    assert [d.id for d in result.documents] == ["notes"]
    err = result.errors[0]
    assert err.path.endswith("notes.txt") and "already used" in err.reason


def test_progress_callback_counts_files(tmp_path: Path) -> None:
    for i in range(3):
        write(tmp_path / f"d{i}.txt", f"Doc {i}.")
    calls: list[tuple[str, int, int]] = []
    load_paths(tmp_path, progress=lambda stage, done, total: calls.append((stage, done, total)))
    assert calls[-1] == ("load", 3, 3) and calls[0] == ("load", 0, 3)


@pytest.mark.parametrize(
    ("raw", "slug"),
    [
        ("Medicine/Veltrazine Monograph", "medicine/veltrazine-monograph"),
        ("Café Crème", "cafe-creme"),
        ("a\\b c", "a/b-c"),
        ("x#1", "x#1"),
    ],
)
def test_slugify(raw: str, slug: str) -> None:
    assert slugify(raw) == slug


def test_slugify_non_latin_is_stable_and_valid() -> None:
    s = slugify("数据报告")
    assert s == slugify("数据报告") and s.startswith("doc-")
