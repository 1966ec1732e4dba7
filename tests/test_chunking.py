"""Sentence splitting and chunking: offsets must round-trip exactly, boundaries must be sensible."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest

from agentkit.ingest import chunk_document, split_sentences
from agentkit.types import Document


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Dr. Smith gave 3.5 mg daily. The dose was fine.",
            ["Dr. Smith gave 3.5 mg daily.", "The dose was fine."],
        ),
        (
            "Take it with food, e.g. bread or rice. Avoid alcohol.",
            ["Take it with food, e.g. bread or rice.", "Avoid alcohol."],
        ),
        (
            "The U.S. Army approved it. See No. 5 in the list. Is it safe? Yes!",
            ["The U.S. Army approved it.", "See No. 5 in the list.", "Is it safe?", "Yes!"],
        ),
        ("It was sold in the U.S. The price fell.", ["It was sold in the U.S.", "The price fell."]),
        (
            "J. R. R. Tolkien wrote it. Mr. Baggins agreed.",
            ["J. R. R. Tolkien wrote it.", "Mr. Baggins agreed."],
        ),
        (
            "A rap by P. Diddy is on p. 12 of No. 5. No. It is not.",
            ["A rap by P. Diddy is on p. 12 of No. 5.", "No.", "It is not."],
        ),
        ("He fought in World War I. The war ended.", ["He fought in World War I.", "The war ended."]),
        ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
        ("Wait... Then it rained.", ["Wait...", "Then it rained."]),
        ("Version 2.0 shipped on 1.5.2024 at 10.30 am.", ["Version 2.0 shipped on 1.5.2024 at 10.30 am."]),
        ("他说。我们走吧！好的", ["他说。", "我们走吧！", "好的"]),
        ("Café prices rose 4.2%. Über-growth followed.", ["Café prices rose 4.2%.", "Über-growth followed."]),
    ],
)
def test_split_sentences_handles_abbreviations_decimals_and_punctuation(
    text: str, expected: list[str]
) -> None:
    assert sentences(text) == expected


def test_headings_list_items_and_table_rows_are_their_own_sentences() -> None:
    text = (
        "## Section 2. Contract terms\n"
        "# Dosage\n"
        "Adults take 10 mg\n"
        "- first item without a period\n"
        "- second item. Still the second.\n"
        "1. Step one\n"
        "2. Step two\n\n"
        "| drug | dose |\n"
        "|---|---|\n"
        "| A | 5 mg. Twice daily. |\n"
        "A wrapped line that\ncontinues here."
    )
    assert sentences(text) == [
        "## Section 2. Contract terms",
        "# Dosage",
        "Adults take 10 mg",
        "- first item without a period",
        "- second item.",
        "Still the second.",
        "1. Step one",
        "2. Step two",
        "| drug | dose |",
        "|---|---|",
        "| A | 5 mg. Twice daily. |",
        "A wrapped line that\ncontinues here.",
    ]


def test_paragraph_break_ends_a_sentence_without_punctuation() -> None:
    assert sentences("Title line\n\nBody starts here. More body.") == [
        "Title line",
        "Body starts here.",
        "More body.",
    ]


def test_split_sentences_trims_whitespace_and_handles_empty() -> None:
    assert split_sentences("") == []
    assert split_sentences("   \n\n  ") == []
    text = "  \n  Leading space. Trailing space.   \n"
    for s, e in split_sentences(text):
        assert text[s:e] == text[s:e].strip()


# ------------------------------------------------------------------------------------------- chunking

_WORDS = [
    "dose",
    "patient",
    "Dr.",
    "e.g.",
    "U.S.",
    "No.",
    "3.5",
    "mg",
    "renal",
    "naïve",
    "Zürich",
    "數據",
    "über",
    "kidney",
    "approx.",
    "vs.",
    "10.25%",
    "the",
    "a",
    "trial",
    "(see",
    "Fig.",
    "2)",
    "“quoted”",
    "—",
    "café",
]


def random_text(rng: random.Random) -> str:
    parts: list[str] = []
    for _ in range(rng.randint(0, 60)):
        kind = rng.random()
        if kind < 0.05:
            parts.append(f"{'#' * rng.randint(1, 3)} Section {rng.randint(1, 99)}\n")
        elif kind < 0.08:
            parts.append(f"| {rng.choice(_WORDS)} | {rng.random():.2f} |\n")
        elif kind < 0.11:
            parts.append(f"- {rng.choice(_WORDS)} item\n")
        elif kind < 0.13:
            parts.append(
                " ".join(rng.choice(_WORDS) for _ in range(rng.randint(150, 400))) + ". "
            )  # very long
        else:
            words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 25)))
            parts.append(
                words[0].upper() + words[1:] + rng.choice([". ", "! ", "? ", ".\n", ".\n\n", " ", "\n"])
            )
    return "".join(parts)


@pytest.mark.parametrize("seed", range(150))
def test_chunk_offsets_round_trip_on_random_documents(seed: int) -> None:
    rng = random.Random(seed)
    text = random_text(rng)
    doc = Document(id=f"doc-{seed}", source="mem", text=text)
    size = rng.choice([120, 300, 1000])
    overlap = rng.choice([0, 1, 2])
    chunks = chunk_document(doc, chunk_size=size, overlap=overlap)
    if not text.strip():
        assert chunks == []
        return
    assert chunks, "non-empty text must give at least one chunk"
    for i, c in enumerate(chunks):
        assert doc.text[c.start : c.end] == c.text
        assert c.id == f"{doc.id}::{i}"
        assert c.doc_id == doc.id
        assert len(c.text) <= size
        assert c.text == c.text.strip()
    # Chunks move forward and together cover every sentence.
    assert all(a.start < b.start and a.end < b.end for a, b in itertools.pairwise(chunks))
    for s, e in split_sentences(text):
        assert any(c.start <= s and e <= c.end for c in chunks) or e - s > size


def test_chunks_never_cut_inside_a_sentence() -> None:
    sents = [f"Sentence number {i} talks about dose {i}.5 mg for Dr. Who." for i in range(40)]
    text = " ".join(sents)
    doc = Document(id="d", source="mem", text=text)
    spans = split_sentences(text)
    starts, ends = {s for s, _ in spans}, {e for _, e in spans}
    for c in chunk_document(doc, chunk_size=200, overlap=0):
        assert c.start in starts and c.end in ends


def test_overlap_repeats_the_last_sentences() -> None:
    text = " ".join(f"This is sentence {i}." for i in range(30))
    doc = Document(id="d", source="mem", text=text)
    no_overlap = chunk_document(doc, chunk_size=100, overlap=0)
    one = chunk_document(doc, chunk_size=100, overlap=1)
    two = chunk_document(doc, chunk_size=100, overlap=2)
    for a, b in itertools.pairwise(no_overlap):
        assert a.end < b.start
    for a, b in itertools.pairwise(one):
        last = [a.text[s:e] for s, e in split_sentences(a.text)][-1]
        assert b.text.startswith(last)
    for a, b in itertools.pairwise(two):
        assert b.text.startswith(" ".join([a.text[s:e] for s, e in split_sentences(a.text)][-2:]))
    assert len(no_overlap) < len(one) < len(two)


def test_sentence_longer_than_chunk_size_is_split_at_whitespace() -> None:
    words = [f"word{i:03d}" for i in range(200)]  # 1599 chars, no sentence boundary at all
    text = "Short intro. " + " ".join(words) + ". Short outro."
    doc = Document(id="d", source="mem", text=text)
    chunks = chunk_document(doc, chunk_size=250, overlap=0)
    assert all(len(c.text) <= 250 for c in chunks)
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text
        # split at whitespace: no word is ever cut in half
        assert all(
            tok in words or tok in ("Short", "intro.", "outro.") or tok.rstrip(".") in words
            for tok in c.text.split()
        )
    assert "".join(c.text.replace(" ", "") for c in chunks) == text.replace(" ", "")


def test_unbreakable_token_is_hard_cut() -> None:
    text = "x" * 2500
    chunks = chunk_document(Document(id="d", source="mem", text=text), chunk_size=1000, overlap=1)
    assert [len(c.text) for c in chunks] == [1000, 1000, 500]
    assert "".join(c.text for c in chunks) == text


def test_paragraph_break_is_preferred_when_chunk_is_nearly_full() -> None:
    para1 = " ".join(f"Alpha sentence {i}." for i in range(12))  # ~220 chars
    para2 = " ".join(f"Beta sentence {i}." for i in range(12))
    text = f"{para1}\n\n{para2}"
    doc = Document(id="d", source="mem", text=text)
    chunks = chunk_document(doc, chunk_size=300, overlap=0)
    assert chunks[0].text == para1
    assert chunks[1].text.startswith("Beta sentence 0.")


def test_sections_and_headings_start_chunks() -> None:
    text = (
        "# Dosage\n\n" + " ".join(f"Dose fact {i}." for i in range(8)) + "\n\n"
        "# Side effects\n\n" + " ".join(f"Effect fact {i}." for i in range(8))
    )
    doc = Document(id="d", source="mem", text=text)
    chunks = chunk_document(doc, chunk_size=150, overlap=1)
    assert chunks[0].section == "Dosage"
    side = [c for c in chunks if "Effect fact" in c.text]
    assert side and all(c.section == "Side effects" for c in side)
    assert side[0].text.startswith("# Side effects")  # no overlap from the previous section
    assert all(not c.text.endswith("# Side effects") for c in chunks)


def test_section_from_metadata_headings_and_pages_from_pdf_metadata() -> None:
    text = "Intro\n\nFirst page text. More first page.\n\nSecond page text."
    doc = Document(
        id="d",
        source="x.pdf",
        text=text,
        metadata={"pages": [[1, 0], [2, text.index("Second")]], "headings": [[0, "Intro"]]},
    )
    chunks = chunk_document(doc, chunk_size=20, overlap=0)
    by_text = {c.text: c for c in chunks}
    assert by_text["Second page text."].page == 2
    assert by_text["First page text."].page == 1
    assert all(c.section == "Intro" for c in chunks)


def test_chunk_document_rejects_bad_arguments() -> None:
    doc = Document(id="d", source="mem", text="Hello.")
    with pytest.raises(ValueError):
        chunk_document(doc, chunk_size=0)
    with pytest.raises(ValueError):
        chunk_document(doc, overlap=-1)


HOTPOT = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "data"
    / "hotpotqa"
    / "hotpot_dev_distractor_first103.json"
)


@pytest.mark.skipif(not HOTPOT.exists(), reason="HotpotQA sample not present")
def test_sentence_boundaries_agree_with_hotpotqa_gold_splits() -> None:
    """HotpotQA paragraphs come pre-split into sentences; our boundaries should match nearly all of them."""
    tp = fp = fn = 0
    for example in json.loads(HOTPOT.read_text(encoding="utf-8")):
        for _title, sents in example["context"]:
            text = "".join(sents)
            gold, pos = set(), 0
            for s in sents:
                pos += len(s)
                gold.add(len(text[:pos].rstrip()))
            pred = {e for _s, e in split_sentences(text)}
            tp, fp, fn = tp + len(gold & pred), fp + len(pred - gold), fn + len(gold - pred)
    assert tp / (tp + fp) > 0.98
    assert tp / (tp + fn) > 0.97
