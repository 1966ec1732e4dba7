"""Metrics against values worked out by hand on tiny cases (the arithmetic is in the comments)."""

from __future__ import annotations

import json
import math

import pytest

from agentkit.errors import GenerationError
from agentkit.generate.llm import Completion
from agentkit.types import Citation, Document, TraceStep
from evals.metrics import (
    CostRecord,
    abstention_scores,
    alce_citation_scores,
    answer_scores,
    auroc,
    citation_doc_precision,
    citation_doc_recall,
    cited_sentences,
    conflict_handled,
    conflict_scores,
    cost_summary,
    crag_outcome,
    crag_score,
    ece,
    exact_match,
    f1,
    misinformation_as_sole_answer,
    names,
    normalize_answer,
    percentile,
    quote_verbatim_rate,
    ramdocs_exact_match,
    reliability_bins,
    supporting_fact_scores,
)
from evals.metrics.answer import split_answers

# --- answer -------------------------------------------------------------------------------------------


def test_normalisation_is_hotpotqa_official():
    assert normalize_answer("The  Quick, brown fox!") == "quick brown fox"
    assert normalize_answer("An apple a day") == "apple day"
    assert normalize_answer("theatre") == "theatre"  # articles only as whole words


def test_token_f1_and_exact_match():
    # pred "cat sat on mat" (4 tokens) vs gold "cat on mat" (3): 3 common -> P 3/4, R 1 -> F1 6/7
    assert f1("the cat sat on the mat", "a cat on a mat") == pytest.approx(6 / 7)
    assert exact_match("The Cat.", "cat") == 1.0 and exact_match("cats", "cat") == 0.0
    # max over aliases: "Obama" gives 2/3, "Barack Hussein Obama" gives P 1, R 2/3 -> 0.8
    assert f1("Barack Obama", ["Obama", "Barack Hussein Obama"]) == pytest.approx(0.8)
    assert f1("Paris", "London") == 0.0


def test_yes_no_rule_zeroes_f1_unless_identical():
    assert f1("yes it is", "yes") == 0.0  # gold is "yes" and prediction differs -> 0 despite overlap
    assert f1("no", "no way") == 0.0
    assert f1("Yes.", "yes") == 1.0 and answer_scores("yes", [["yes"]]) == {"em": 1.0, "f1": 1.0}


def test_answer_scores_unanswerable_and_multi_answer():
    assert answer_scores("", []) == {"em": 1.0, "f1": 1.0}
    assert answer_scores("noanswer", []) == {"em": 1.0, "f1": 1.0}
    assert answer_scores("Paris", []) == {"em": 0.0, "f1": 0.0}
    gold = [["red"], ["blue"]]
    assert answer_scores("Red, and blue", gold) == {"em": 1.0, "f1": 1.0}
    assert answer_scores(["blue", "red"], gold) == {"em": 1.0, "f1": 1.0}
    assert answer_scores("red", gold) == {"em": 0.0, "f1": 0.5}  # 1 aligned pair / max(1, 2)
    assert answer_scores("red; green; blue", gold)["f1"] == pytest.approx(2 / 3)  # 2 / max(3, 2)
    # "dark red" vs "red": P 1/2, R 1 -> 2/3; "blue" 1 -> (2/3 + 1) / 2 = 5/6
    assert answer_scores("dark red; blue", gold) == {"em": 0.0, "f1": pytest.approx(5 / 6)}


def test_split_answers_keeps_numbers_and_hyphenated_words():
    assert split_answers("fixed-price type, cost-plus type, and time-and-material type") == [
        "fixed-price type",
        "cost-plus type",
        "time-and-material type",
    ]
    assert split_answers("$1,496.5 and 2018") == ["$1,496.5", "2018"]
    assert split_answers(["Johnson and Johnson", " "]) == ["Johnson and Johnson"]  # list items are kept
    assert split_answers("June 21, 1998; Jan. 5, 2012") == ["June 21, 1998", "Jan. 5, 2012"]


# --- citations ----------------------------------------------------------------------------------------


def test_supporting_fact_scores_match_hotpotqa_update_sp():
    pred = [("a", 0), ("b", 1), ("c", 0)]
    gold = [("a", 0), ("b", 0)]
    # tp 1, fp 2, fn 1 -> P 1/3, R 1/2, F1 = 2 * 1/6 / (5/6) = 0.4
    s = supporting_fact_scores(pred, gold)
    assert s["sp_precision"] == pytest.approx(1 / 3) and s["sp_recall"] == 0.5
    assert s["sp_f1"] == pytest.approx(0.4) and s["sp_em"] == 0.0
    assert supporting_fact_scores(gold, gold)["sp_em"] == 1.0
    assert supporting_fact_scores([], gold) == {
        "sp_em": 0.0,
        "sp_precision": 0.0,
        "sp_recall": 0.0,
        "sp_f1": 0.0,
    }


def _doc(doc_id: str, text: str, **metadata) -> Document:
    return Document(id=doc_id, source=f"{doc_id}.txt", text=text, metadata=metadata)


def _cite(doc_id: str, start: int, end: int, quote: str) -> Citation:
    return Citation(
        doc_id=doc_id, chunk_id=f"{doc_id}::0", source=f"{doc_id}.txt", start=start, end=end, quote=quote
    )


def test_cited_sentences_map_spans_to_sentence_indices():
    text = "Alpha one. Beta two. Gamma."
    doc = _doc("d", text, sentence_spans=[[0, 10], [11, 20], [21, 27]])
    docs = {"d": doc, "plain": _doc("plain", text)}
    assert cited_sentences([_cite("d", 11, 20, "Beta two.")], docs) == {("d", 1)}
    assert cited_sentences([_cite("d", 5, 15, text[5:15])], docs) == {("d", 0), ("d", 1)}
    assert cited_sentences([_cite("plain", 0, 5, "Alpha"), _cite("gone", 0, 1, "A")], docs) == set()


def test_citation_document_precision_and_recall():
    assert citation_doc_precision(["a", "a", "b", "c"], ["a", "d"]) == pytest.approx(1 / 3)
    assert citation_doc_recall(["a", "a", "b", "c"], ["a", "d"]) == 0.5
    assert citation_doc_precision([], ["a"]) is None and citation_doc_recall(["a"], []) is None


def test_alce_citation_recall_and_precision():
    needs = {"A": ["f1"], "B": ["f2", "f3"], "C": ["f5"], "D": ["f6"], "E": ["f7"]}

    def entails(premise: str, hypothesis: str) -> float:
        return 1.0 if all(fact in premise for fact in needs[hypothesis]) else 0.0

    sentences = [
        ("A", ["f1 here"]),  # supported, its one citation precise
        ("B", ["f2", "f3", "noise"]),  # supported jointly; f2, f3 needed; "noise" irrelevant
        ("C", ["noise"]),  # unsupported -> its citation is not precise
        ("D", []),  # no citation -> unsupported
        ("E", ["f7 a", "f7 b"]),  # each alone entails -> both precise
    ]
    scores = alce_citation_scores(sentences, entails)
    # recall: A, B, E of 5 sentences = 3/5; precision: (1 + 2 + 0 + 2) / (1 + 3 + 1 + 0 + 2) = 5/7
    assert scores["citation_recall"] == pytest.approx(3 / 5)
    assert scores["citation_precision"] == pytest.approx(5 / 7)
    assert scores["n_citations"] == 7
    half = alce_citation_scores([("A", ["f1"])], lambda p, h: 0.4, threshold=0.5)
    assert half["citation_recall"] == 0.0 and half["citation_precision"] == 0.0


def test_quote_verbatim_rate():
    docs = {"d": _doc("d", "Hello world. Bye.")}
    cites = [_cite("d", 0, 5, "Hello"), _cite("d", 0, 5, "Hellx"), _cite("missing", 0, 5, "Hello")]
    assert quote_verbatim_rate(cites, docs) == pytest.approx(1 / 3)
    assert quote_verbatim_rate([], docs) is None


# --- abstention ---------------------------------------------------------------------------------------


def test_abstention_precision_recall_f1():
    s = abstention_scores([True, True, False, False, True], [True, False, True, False, False])
    # tp 1 of 3 abstentions and 2 unanswerable -> P 1/3, R 1/2, F1 0.4
    assert s["precision"] == pytest.approx(1 / 3) and s["recall"] == 0.5 and s["f1"] == pytest.approx(0.4)
    never = abstention_scores([False, False], [True, False])
    assert never["precision"] is None and never["recall"] == 0.0 and never["f1"] == 0.0
    nothing_to_abstain = abstention_scores([True], [False])
    assert nothing_to_abstain["precision"] == 0.0 and nothing_to_abstain["f1"] is None
    with pytest.raises(ValueError):
        abstention_scores([True], [True, False])


def test_crag_score():
    outcomes = [
        crag_outcome(True, False),
        crag_outcome(True, False),
        crag_outcome(False, True),
        crag_outcome(False, False),
    ]
    assert outcomes == ["correct", "correct", "abstain", "wrong"]
    assert crag_score(outcomes) == 0.25  # (1 + 1 + 0 - 1) / 4
    assert crag_score(["wrong"]) == -1.0 and crag_score([]) is None
    with pytest.raises(ValueError, match="unknown outcome"):
        crag_score(["maybe"])


# --- conflict -----------------------------------------------------------------------------------------


def test_ramdocs_exact_match_and_misinformation_flag():
    gold, wrong = [["3,559 people"]], ["3,600"]
    assert names("Broken Bow had 3,559 people.", gold[0])
    assert not names("Broken Bowl", "Bow")  # whole tokens only
    assert ramdocs_exact_match("Broken Bow had 3,559 people.", gold, wrong)
    assert not ramdocs_exact_match("Either 3,559 people or 3,600.", gold, wrong)
    assert misinformation_as_sole_answer("It had 3,600 inhabitants.", gold, wrong)
    assert not misinformation_as_sole_answer("3,559 people, not 3,600", gold, wrong)
    assert not misinformation_as_sole_answer("", gold, wrong)
    two = [["American football"], ["baseball"]]
    assert not ramdocs_exact_match(["American football"], two, [])
    assert ramdocs_exact_match(["American football", "Baseball"], two, [])


def test_conflict_handled_accepts_both_sides_or_the_metadata_resolution_with_its_reason():
    gold = [["NOK 1,284.6 million", "1,284.6"], ["NOK 1,291.0 million", "1,291.0"]]
    both = ["NOK 1,284.6 million", "NOK 1,291.0 million"]
    assert conflict_handled(both, gold, [], resolution="1,284.6")
    assert conflict_handled("NOK 1,284.6 million", gold, [], resolution="1,284.6", explained=True)
    assert not conflict_handled("NOK 1,284.6 million", gold, [], resolution="1,284.6", explained=False)  # silent pick
    assert not conflict_handled("NOK 1,291.0 million", gold, [], resolution="1,284.6", explained=True)  # wrong side
    assert not conflict_handled("NOK 1,284.6 million", gold, [], resolution=None, explained=True)


def test_conflict_scores_means():
    scores = conflict_scores(
        ["Lyon and Nice", "Metz", "Lyon"],
        [[["Lyon"], ["Nice"]], [["Dijon"]], [["Lyon"], ["Nice"]]],
        [[], ["Metz"], []],
    )
    # EM: q1 yes, q2 no, q3 no -> 1/3; gold recall (1 + 0 + 1/2) / 3 = 1/2; misinfo sole: q2 only -> 1/3
    assert scores == {
        "em": pytest.approx(1 / 3),
        "gold_recall": 0.5,
        "misinfo_sole_rate": pytest.approx(1 / 3),
    }


# --- calibration --------------------------------------------------------------------------------------


def test_ece_and_reliability_bins():
    conf = [0.05, 0.15, 0.95, 0.95, 1.0]
    correct = [0, 0, 1, 0, 1]
    # bin0: |0 - .05| * 1/5 = .01; bin1: .15 * 1/5 = .03; bin9: |2/3 - 2.9/3| * 3/5 = .3 * .6 = .18 -> .22
    assert ece(conf, correct) == pytest.approx(0.22)
    bins = reliability_bins(conf, correct)
    assert [b.count for b in bins] == [1, 1, 0, 0, 0, 0, 0, 0, 0, 3]
    assert bins[9].accuracy == pytest.approx(2 / 3) and bins[2].mean_confidence is None
    assert [b.count for b in reliability_bins([0.1, 0.5], [1, 1], n_bins=2)] == [1, 1]  # [0, .5) and [.5, 1]
    assert ece([0.8, 0.8], [1, 0], n_bins=1) == pytest.approx(0.3)
    assert ece([], []) is None
    with pytest.raises(ValueError):
        ece([1.2], [1])


def test_auroc_rank_based_with_ties():
    # positives {.9, .8} vs negatives {.8, .3}: 1 + 1 + 0.5 (tie) + 1 = 3.5 of 4 pairs
    assert auroc([0.9, 0.8, 0.8, 0.3], [1, 1, 0, 0]) == pytest.approx(0.875)
    assert auroc([0.1, 0.9], [1, 0]) == 0.0
    assert auroc([0.5, 0.5], [1, 0]) == 0.5
    assert auroc([0.2, 0.9], [1, 1]) is None


# --- cost ---------------------------------------------------------------------------------------------


def test_percentiles_nearest_rank_and_linear():
    values = [10, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert percentile(values, 50) == 5 and percentile(values, 95) == 10  # ranks ceil(5)=5, ceil(9.5)=10
    assert percentile(values, 50, method="linear") == 5.5
    assert percentile(values, 95, method="linear") == pytest.approx(9.55)
    assert percentile([3.0], 0) == 3.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_cost_summary_from_traces():
    trace = [
        TraceStep(stage="retrieve", seconds=0.5),
        TraceStep(stage="generate", seconds=2.0, prompt_tokens=300, completion_tokens=40),
    ]
    rec = CostRecord.from_trace(trace)
    assert (rec.seconds, rec.prompt_tokens, rec.completion_tokens, rec.steps) == (2.5, 300, 40, 2)
    summary = cost_summary([rec, CostRecord(seconds=4.0, prompt_tokens=100, completion_tokens=20, steps=4)])
    assert summary["latency_p50"] == 2.5 and summary["latency_p95"] == 4.0
    assert summary["tokens_mean"] == 230 and summary["steps_mean"] == 3 and summary["n"] == 2
    assert cost_summary([])["latency_p50"] is None


# --- ragas adapter ------------------------------------------------------------------------------------


class ScriptedGenerator:
    """Test double for the Generator protocol: replays canned JSON and records what it was asked, so the
    adapter's contract with ragas can be checked without loading a model."""

    name = "scripted"

    def __init__(self, replies: dict[str, list[str]]):
        self.replies = replies
        self.calls: list[dict] = []

    def chat(self, messages, *, json_schema=None, max_tokens=256, temperature=0.0, stop=None) -> Completion:
        self.calls.append({"messages": messages, "json_schema": json_schema, "max_tokens": max_tokens})
        text = self.replies[json_schema["title"]].pop(0)
        return Completion(text=text, prompt_tokens=1, completion_tokens=1, seconds=0.0)

    def yes_probability(self, prompts):
        raise NotImplementedError

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def test_ragas_faithfulness_runs_on_a_generator_with_json_schema():
    from evals.metrics.ragas_adapter import faithfulness

    verdicts = {
        "statements": [
            {"statement": "Paris is the capital of France.", "reason": "stated", "verdict": 1},
            {"statement": "Paris has 90 million people.", "reason": "not stated", "verdict": 0},
        ]
    }
    gen = ScriptedGenerator(
        {
            "StatementGeneratorOutput": [
                json.dumps(
                    {"statements": ["Paris is the capital of France.", "Paris has 90 million people."]}
                )
            ],
            "NLIStatementOutput": [json.dumps(verdicts)],
        }
    )
    score = faithfulness(
        gen,
        "What is Paris?",
        "Paris is France's capital with 90 million people.",
        ["Paris is the capital of France."],
    )
    assert score == 0.5
    assert [c["json_schema"]["title"] for c in gen.calls] == [
        "StatementGeneratorOutput",
        "NLIStatementOutput",
    ]
    assert "Paris is the capital of France." in gen.calls[1]["messages"][-1]["content"]


def test_ragas_adapter_retries_then_raises_generation_error():
    from ragas.metrics.collections.faithfulness.util import StatementGeneratorOutput

    from evals.metrics.ragas_adapter import GeneratorRagasLLM

    good = json.dumps({"statements": ["x"]})
    llm = GeneratorRagasLLM(ScriptedGenerator({"StatementGeneratorOutput": ['{"statements": [', good]}))
    assert llm.generate("p", StatementGeneratorOutput).statements == ["x"]
    broken = GeneratorRagasLLM(ScriptedGenerator({"StatementGeneratorOutput": ["{", "{"]}), retries=1)
    with pytest.raises(GenerationError, match="valid StatementGeneratorOutput"):
        broken.generate("p", StatementGeneratorOutput)


def test_offline_ragas_scores():
    from evals.metrics.ragas_adapter import offline_ragas_scores

    scores = offline_ragas_scores(
        'It is "the capital of France" and Paris.', "Paris", ["The capital of France is Paris."]
    )
    assert scores["ragas_exact_match"] == 0.0 and scores["ragas_string_presence"] == 1.0
    assert scores["ragas_quoted_spans_alignment"] == 1.0
    drifted = offline_ragas_scores(
        'They said "the capital of Spain" here', "Madrid", ["The capital of France."]
    )
    assert drifted["ragas_quoted_spans_alignment"] == 0.0 and drifted["ragas_string_presence"] == 0.0


@pytest.mark.integration
def test_ragas_faithfulness_with_the_local_generator():
    from agentkit.errors import ModelNotAvailableError
    from agentkit.generate import load_generator
    from agentkit.settings import Settings
    from evals.metrics.ragas_adapter import faithfulness

    try:
        generator = load_generator(Settings.from_preset("default"))
    except ModelNotAvailableError as exc:
        pytest.skip(str(exc))
    score = faithfulness(
        generator,
        "What is the capital of France?",
        "The capital of France is Paris.",
        ["Paris is the capital and the largest city of France."],
    )
    assert not math.isnan(score) and score >= 0.5


def test_calibration_fit_recovers_a_monotone_signal_and_cross_validates():
    import numpy as np

    from evals.calibrate import cross_validated, fit, predict, signals

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(400, 3))
    y = (rng.uniform(0, 1, 400) < 1 / (1 + np.exp(-(-2 + 4 * x[:, 1])))).astype(float)  # only support matters
    w = fit(x, y, l2=0.1)
    assert w[2] > 2.5 and abs(w[1]) < 1 and abs(w[3]) < 1
    oof = cross_validated(x, y, folds=5)
    assert ece(oof.tolist(), y.tolist()) < 0.1 and np.all((oof > 0) & (oof < 1))
    assert predict(w, np.array([[0.5, 1.0, 0.5]]))[0] > predict(w, np.array([[0.5, 0.0, 0.5]]))[0]
    answer = {"status": "answered", "sentences": [{"support": 0.9}, {"support": 0.7}],
              "trace": [{"stage": "rerank", "detail": {"best": 0.6}}], "conflicts": [{"support": 3}, {"support": 1}]}
    assert signals(answer) == (0.6, 0.8, 0.75)
    assert signals({"status": "abstained", "sentences": []}) is None
