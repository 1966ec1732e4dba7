"""The HotpotQA retrieval benchmark's scoring: distinct documents, both/any recall, MRR."""

from evals.bench.bench_retrieval_hotpot import ranked_titles, score

TITLES = {"p1": "Alpha", "p2": "Beta", "p3": "Gamma", "p4": "Delta"}


def _res(*stems: str) -> list[dict]:
    return [{"source": f"/corpus/{s}.md", "doc_id": s, "title": "ignored"} for s in stems]


def test_ranked_titles_deduplicates_chunks_of_one_paragraph_in_order():
    assert ranked_titles(_res("p3", "p3", "p1", "p3", "p2"), TITLES) == ["Gamma", "Alpha", "Beta"]


def test_score_counts_both_any_and_reciprocal_rank_over_distinct_documents():
    questions = [
        {"id": "a", "type": "bridge", "gold_titles": ["Alpha", "Beta"]},
        {"id": "b", "type": "comparison", "gold_titles": ["Gamma", "Delta"]},
    ]
    # a: both found, first at distinct rank 2 (the repeated chunk of Gamma does not count twice)
    # b: only Delta, at distinct rank 3; Gamma is the 5th result, beyond k=4
    results = [_res("p3", "p3", "p1", "p2"), _res("p1", "p2", "p4", "p1", "p3")]
    s = score(questions, results, TITLES, k=4)["summary"]
    assert s["recall_both@4"] == 0.5
    assert s["recall_any@4"] == 1.0
    assert abs(s["mrr"] - (1 / 2 + 1 / 3) / 2) < 1e-9
    assert s["by_type"] == {"bridge": {"n": 1, "recall_both@4": 1.0}, "comparison": {"n": 1, "recall_both@4": 0.0}}
