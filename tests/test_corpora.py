"""The evaluation corpora are well-formed, and the validator really catches broken gold data."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

CORPORA = Path(__file__).resolve().parents[1] / "corpora"
DEMO_QUESTION = "What is the maximum daily dose of Veltrazine for adults with normal kidney function?"


def _load_validator():
    # corpora/ is not a package on purpose (the validator must run standalone), so load it by path.
    spec = importlib.util.spec_from_file_location("corpora_validate", CORPORA / "validate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


validate = _load_validator()


def _questions(corpus: str) -> list[dict]:
    lines = (CORPORA / corpus / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_real_corpora_have_no_problems():
    problems, stats = validate.validate_all(CORPORA)
    assert problems == []
    assert {s.name for s in stats} == {"medicine", "law", "finance", "multihop"}
    for s in stats:
        assert 15 <= s.n_docs <= 25, s
        assert s.n_questions >= 60, s
        assert s.by_type["multi_hop"] + s.by_type["comparison"] >= 4, s


def test_main_prints_table_and_exits_zero_on_real_corpora(capsys):
    assert validate.main([str(CORPORA)]) == 0
    out = capsys.readouterr().out
    assert "medicine" in out and "unanswerable" in out and "all corpora valid" in out


def test_demo_question_is_answered_by_the_veltrazine_monograph():
    [q] = [q for q in _questions("medicine") if q["question"] == DEMO_QUESTION]
    assert q["type"] == "single_hop"
    assert q["answers"] == [["40 mg", "40 milligrams"]]
    assert "medicine/veltrazine-monograph" in {e["doc_id"] for e in q["evidence"]}


def test_validator_catches_broken_quote_and_duplicate_ids(tmp_path):
    root = tmp_path / "corpora"
    shutil.copytree(CORPORA / "medicine", root / "medicine")
    corpus = root / "medicine"
    # A second file reusing an existing document id.
    shutil.copy(corpus / "docs" / "veltrazine-monograph.md", corpus / "docs" / "veltrazine-copy.md")
    qs = _questions("medicine")
    qs[0]["evidence"][0]["quote"] = qs[0]["evidence"][0]["quote"].replace("40 mg", "45 mg")
    qs[1]["id"] = qs[2]["id"]  # duplicate question id
    (corpus / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in qs), encoding="utf-8")

    problems, _ = validate.validate_all(root)

    assert any(qs[0]["id"] in p and "not verbatim" in p for p in problems), problems
    assert any("duplicate document id 'medicine/veltrazine-monograph'" in p for p in problems), problems
    assert any("duplicate question id" in p for p in problems), problems
    assert validate.main([str(root)]) == 1


def test_validator_rejects_bad_front_matter_and_thin_corpus(tmp_path):
    corpus = tmp_path / "corpora" / "tiny"
    (corpus / "docs").mkdir(parents=True)
    (corpus / "docs" / "no-front-matter.md").write_text(
        "# Just text\n\nNo metadata here.\n", encoding="utf-8"
    )
    body = " ".join(["word"] * 200)
    (corpus / "docs" / "ok.md").write_text(
        f"---\nid: tiny/ok\ntitle: OK\ndate: 2024-01-01\nauthority: oracle\n---\n{body}\n", encoding="utf-8"
    )
    q = {
        "id": "tiny-001",
        "question": "Q?",
        "answers": [],
        "wrong_answers": [],
        "evidence": [],
        "type": "conflicting",
    }
    (corpus / "questions.jsonl").write_text(json.dumps(q) + "\n", encoding="utf-8")

    problems, [stats] = validate.validate_all(tmp_path / "corpora")

    text = "\n".join(problems)
    assert "missing front matter" in text
    assert "authority 'oracle'" in text
    assert "conflicting question needs at least one answer" in text
    assert "need at least 60" in text
    assert stats.n_questions == 1


def test_parse_front_matter_splits_body_exactly():
    meta, body = validate.parse_front_matter("---\nid: a/b\ntitle: T — x\n---\n# Head\ntext\n")
    assert meta == {"id": "a/b", "title": "T — x"}
    assert body == "# Head\ntext\n"
    with pytest.raises(ValueError):
        validate.parse_front_matter("# no front matter\n")


def test_quotes_are_verbatim_in_agentkit_ingested_text():
    # The gold quotes must survive agentkit's own ingestion, or citation scoring would be wrong.
    ingest = pytest.importorskip("agentkit.ingest")
    for corpus_dir in validate.corpus_dirs(CORPORA):
        docs = {}
        for path in sorted((corpus_dir / "docs").glob("*.md")):
            [doc] = ingest.load_file(path, corpus=corpus_dir.name, root=corpus_dir)
            docs[doc.id] = doc
        for q in _questions(corpus_dir.name):
            for ev in q["evidence"]:
                doc = docs[ev["doc_id"]]
                assert ev["quote"] in doc.text, (q["id"], ev["quote"])
                assert doc.metadata["authority"] in validate.AUTHORITIES  # front matter reached metadata
