"""Sentence splitting and sentence-aware chunking.

Everything here works on character offsets into ``Document.text`` and never rewrites text, so
``doc.text[chunk.start:chunk.end] == chunk.text`` holds by construction and citations built from
sentence spans are verbatim quotes.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from agentkit.types import Chunk, Document

Span = tuple[int, int]

# fmt: off
# Lower-cased abbreviations (without the final period) after which a period does not end a sentence.
_ABBREVIATIONS = frozenset(
    {
        "mr", "mrs", "ms", "mx", "dr", "prof", "sr", "jr", "st", "mt", "gen", "col", "lt", "sgt",
        "capt", "cmdr", "adm", "gov", "sen", "rep", "pres", "rev", "hon", "vs", "v", "cf", "viz",
        "approx", "ca", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
        "dec",
    }
)
# Abbreviations that often end a sentence too ("... Acme Inc. The ..."): split only before a typical
# sentence-starting word.
_AMBIGUOUS_ABBREVIATIONS = frozenset(
    {
        "e.g", "i.e", "a.m", "p.m", "u.s", "u.k", "u.n", "e.u", "d.c", "ph.d", "m.d", "b.a", "m.a",
        "b.sc", "m.sc", "al", "etc", "ed", "eds", "inc", "ltd", "co", "corp", "bros", "est", "dept",
        "univ",
    }
)
# Abbreviations that only bind to a following number ("No. 5", "Fig. 3", "p. 12").
_NUMERIC_ABBREVIATIONS = frozenset(
    {
        "no", "nos", "nr", "p", "pp", "vol", "vols", "fig", "figs", "eq", "eqs", "art", "sec", "ch",
        "ref", "refs", "tab",
    }
)
# Words that usually start a sentence: after an initialism such as "U.S." they signal a real boundary.
_SENTENCE_STARTERS = frozenset(
    {
        "the", "a", "an", "it", "its", "this", "that", "these", "those", "he", "she", "they", "we", "i",
        "in", "on", "at", "for", "but", "however", "there", "his", "her", "their",
    }
)
# fmt: on

_HEADING_RE = re.compile(r"^[ \t]{0,3}(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_TABLE_ROW_RE = re.compile(r"^[ \t]*\|")
_LIST_ITEM_RE = re.compile(r"^[ \t]*(?:[-*+•]|\d{1,3}[.)]|[a-zA-Z][.)])[ \t]+\S")
_FENCE_RE = re.compile(r"^[ \t]*(```|~~~)")
_RULE_RE = re.compile(r"^[ \t]*(?:-{3,}|\*{3,}|_{3,}|={3,})[ \t]*$")
_LIST_MARKER_RE = re.compile(r"^(?:\d{1,3}|[a-zA-Z])[.)]$")
_INITIALISM_RE = re.compile(r"^(?:[A-Za-z]\.){2,}$")
# Candidate boundary: terminal punctuation, optional closing quotes/brackets, then whitespace.
# CJK full stops end a sentence without any following whitespace.
_BOUNDARY_RE = re.compile(r"(?:[.!?…]+[\"'”’)\]»]*(?=\s)|[。！？]+[」』”’)]*)")
_WORD_RE = re.compile(r"[\w'’-]+")
_OPENERS = "\"'“‘([{«¿¡"


def _line_spans(text: str) -> list[Span]:
    """Spans of lines without their newline."""
    spans, pos = [], 0
    for line in text.split("\n"):
        spans.append((pos, pos + len(line)))
        pos += len(line) + 1
    return spans


def _blocks(text: str) -> list[tuple[int, int, bool]]:
    """Split text into blocks no sentence may cross: paragraphs, list items, headings, table rows,
    fenced-code lines. The flag marks atomic blocks (headings, rows, code), which are one sentence each."""
    blocks: list[tuple[int, int, bool]] = []
    cur_start: int | None = None
    cur_end = 0
    in_fence = False

    def close() -> None:
        nonlocal cur_start
        if cur_start is not None:
            blocks.append((cur_start, cur_end, False))
            cur_start = None

    for s, e in _line_spans(text):
        line = text[s:e]
        if _FENCE_RE.match(line) or in_fence:
            # Code keeps its line structure: every line stands alone.
            if _FENCE_RE.match(line):
                in_fence = not in_fence
            close()
            if line.strip():
                blocks.append((s, e, True))
            continue
        if not line.strip():
            close()
            continue
        if _HEADING_RE.match(line) or _TABLE_ROW_RE.match(line) or _RULE_RE.match(line):
            close()
            blocks.append((s, e, True))
            continue
        if _LIST_ITEM_RE.match(line):
            close()
        if cur_start is None:
            cur_start = s
        cur_end = e
    close()
    return blocks


def _is_boundary(text: str, block_start: int, punct_start: int, punct_end: int) -> bool:
    """Decide whether the punctuation at text[punct_start:punct_end] really ends a sentence."""
    punct = text[punct_start:punct_end]
    if punct[0] in "。！？":
        return True
    nxt = punct_end
    while nxt < len(text) and text[nxt].isspace():
        nxt += 1
    if nxt >= len(text):
        return True
    next_char = text[nxt]
    if next_char.islower():
        return False  # "e.g. the", "approx. three", "Yahoo! is" ...
    if not punct.startswith(".") or punct.startswith(".."):
        return True
    # The word the period belongs to, e.g. "Dr.", "(e.g.", "U.S.".
    word_start = punct_start
    while word_start > block_start and not text[word_start - 1].isspace():
        word_start -= 1
    word = text[word_start : punct_start + 1].lstrip(_OPENERS)
    bare = word[:-1].lower()
    if word_start == block_start and _LIST_MARKER_RE.match(word):
        return False  # "1. Mix the powder" as a list marker
    if bare in _NUMERIC_ABBREVIATIONS and next_char.isdigit():
        return False  # "No. 5", "p. 12"; "P. Diddy" falls through to the initials rule
    next_word = _WORD_RE.match(text, nxt)
    starter = next_word is not None and next_word.group(0).lower() in _SENTENCE_STARTERS
    if bare in _ABBREVIATIONS:
        return False  # "Dr. Smith"
    if bare in _AMBIGUOUS_ABBREVIATIONS:
        return starter  # "... in the U.S. The next ..." ends, "U.S. Army" does not
    if _INITIALISM_RE.match(word) or (len(word) == 2 and word[0].isupper()):
        return starter  # "J. R. R. Tolkien" vs "... in the U.K. It was ..."
    return True


def split_sentences(text: str) -> list[Span]:
    """Character spans of the sentences of ``text``, whitespace-trimmed; ``text[s:e]`` is a sentence.

    Headings, table rows, list items and paragraphs are never merged; inside a block, sentences end at
    terminal punctuation followed by whitespace, except after abbreviations and initials.
    """
    spans: list[Span] = []
    for b_start, b_end, atomic in _blocks(text):
        start = b_start
        if atomic:
            _append_trimmed(text, b_start, b_end, spans)
            continue
        for m in _BOUNDARY_RE.finditer(text, b_start, b_end):
            if _is_boundary(text, b_start, m.start(), m.end()):
                _append_trimmed(text, start, m.end(), spans)
                start = m.end()
        _append_trimmed(text, start, b_end, spans)
    return spans


def _append_trimmed(text: str, start: int, end: int, out: list[Span]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        out.append((start, end))


def _split_long(text: str, start: int, end: int, size: int) -> list[Span]:
    """Split an over-long sentence into pieces of at most ``size`` characters, at whitespace when possible."""
    pieces: list[Span] = []
    while end - start > size:
        cut = start + size
        ws = max(text.rfind(" ", start + 1, cut + 1), text.rfind("\n", start + 1, cut + 1))
        if ws > start + size // 4:
            cut = ws  # the whitespace itself is dropped by trimming below
        piece_end = cut
        while piece_end > start and text[piece_end - 1].isspace():
            piece_end -= 1
        pieces.append((start, piece_end))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        pieces.append((start, end))
    return pieces


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    para_break: bool  # a blank line (or heading) separates this unit from the previous one
    heading: bool


def heading_spans(doc: Document) -> list[tuple[int, str]]:
    """(offset, heading text) for every heading, from ``metadata["headings"]`` (HTML, DOCX) or markdown."""
    given = doc.metadata.get("headings")
    if given:
        return sorted((int(off), str(title)) for off, title in given)
    out = []
    in_fence = False
    for s, e in _line_spans(doc.text):
        line = doc.text[s:e]
        if _FENCE_RE.match(line):
            in_fence = not in_fence
            continue
        m = None if in_fence else _HEADING_RE.match(line)
        if m:
            out.append((s, m.group(2).strip()))
    return out


def _units(doc: Document, chunk_size: int, heading_offsets: set[int]) -> list[_Unit]:
    text = doc.text
    units: list[_Unit] = []
    prev_end = 0
    for s, e in split_sentences(text):
        if s < prev_end:
            continue  # already merged into a heading
        if s in heading_offsets:
            # An HTML/DOCX heading such as "Section 3. Tort" is one unit, like a markdown heading line.
            line_end = text.find("\n", s)
            e = max(e, len(text) if line_end < 0 else line_end)
        para = bool(units) and (text.count("\n", prev_end, s) >= 2 or s in heading_offsets)
        for i, (ps, pe) in enumerate(_split_long(text, s, e, chunk_size)):
            units.append(_Unit(ps, pe, para and i == 0, s in heading_offsets and i == 0))
        prev_end = e
    return units


def _section_at(headings: list[tuple[int, str]], offsets: list[int], offset: int) -> str | None:
    i = bisect.bisect_right(offsets, offset) - 1
    return headings[i][1] if i >= 0 else None


def chunk_document(doc: Document, chunk_size: int = 1000, overlap: int = 1) -> list[Chunk]:
    """Sentence-aware chunks of at most ``chunk_size`` characters with ``overlap`` sentences of overlap.

    Chunks end at sentence boundaries (a sentence longer than ``chunk_size`` is split at whitespace);
    once a chunk is at least 60% full, it ends at the last paragraph break rather than mid-paragraph.
    Overlap never crosses into a new section.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    if overlap < 0:
        raise ValueError(f"overlap must be >= 0, got {overlap}")
    headings = heading_spans(doc)
    heading_offsets = [h[0] for h in headings]
    units = _units(doc, chunk_size, set(heading_offsets))
    chunks: list[Chunk] = []
    i = 0
    min_j = 0  # each chunk must reach past the previous one's last unit
    while i < len(units):
        j = i  # last unit included
        while j + 1 < len(units) and units[j + 1].end - units[i].start <= chunk_size:
            j += 1
        if j + 1 < len(units):
            j = _prefer_paragraph_end(units, i, j, chunk_size, max(i, min_j))
        start, end = units[i].start, units[j].end
        chunks.append(
            Chunk(
                id=f"{doc.id}::{len(chunks)}",
                doc_id=doc.id,
                text=doc.text[start:end],
                start=start,
                end=end,
                page=doc.page_at(start),
                section=_section_at(headings, heading_offsets, start),
            )
        )
        if j + 1 >= len(units):
            break
        min_j = j + 1
        i = _next_start(units, i, j, overlap, chunk_size)
    return chunks


def _prefer_paragraph_end(units: list[_Unit], i: int, j: int, chunk_size: int, min_j: int) -> int:
    """Move the chunk end (unit ``j``, not before ``min_j``) back to the last paragraph break if the
    chunk stays >= 60% full."""
    if not units[j + 1].para_break:
        for k in range(j, min_j, -1):
            if units[k].para_break:
                if units[k - 1].end - units[i].start >= 0.6 * chunk_size:
                    j = k - 1
                break
    # Never end a chunk on a heading when the heading can lead the next chunk instead.
    while units[j].heading and j > min_j:
        j -= 1
    return j


def _next_start(units: list[_Unit], i: int, j: int, overlap: int, chunk_size: int) -> int:
    nxt = j + 1
    if units[nxt].heading:
        return nxt  # a new section starts clean
    start = max(nxt - overlap, i + 1)
    # Shrink the overlap until the overlap plus the next unit still fit in one chunk.
    while start < nxt and units[nxt].end - units[start].start > chunk_size:
        start += 1
    return start
