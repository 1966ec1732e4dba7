"""The eval runner: per-question scoring, aggregation, resumable results, error records, index reuse and
the report files, on hand-made questions and answers (no generator); plus one end-to-end run of
``python -m evals run hotpotqa`` on the real models (integration)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentkit.errors import GenerationError
from agentkit.settings import Settings
from agentkit.types import (
    Answer,
    AnswerSentence,
    AnswerStatus,
    Citation,
    ConflictCandidate,
    Document,
    TraceStep,
)
from evals.__main__ import _ids, check_report, main
from evals.report import METRIC_KEYS, aggregate
from evals.runner import (
    RESULTS_FILE,
    RunConfig,
    agent_answer_fn,
    ensure_index,
    load_suite,
    make_record,
    numeric_match,
    read_results,
    run,
    run_questions,
)
from evals.types import Benchmark, BenchmarkFormatError, GoldEvidence, Question

REPO = Path(__file__).resolve().parents[1]
HOTPOT = REPO.parent / "shared" / "data" / "hotpotqa" / "hotpot_dev_distractor_first103.json"

DOCS = [
    Document(id="paris", source="paris.md", title="Paris", text="Paris is the capital of France. It has 2.1 million people."),
    Document(id="rome", source="rome.md", title="Rome", text="Rome is the capital of Italy."),
    Document(id="misc", source="misc.md", title="Misc", text="Lyon is a city in France."),
]
DOC_MAP = {d.id: d for d in DOCS}


def _q(qid: str, question: str, answers: list[list[str]], evidence: tuple[str, ...] = (), **kw) -> Question:
    return Question(id=qid, question=question, answers=answers, evidence=[GoldEvidence(doc_id=e) for e in evidence],
                    type=kw.pop("type", "single_hop"), corpus=kw.pop("corpus", "toy"), **kw)


QUESTIONS = [
    _q("q1", "What is the capital of France?", [["Paris"]], ("paris",)),
    _q("q2", "What is the capital of Italy?", [["Rome"]], ("rome",)),
    _q("q3", "What is the capital of Atlantis?", [], type="unanswerable"),
]
BENCH = Benchmark(name="toy", documents=DOCS, questions=QUESTIONS)


def _cite(doc_id: str, start: int, end: int, quote: str | None = None) -> Citation:
    text = DOC_MAP[doc_id].text[start:end]
    return Citation(doc_id=doc_id, chunk_id=f"{doc_id}::0", source=f"{doc_id}.md", start=start, end=end,
                    quote=text if quote is None else quote)


def _answered(short: str, citations: list[Citation], confidence: float = 0.9) -> Answer:
    return Answer(question="?", status=AnswerStatus.answered, answer=short, confidence=confidence,
                  sentences=[AnswerSentence(text=f"It is {short}.", citations=citations)],
                  trace=[TraceStep(stage="retrieve", seconds=0.1),
                         TraceStep(stage="generate", seconds=1.0, prompt_tokens=100, completion_tokens=10)])


def _abstained(confidence: float = 0.1) -> Answer:
    return Answer(question="?", status=AnswerStatus.abstained, abstain_reason="no_relevant_evidence",
                  confidence=confidence, trace=[TraceStep(stage="retrieve", seconds=0.1)])


# Scripted answers: q1 right and cited, q2 wrong (cites the wrong document, with a doctored quote),
# q3 correctly abstained.
SCRIPT = {
    "q1": _answered("Paris", [_cite("paris", 0, 31)], 0.9),
    "q2": _answered("Milan", [Citation(doc_id="misc", chunk_id="misc::0", source="misc.md", start=0, end=4,
                                       quote="LYON")], 0.8),
    "q3": _abstained(0.2),
}


def scripted(question: Question, strategy: str) -> Answer:
    return SCRIPT[question.id]


def test_aggregate_has_every_metric_with_hand_computed_values():
    records = [make_record(q, "grounded", "toy", SCRIPT[q.id], 2.0, DOC_MAP) for q in QUESTIONS]
    m = aggregate(records, ["grounded"])["grounded"]
    assert set(METRIC_KEYS) <= set(m) and "by_type" in m
    assert m["n"] == 3 and m["errors"] == 0
    assert m["exact_match"] == pytest.approx(2 / 3)  # Paris right, Milan wrong, abstention right
    assert m["citation_precision"] == pytest.approx(0.5)  # q1 cites gold (1), q2 cites a non-gold doc (0)
    assert m["citation_recall"] == pytest.approx(0.5)
    assert m["quote_verbatim_rate"] == pytest.approx(0.5)  # "LYON" is not text[0:4] == "Lyon"
    assert m["abstention_precision"] == 1.0 and m["abstention_recall"] == 1.0
    assert m["false_abstention_rate"] == 0.0
    assert m["crag_score"] == pytest.approx((1 - 1 + 1) / 3)
    assert m["auroc"] == pytest.approx(0.5)  # correct confidences {0.9, 0.2} vs wrong {0.8}: one pair of two
    assert m["latency_p50"] == 2.0 and m["prompt_tokens_mean"] == pytest.approx(200 / 3)
    assert m["conflict_em"] is None and m["supporting_fact_f1"] is None  # nothing conflicting, no HotpotQA
    assert m["by_type"]["unanswerable"]["exact_match"] == 1.0
    assert m["by_type"]["single_hop"]["n"] == 2


def test_rerun_skips_finished_pairs_and_runs_only_new_ones(tmp_path):
    calls: list[tuple[str, str]] = []

    def counting(question: Question, strategy: str) -> Answer:
        calls.append((question.id, strategy))
        return SCRIPT[question.id]

    path = tmp_path / RESULTS_FILE
    first = run_questions(BENCH, ["grounded"], counting, path, progress=False)
    assert len(first) == 3 and len(calls) == 3
    again = run_questions(BENCH, ["grounded"], counting, path, progress=False)
    assert len(calls) == 3  # nothing asked twice
    assert [r["id"] for r in again] == ["q1", "q2", "q3"]
    run_questions(BENCH, ["grounded", "naive"], counting, path, progress=False)
    assert calls[3:] == [("q1", "naive"), ("q2", "naive"), ("q3", "naive")]
    assert len(path.read_text().splitlines()) == 6


def test_reused_answers_are_rescored_with_the_current_gold(tmp_path):
    path = tmp_path / RESULTS_FILE
    run_questions(BENCH, ["grounded"], scripted, path, progress=False)
    fixed_gold = Benchmark(name="toy", documents=DOCS, questions=[
        QUESTIONS[0], _q("q2", "What is the capital of Italy?", [["Rome"], ["Milan"]], ("misc",)), QUESTIONS[2]])
    again = run_questions(fixed_gold, ["grounded"], lambda q, s: pytest.fail("asked again"), path, progress=False)
    assert again[1]["metrics"]["citation_precision"] == 1.0  # misc is gold now; no model call was needed


def test_torn_last_line_is_dropped_and_its_question_rerun(tmp_path):
    path = tmp_path / RESULTS_FILE
    run_questions(BENCH, ["grounded"], scripted, path, progress=False)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2]) + "\n" + lines[2][:40])  # killed while writing q3
    asked: list[str] = []

    def spy(question: Question, strategy: str) -> Answer:
        asked.append(question.id)
        return SCRIPT[question.id]

    records = run_questions(BENCH, ["grounded"], spy, path, progress=False)
    assert asked == ["q3"] and [r["id"] for r in records] == ["q1", "q2", "q3"]
    assert [r["id"] for r in read_results(path)] == ["q1", "q2", "q3"]


def test_a_question_that_raises_is_recorded_and_counted_wrong(tmp_path):
    def flaky(question: Question, strategy: str) -> Answer:
        if question.id == "q3":
            raise GenerationError("model returned garbage")
        return SCRIPT[question.id]

    records = run_questions(BENCH, ["grounded"], flaky, tmp_path / RESULTS_FILE, progress=False)
    bad = records[2]
    assert bad["error"] == "GenerationError: model returned garbage" and bad["answer"] is None
    m = aggregate(records, ["grounded"])["grounded"]
    assert m["errors"] == 1 and m["n"] == 3
    # q3 would have been a correct abstention; as an error it is wrong, and not an abstention
    assert m["exact_match"] == pytest.approx(1 / 3)
    assert m["crag_score"] == pytest.approx((1 - 1 - 1) / 3)
    assert m["abstention_recall"] == 0.0
    assert m["latency_p50"] is not None and m["prompt_tokens_mean"] == 100.0  # errors have no cost


def test_run_writes_report_json_markdown_and_plots(tmp_path):
    config = RunConfig(suite="toy", strategies=["grounded", "naive"], out=tmp_path, preset="fast",
                       command="python -m evals run toy", progress=False)
    doc = run(config, answer_fn=scripted, bench=BENCH, settings=Settings.from_preset("fast"))
    assert check_report(tmp_path, ["grounded", "naive"], 3) == []
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved == json.loads(json.dumps(doc))
    assert saved["model"] == "qwen2.5-0.5b" and saved["machine"]["cpu_count"] == os.cpu_count()
    assert saved["strategies"]["grounded"]["faithfulness"] is None
    assert "--faithfulness" in saved["strategies"]["grounded"]["faithfulness_note"]
    md = (tmp_path / "report.md").read_text()
    assert "python -m evals run toy" in md and "| metric | grounded | naive |" in md
    assert (tmp_path / "metrics.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "reliability.png").read_bytes()[:4] == b"\x89PNG"


def test_results_of_another_preset_are_not_mixed_in(tmp_path):
    config = RunConfig(suite="toy", out=tmp_path, progress=False)
    run(config, answer_fn=scripted, bench=BENCH, settings=Settings.from_preset("fast"))
    with pytest.raises(ValueError, match="preset 'fast'"):
        run(config, answer_fn=scripted, bench=BENCH, settings=Settings.from_preset("default"))


def test_faithfulness_is_judged_on_the_first_answered_questions_only(tmp_path):
    judged: list[str] = []

    def judge(question: Question, answer: Answer) -> float:
        judged.append(question.id)
        return 0.5

    config = RunConfig(suite="toy", out=tmp_path, faithfulness=1, progress=False)
    doc = run(config, answer_fn=scripted, bench=BENCH, faithfulness_fn=judge, settings=Settings())
    assert judged == ["q1"]
    assert doc["strategies"]["grounded"]["faithfulness"] == 0.5
    run(config, answer_fn=scripted, bench=BENCH, faithfulness_fn=judge, settings=Settings())
    assert judged == ["q1"]  # cached with the results


def test_conflict_report_is_scored_on_its_candidates():
    q = _q("c1", "How many people live in Broken Bow?", [["3,559"]], type="conflicting",
           wrong_answers=["4,000"])
    both = Answer(question="?", status=AnswerStatus.conflict, answer="3,559 or 4,000",
                  conflicts=[ConflictCandidate(answer="3,559"), ConflictCandidate(answer="4,000")])
    misled = _answered("4,000", [])
    right = _answered("3,559", [])
    m_both = make_record(q, "grounded", "ramdocs", both, 1.0, {})["metrics"]
    m_misled = make_record(q, "grounded", "ramdocs", misled, 1.0, {})["metrics"]
    m_right = make_record(q, "grounded", "ramdocs", right, 1.0, {})["metrics"]
    assert (m_both["conflict_flag"], m_both["conflict_em"], m_both["misinformation_sole"]) == (1.0, 0.0, 0.0)
    assert (m_misled["conflict_em"], m_misled["misinformation_sole"]) == (0.0, 1.0)
    assert (m_right["conflict_em"], m_right["conflict_flag"]) == (1.0, 0.0)
    # RAMDocs scores the response: a gold "3,559 people" is named by the sentence "It is 3,559 people."
    q_people = q.model_copy(update={"answers": [["3,559 people"]]})
    short = Answer(question="?", status=AnswerStatus.answered, answer="3,559",
                   sentences=[AnswerSentence(text="Broken Bow had 3,559 people in 2010.", citations=[])])
    assert make_record(q_people, "grounded", "ramdocs", short, 1.0, {})["metrics"]["conflict_em"] == 1.0


def test_supporting_facts_are_scored_from_cited_sentences():
    doc = Document(id="ed-wood", source="h", text="Ed Wood was a director. He was born in 1924.",
                   metadata={"sentence_spans": [[0, 23], [24, 44]]})
    q = _q("h1", "When was Ed Wood born?", [["1924"]], ("ed-wood",), metadata={"supporting_facts": [["ed-wood", 1]]})
    cite = Citation(doc_id="ed-wood", chunk_id="c", source="h", start=24, end=44, quote=doc.text[24:44])
    m = make_record(q, "grounded", "hotpotqa", _answered("1924", [cite]), 1.0, {"ed-wood": doc})["metrics"]
    assert m["sp_f1"] == 1.0 and m["quote_verbatim"] == 1.0


@pytest.mark.parametrize(
    ("prediction", "gold", "scale", "expected"),
    [
        ("12.6 million", -12.6, "million", (False, False)),  # sign matters
        ("-12.6 million", -12.6, "million", (True, True)),
        ("(12.6) million", -12.6, "million", (True, True)),  # accounting negative
        ("-12,600,000", -12.6, "million", (False, True)),  # right value, scale word missing
        ("-22.22%", -22.22, "percent", (True, True)),
        ("-22.2", -22.22, "percent", (False, True)),  # within 1e-2 relative, but no percent sign
        ("4", "4", "", (True, True)),  # a count
        ("$1,496.5 million", ["$1,496.5"], "million", (True, True)),
        ("1,073.3 and 1,095.0 million", ["$1,073.3", "$1,095.0"], "million", (True, True)),
        ("1,073.3", ["$1,073.3", "$1,095.0"], "million", (False, False)),  # one of two spans
    ],
)
def test_tatqa_numeric_accuracy_needs_value_and_scale(prediction, gold, scale, expected):
    q = _q("t", "?", [["x"]], corpus="tatqa", metadata={"answer": gold, "scale": scale})
    assert numeric_match(prediction, q) == expected


def test_text_spans_have_no_numeric_accuracy():
    q = _q("t", "?", [["x"]], corpus="tatqa", metadata={"answer": ["fixed-price type"], "scale": ""})
    assert numeric_match("fixed-price type", q) is None


def test_per_question_pools_become_doc_id_filters():
    class RecordingAgent:
        def __init__(self):
            self.calls = []

        def ask(self, question, *, strategy=None, filters=None):
            self.calls.append((question, strategy, filters))
            return _abstained()

    q = _q("r1", "Who?", [["A"]], doc_ids=["ramdocs/0/0", "ramdocs/0/1"])
    agent = RecordingAgent()
    agent_answer_fn(agent, per_question_pool=True)(q, "naive")
    agent_answer_fn(agent, per_question_pool=False)(q, "grounded")
    assert agent.calls == [("Who?", "naive", {"doc_id": ["ramdocs/0/0", "ramdocs/0/1"]}), ("Who?", "grounded", None)]


def test_index_is_reused_when_documents_match_and_synced_when_not(tmp_path):
    from agentkit.embed import load_embedder

    class Counting:
        def __init__(self):
            self.inner = load_embedder("minilm")
            self.name, self.dim, self.texts = self.inner.name, self.inner.dim, 0

        def encode(self, texts, batch_size=64):
            self.texts += len(texts)
            return self.inner.encode(texts, batch_size=batch_size)

    emb = Counting()
    settings = Settings()
    corpus = ensure_index(BENCH, tmp_path, settings, embedder=emb)
    assert sorted(d.id for d in corpus.documents()) == ["misc", "paris", "rome"]
    built = emb.texts
    reopened = ensure_index(BENCH, tmp_path, settings, embedder=emb)
    assert emb.texts == built and len(reopened) == len(corpus)
    smaller = Benchmark(name="toy", documents=DOCS[:2], questions=QUESTIONS)
    synced = ensure_index(smaller, tmp_path, settings, embedder=emb)
    assert sorted(d.id for d in synced.documents()) == ["paris", "rome"]
    assert emb.texts == built  # dropping a document embeds nothing


def test_seed_shuffles_deterministically_before_the_limit():
    plain = load_suite("medicine", limit=5)
    one, again, other = (load_suite("medicine", limit=5, seed=s) for s in (1, 1, 2))
    assert [q.id for q in plain.questions] == [f"medicine-00{i}" for i in range(1, 6)]  # file order
    assert [q.id for q in one.questions] == [q.id for q in again.questions]
    assert [q.id for q in one.questions] != [q.id for q in other.questions]
    assert len(one.documents) == len(plain.documents) > 5  # a corpus keeps its whole pooled index


RAMDOCS = REPO.parent / "shared" / "data" / "ramdocs" / "ramdocs_dev250.jsonl"


@pytest.mark.skipif(not RAMDOCS.is_file(), reason="RAMDocs slice not present under ../shared/data")
def test_per_question_pools_keep_only_the_chosen_questions_documents():
    bench = load_suite("ramdocs", limit=3, seed=7)
    assert {d.id for d in bench.documents} == {i for q in bench.questions for i in q.doc_ids}


HOTPOT_DIR = REPO.parent / "shared" / "data" / "hotpotqa"


@pytest.mark.skipif(not HOTPOT_DIR.is_dir(), reason="HotpotQA slice not present under ../shared/data")
def test_pool_widens_the_index_and_drop_gold_removes_every_gold_document():
    few = load_suite("hotpotqa", limit=3)
    pooled = load_suite("hotpotqa", limit=3, pool=20)
    assert [q.id for q in pooled.questions] == [q.id for q in few.questions]
    assert len(pooled.documents) > 5 * len(few.documents) and {d.id for d in few.documents} <= {
        d.id for d in pooled.documents}
    missing = load_suite("hotpotqa", limit=3, pool=20, drop_gold=True)
    gold = {e.doc_id for q in pooled.questions for e in q.evidence}
    assert gold and not gold & {d.id for d in missing.documents}
    assert all(not q.answerable and q.metadata["answers_with_gold"] for q in missing.questions)
    assert len(missing.documents) == len(pooled.documents) - len(gold)


@pytest.mark.skipif(not HOTPOT_DIR.is_dir(), reason="HotpotQA slice not present under ../shared/data")
def test_ids_rerun_a_few_questions_over_the_same_pooled_index(tmp_path):
    pooled = load_suite("hotpotqa", pool=20, limit=20)
    pick = [pooled.questions[7].id, pooled.questions[2].id]
    few = load_suite("hotpotqa", pool=20, limit=20, ids=pick)
    assert [q.id for q in few.questions] == [pooled.questions[2].id, pooled.questions[7].id]  # file order
    assert {d.id for d in few.documents} == {d.id for d in pooled.documents}
    with pytest.raises(BenchmarkFormatError, match="no-such-id"):
        load_suite("hotpotqa", pool=20, limit=20, ids=["no-such-id"])
    (tmp_path / "ids.txt").write_text(f"{pick[0]}\n\n{pick[1]}\n")
    assert _ids([f"@{tmp_path / 'ids.txt'}", f"{pick[1]},x"]) == [pick[0], pick[1], "x"]


def test_counterfactual_adds_two_tampered_copies_that_differ_only_in_the_answer():
    plain = load_suite("hotpotqa", limit=8, pool=20)
    cf = load_suite("hotpotqa", limit=8, pool=20, counterfactual=True)
    docs = cf.document_map()
    assert cf.questions and len(cf.documents) == len(plain.documents) + 2 * len(cf.questions)
    for q in cf.questions:
        info = q.metadata["counterfactual"]
        gold, planted = q.answers[0][0], info["planted"]
        assert q.wrong_answers == [planted] and planted.lower() not in docs[info["source"]].text.lower()
        for copy_id in info["copies"]:
            copy = docs[copy_id]
            assert planted in copy.text and gold not in copy.text and copy.title == docs[info["source"]].title
        # the full copy is the original with the answer swapped, nothing else
        assert docs[info["copies"][0]].text == docs[info["source"]].text.replace(gold, planted)
    # yes/no answers have nothing to swap: those questions are left out
    assert all(q.answers[0][0].lower() not in ("yes", "no") for q in cf.questions)


def test_counterfactual_conflict_counts_only_a_report_that_cites_both_sides():
    q = _q("cf", "How many seats?", [["3,677"]], wrong_answers=["4,250"],
           metadata={"counterfactual": {"planted": "4,250"}})
    cite = _cite("paris", 0, 5)
    both = Answer(question="?", status=AnswerStatus.conflict, answer="3,677; 4,250",
                  conflicts=[ConflictCandidate(answer="3,677", citations=[cite]),
                             ConflictCandidate(answer="4,250", citations=[cite])])
    uncited = both.model_copy(update={"conflicts": [ConflictCandidate(answer="3,677", citations=[cite]),
                                                    ConflictCandidate(answer="4,250")]})
    planted = _answered("4,250", [cite])
    metrics = [make_record(q, "grounded", "hotpotqa", a, 1.0, DOC_MAP)["metrics"] for a in (both, uncited, planted)]
    assert [m["conflict_both_cited"] for m in metrics] == [1.0, 0.0, 0.0]
    assert metrics[2]["misinformation_sole"] == 1.0
    assert make_record(_q("x", "?", [["a"]]), "grounded", "hotpotqa", both, 1.0, DOC_MAP)["metrics"][
        "conflict_both_cited"] is None


def test_type_filter_applies_before_the_limit():
    numeric = load_suite("medicine", limit=3, types=["numeric"])
    assert len(numeric.questions) == 3 and {q.type for q in numeric.questions} == {"numeric"}
    assert len(load_suite("medicine", types=["numeric", "unanswerable"]).questions) > len(
        load_suite("medicine", types=["numeric"]).questions)


def test_unknown_suite_and_strategy_are_clear_errors(capsys):
    assert main(["run", "nosuchsuite", "--limit", "1"]) == 2
    assert "unknown suite" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "medicine", "--strategy", "telepathy"])
    assert "unknown strategy telepathy" in capsys.readouterr().err


def _hf_hotpot(records: list[dict]) -> list[dict]:
    """Original HotpotQA records in the Hugging Face layout (parallel lists)."""
    out = []
    for r in records:
        out.append({
            "id": r["_id"], "question": r["question"], "answer": r["answer"], "type": r["type"], "level": r["level"],
            "supporting_facts": {"title": [t for t, _ in r["supporting_facts"]],
                                 "sent_id": [i for _, i in r["supporting_facts"]]},
            "context": {"title": [t for t, _ in r["context"]], "sentences": [s for _, s in r["context"]]},
        })
    return out


@pytest.mark.integration
@pytest.mark.skipif(not HOTPOT.is_file(), reason="HotpotQA slice not present under ../shared/data")
def test_run_hotpotqa_end_to_end(tmp_path):
    records = json.loads(HOTPOT.read_text())[:3]
    data = tmp_path / "hotpot_hf.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _hf_hotpot(records)))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "evals", "run", "hotpotqa", "--data", str(data), "--limit", "2",
           "--preset", "fast", "--out", str(out), "--no-progress"]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.run(cmd, check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert check_report(out, ["grounded"], 2) == []
    doc = json.loads((out / "report.json").read_text())
    m = doc["strategies"]["grounded"]
    assert doc["suite"] == "hotpotqa" and doc["preset"] == "fast" and doc["n_documents"] == 20
    assert m["supporting_fact_f1"] is not None  # HotpotQA: scored from the cited sentences
    assert m["quote_verbatim_rate"] in (None, 1.0)  # every citation the agent makes is a verbatim span
    lines = [json.loads(x) for x in (out / RESULTS_FILE).read_text().splitlines()]
    assert [r["id"] for r in lines] == [r["_id"] for r in records[:2]]
