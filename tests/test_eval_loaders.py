"""Benchmark loaders on the shared upstream slices (skipped when absent) and on tiny fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentkit.errors import IngestError
from evals.loaders import default_path, load_benchmark, load_corpus_questions
from evals.loaders.conflictqa import claim_stance, yes_no
from evals.loaders.financebench import load_financebench
from evals.loaders.hotpotqa import load_hotpotqa
from evals.loaders.tatqa import answer_aliases, render_table
from evals.types import Benchmark, BenchmarkFormatError

REPO = Path(__file__).resolve().parents[1]


def _shared(name: str) -> Path:
    path = default_path(name)
    if path is None or not path.is_file():
        pytest.skip(f"shared {name} data not available")
    return path


def _assert_evidence_verbatim(bench: Benchmark) -> None:
    docs = bench.document_map()
    assert len(docs) == len(bench.documents), "document ids must be unique"
    for q in bench.questions:
        assert set(q.doc_ids) <= docs.keys(), q.id
        for ev in q.evidence:
            assert ev.doc_id in docs, (q.id, ev.doc_id)
            assert ev.quote in docs[ev.doc_id].text, (q.id, ev.quote)


# --- HotpotQA ---------------------------------------------------------------------------------------


def test_hotpotqa_original_format_counts_and_gold_sentences():
    path = _shared("hotpotqa")
    bench = load_benchmark("hotpotqa")
    # 103 questions x 10 paragraphs (one has 2) = 1022 paragraphs, one title shared by two questions.
    assert (len(bench.documents), len(bench.questions)) == (1021, 103)
    _assert_evidence_verbatim(bench)
    q = bench.questions[0]
    assert q.id == "5a8b57f25542995d1e6f1371" and q.type == "comparison" and q.answers == [["yes"]]
    assert q.evidence[0].doc_id == "scott-derrickson"
    assert q.evidence[0].quote == (
        "Scott Derrickson (born July 16, 1966) is an American director, screenwriter and producer."
    )
    assert q.metadata["supporting_facts"] == [["scott-derrickson", 0], ["ed-wood", 0]]
    # Text is the upstream "".join(sentences); spans are trimmed sentences, so they map back exactly.
    raw = json.loads(path.read_text())[0]
    sentences = dict(raw["context"])["Ed Wood (film)"]
    doc = bench.document_map()["ed-wood-film"]
    assert doc.text == "".join(sentences) and doc.title == "Ed Wood (film)"
    assert [doc.text[s:e] for s, e in doc.metadata["sentence_spans"]] == [s.strip() for s in sentences]


def test_hotpotqa_limit_keeps_only_the_questions_documents():
    _shared("hotpotqa")
    bench = load_benchmark("hotpotqa", limit=5)
    assert len(bench.questions) == 5 and len(bench.documents) == 50
    assert {d.id for d in bench.documents} == {i for q in bench.questions for i in q.doc_ids}


def _to_hf(record: dict) -> dict:
    return {
        "id": record["_id"],
        "question": record["question"],
        "answer": record["answer"],
        "type": record["type"],
        "level": record["level"],
        "supporting_facts": {
            "title": [t for t, _ in record["supporting_facts"]],
            "sent_id": [i for _, i in record["supporting_facts"]],
        },
        "context": {
            "title": [t for t, _ in record["context"]],
            "sentences": [s for _, s in record["context"]],
        },
    }


@pytest.mark.parametrize("layout", ["jsonl", "json"])
def test_hotpotqa_hf_layout_loads_identically(tmp_path, layout):
    path = _shared("hotpotqa")
    records = json.loads(path.read_text())[:3]
    hf = [_to_hf(r) for r in records]
    out = tmp_path / f"hotpot_hf.{layout}"
    if layout == "jsonl":
        out.write_text("\n".join(json.dumps(r) for r in hf) + "\n")
    else:
        out.write_text(json.dumps(hf))
    original = load_benchmark("hotpotqa", limit=3)
    converted = load_hotpotqa(out)
    assert [q.model_dump() for q in converted.questions] == [q.model_dump() for q in original.questions]
    assert [(d.id, d.text, d.metadata) for d in converted.documents] == [
        (d.id, d.text, d.metadata) for d in original.documents
    ]


def test_hotpotqa_titles_with_the_same_slug_get_distinct_stable_ids(tmp_path):
    record = {
        "_id": "q1",
        "question": "Who?",
        "answer": "Ed",
        "type": "bridge",
        "level": "easy",
        "supporting_facts": [["Ed wood", 1]],
        "context": [["Ed Wood", ["Ed Wood was a director."]], ["Ed wood", ["Wood.", " Ed wood is timber."]]],
    }
    path = tmp_path / "h.json"
    path.write_text(json.dumps([record]))
    first, second = load_hotpotqa(path), load_hotpotqa(path)
    ids = [d.id for d in first.documents]
    assert ids[0] == "ed-wood" and ids[1].startswith("ed-wood-") and len(set(ids)) == 2
    assert ids == [d.id for d in second.documents]
    assert first.questions[0].evidence[0].doc_id == ids[1]
    assert first.questions[0].evidence[0].quote == "Ed wood is timber."


def test_hotpotqa_bad_input_raises_typed_errors(tmp_path):
    missing_title = tmp_path / "bad.json"
    missing_title.write_text(
        json.dumps(
            [{"_id": "x", "question": "?", "answer": "a", "supporting_facts": [["Nope", 0]], "context": []}]
        )
    )
    with pytest.raises(BenchmarkFormatError, match="not in its context"):
        load_hotpotqa(missing_title)
    not_json = tmp_path / "broken.jsonl"
    not_json.write_text("{not json\n")
    with pytest.raises(IngestError, match="line 1 is not valid JSON"):
        load_hotpotqa(not_json)
    wrong_file = tmp_path / "other.jsonl"
    wrong_file.write_text(json.dumps({"question": "q", "documents": []}) + "\n")
    with pytest.raises(BenchmarkFormatError, match="context"):
        load_hotpotqa(wrong_file)


# --- RAMDocs, PubMedQA, TAT-QA, ConflictQA -----------------------------------------------------------


def test_ramdocs_documents_per_question():
    _shared("ramdocs")
    bench = load_benchmark("ramdocs")
    assert (len(bench.documents), len(bench.questions)) == (1121, 250)
    _assert_evidence_verbatim(bench)
    q = bench.questions[0]
    assert q.question == "What is the population of Broken Bow?"
    assert q.answers == [["3,559 people"]] and q.type == "conflicting"
    assert q.doc_ids[0] == "ramdocs/0/0"
    first = bench.document_map()["ramdocs/0/0"]
    assert first.metadata["type"] == "correct" and first.metadata["answer"] == "3,559 people"
    # gold evidence = exactly the documents typed "correct"
    for q in bench.questions[:20]:
        docs = [bench.document_map()[i] for i in q.doc_ids]
        assert {e.doc_id for e in q.evidence} == {d.id for d in docs if d.metadata["type"] == "correct"}
    assert sum(1 for q in bench.questions if q.wrong_answers) == 150
    assert sum(1 for q in bench.questions if len(q.answers) == 2) == 150


def test_pubmedqa_one_document_per_pmid_with_sections():
    path = _shared("pubmedqa")
    bench = load_benchmark("pubmedqa")
    assert (len(bench.documents), len(bench.questions)) == (500, 500)
    raw = json.loads(path.read_text())
    q = bench.questions[0]
    rec = raw[q.id]
    assert q.type == "yes_no" and q.answers == [[rec["final_decision"]]]
    assert q.metadata["long_answer"] == rec["LONG_ANSWER"]
    doc = bench.document_map()[q.doc_ids[0]]
    sections = doc.metadata["sections"]
    assert [s["label"] for s in sections] == rec["LABELS"]
    assert [doc.text[s["start"] : s["end"]] for s in sections] == rec["CONTEXTS"]
    assert {a[0][0] for a in (q.answers for q in bench.questions)} == {"yes", "no", "maybe"}


def test_tatqa_table_as_markdown_and_typed_answers():
    _shared("tatqa")
    bench = load_benchmark("tatqa")
    assert (len(bench.documents), len(bench.questions)) == (278, 1668)
    _assert_evidence_verbatim(bench)
    doc = bench.documents[0]
    assert doc.text.startswith("|  |  | Years Ended September 30, |  |\n|---|---|---|---|\n")
    assert "| Total sales | $1,496.5 | $1,202.9 | $1,107.7 |" in doc.text
    qs = {q.question: q for q in bench.questions if q.doc_ids == [doc.id]}
    multi = qs["What are the contract types?"]
    assert multi.type == "multi-span"
    assert multi.answers == [["fixed-price type"], ["cost-plus type"], ["time-and-material type"]]
    arith = qs["What is the change in Other in 2019 from 2018?"]
    assert arith.type == "arithmetic" and arith.answers == [["-12.6", "-12.6 million"]]
    assert arith.metadata["scale"] == "million" and arith.metadata["derivation"] == "44.1-56.7"
    table_span = qs["What is the amount of total sales in 2019?"]
    assert "| Total sales | $1,496.5 | $1,202.9 | $1,107.7 |" in [e.quote for e in table_span.evidence]
    limited = load_benchmark("tatqa", limit=5)
    assert len(limited.questions) == 5 and [d.id for d in limited.documents] == [doc.id]


def test_tatqa_answer_aliases_and_table_rendering():
    assert answer_aliases(-22.22, "percent") == [["-22.22", "-22.22%"]]
    assert answer_aliases(12.0, "") == [["12"]]
    assert answer_aliases(1.23456, "thousand") == [["1.23456", "1.23", "1.23456 thousand"]]
    assert answer_aliases("4", "") == [["4"]]
    assert answer_aliases(["a", "", "b"], "") == [["a"], ["b"]]
    assert render_table([["a", "b|c"], ["1\n2"]]) == "| a | b/c |\n|---|---|\n| 1 2 |  |"


def test_conflictqa_two_opposed_documents_per_question():
    _shared("conflictqa")
    bench = load_benchmark("conflictqa")
    assert (len(bench.documents), len(bench.questions)) == (600, 300)
    q = bench.questions[0]
    assert q.question == "Are more people today related to Genghis Khan than Julius Caesar?"
    assert q.answers == [["yes"]] and q.wrong_answers == ["no"] and q.type == "conflicting"
    memory, counter = (bench.document_map()[i] for i in q.doc_ids)
    assert memory.metadata["stance"] == "memory" and memory.metadata["answer"] == "yes"
    assert counter.metadata["answer"] == "no" and counter.metadata["agrees_with_gold"] is False
    assert [e.doc_id for e in q.evidence] == [memory.id]
    assert {q.answers[0][0] for q in bench.questions} == {"yes", "no"}
    resolved = [q for q in bench.questions if q.metadata["memory_stance"] is not None]
    assert len(resolved) >= 280  # the negation heuristic resolves the clear restatements


def test_conflictqa_stance_heuristic():
    assert yes_no(["True"]) == "yes" and yes_no(["False"]) == "no" and yes_no(False) == "no"
    assert yes_no("maybe") is None
    q = "Is shrimp scampi definitely free of plastic?"
    assert claim_stance("Shrimp scampi is not definitely free of plastic.", q) == "no"
    assert claim_stance("Shrimp scampi is definitely free of plastic.", q) == "yes"
    assert claim_stance("False.", q) == "no"
    assert claim_stance(
        "A snake can swallow an M60 Patton. (Note: This claim is not accurate.)", "Can a snake?"
    ) == ("yes")
    assert claim_stance("Biochemistry doesn't study gluons.", "Does Biochemistry study gluons?") == "no"


# --- FinanceBench (fixture only: no data file ships) --------------------------------------------------


def _financebench_fixture(tmp_path: Path) -> Path:
    page = "3M Company\nNet sales   were $32,765 million\nin 2018. Other text on the page."
    records = [
        {
            "financebench_id": "financebench_id_1",
            "company": "3M",
            "doc_name": "3M_2018_10K",
            "question_type": "metrics-generated",
            "question": "What were 3M's FY2018 net sales?",
            "answer": "$32,765 million",
            "justification": "",
            "evidence": [
                {
                    "evidence_text": "Net sales were $32,765 million in 2018.",
                    "doc_name": "3M_2018_10K",
                    "evidence_page_num": 59,
                    "evidence_text_full_page": page,
                }
            ],
        },
        {
            "financebench_id": "financebench_id_2",
            "company": "3M",
            "doc_name": "3M_2018_10K",
            "question_type": "domain-relevant",
            "question": "Which page covers net sales, and what is its capex?",
            "answer": "$1,577 million",
            "evidence": [
                {
                    "evidence_text": "Other text on the page.",
                    "doc_name": "3M_2018_10K",
                    "evidence_page_num": 59,
                },
                {
                    "evidence_text": "Capital spending was $1,577 million.",
                    "doc_name": "3M_2018_10K",
                    "evidence_page_num": 60,
                },
            ],
        },
    ]
    path = tmp_path / "financebench_open_source.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_financebench_documents_from_evidence(tmp_path):
    bench = load_benchmark("financebench", path=_financebench_fixture(tmp_path))
    assert len(bench.questions) == 2
    assert [d.id for d in bench.documents] == ["financebench/3m-2018-10k/p59", "financebench/3m-2018-10k/p60"]
    _assert_evidence_verbatim(bench)
    q1, q2 = bench.questions
    assert q1.answers == [["$32,765 million"]] and q1.type == "metrics-generated"
    # the page's own spacing differs from evidence_text: the quote is the page's verbatim span
    assert q1.evidence[0].quote == "Net sales   were $32,765 million\nin 2018."
    assert [e.doc_id for e in q2.evidence] == ["financebench/3m-2018-10k/p59", "financebench/3m-2018-10k/p60"]
    assert bench.document_map()["financebench/3m-2018-10k/p60"].text == "Capital spending was $1,577 million."


def test_financebench_has_no_default_file_and_missing_files_are_explained(tmp_path):
    with pytest.raises(BenchmarkFormatError, match="pass path="):
        load_benchmark("financebench")
    with pytest.raises(BenchmarkFormatError, match="not found"):
        load_financebench(tmp_path / "nope.jsonl")
    with pytest.raises(BenchmarkFormatError, match="unknown benchmark"):
        load_benchmark("squad")


# --- this repository's corpora ------------------------------------------------------------------------


def test_corpus_questions_fixture(tmp_path):
    folder = tmp_path / "corpora" / "medicine"
    folder.mkdir(parents=True)
    path = folder / "questions.jsonl"
    rows = [
        {
            "id": "m1",
            "question": "Max dose?",
            "answers": [["40 mg", "40 milligrams"]],
            "type": "single_hop",
            "evidence": [{"doc_id": "medicine/veltrazine", "quote": "40 mg per day"}],
        },
        {
            "id": "m2",
            "question": "Who won the 2031 cup?",
            "answers": [],
            "type": "unanswerable",
            "wrong_answers": ["Brazil"],
        },
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    questions = load_corpus_questions(path)
    assert [q.id for q in questions] == ["m1", "m2"]
    assert questions[0].corpus == "medicine" and questions[0].evidence[0].quote == "40 mg per day"
    assert not questions[1].answerable and questions[1].wrong_answers == ["Brazil"]

    path.write_text(
        json.dumps({"id": "m3", "question": "?", "answers": ["40 mg"], "type": "single_hop"}) + "\n"
    )
    with pytest.raises(BenchmarkFormatError, match="list of alias lists"):
        load_corpus_questions(path)
    path.write_text("".join(json.dumps(rows[0]) + "\n" for _ in range(2)))
    with pytest.raises(BenchmarkFormatError, match="duplicate question id"):
        load_corpus_questions(path)
    path.write_text(json.dumps({"id": "m4", "answers": [], "type": "unanswerable"}) + "\n")
    with pytest.raises(BenchmarkFormatError, match="record 1 is not a valid question"):
        load_corpus_questions(path)


@pytest.mark.parametrize("path", sorted(REPO.glob("corpora/*/questions.jsonl")), ids=lambda p: p.parent.name)
def test_repository_corpus_questions_parse(path):
    questions = load_corpus_questions(path)
    assert questions and all(q.corpus == path.parent.name for q in questions)
