"""Retrieval: filters, reciprocal-rank fusion, hybrid search quality, the embedding reranker."""

from __future__ import annotations

import datetime as dt

import pytest

from agentkit.corpus import Corpus
from agentkit.embed import load_embedder
from agentkit.errors import InvalidQuestionError
from agentkit.retrieve import EmbeddingReranker, InvalidFilterError, Reranker, compile_filters, rrf_fuse
from agentkit.settings import Settings
from agentkit.types import Chunk, Document, ScoredPassage

# -- filters (pure) -------------------------------------------------------------------------------

RECORD = {"corpus": "med", "date": "2024-03-01", "authority": 0.9, "tags": ["cardio", "dosing"], "year": 2024}


@pytest.mark.parametrize("filters, expected", [
    ({"corpus": "med"}, True),
    ({"corpus": "geo"}, False),
    ({"corpus": ["geo", "med"]}, True),
    ({"tags": "dosing"}, True),  # list-valued metadata matches any element
    ({"tags": ["oncology", "x"]}, False),
    ({"date": {"$gte": "2024-01-01", "$lte": "2024-12-31"}}, True),
    ({"date": {"$gt": "2024-03-01"}}, False),
    ({"date": {"$gte": dt.date(2023, 1, 1)}}, True),  # dates compare as ISO strings
    ({"authority": {"$gte": 0.5}}, True),
    ({"year": {"$lt": 2000}}, False),
    ({"year": "2024"}, False),  # no cross-type equality
    ({"year": {"$gte": "2000"}}, False),  # incomparable types never match (and never raise)
    ({"missing": "x"}, False),
    ({"missing": {"$exists": False}}, True),
    ({"corpus": {"$ne": "geo"}}, True),
    ({"corpus": {"$nin": ["med"]}}, False),
    ({"corpus": "med", "date": {"$lt": "2020-01-01"}}, False),  # keys are ANDed
])
def test_filter_semantics(filters, expected):
    assert compile_filters(filters)(RECORD) is expected


@pytest.mark.parametrize("bad", [{"date": {"$after": "2020"}}, {"date": {}}, {"x": {"$in": "a"}},
                                 {"x": {"$gte": [1, 2]}}, ["corpus"]])
def test_malformed_filters_raise_typed_error(bad):
    with pytest.raises(InvalidFilterError):
        compile_filters(bad)


def test_rrf_rewards_agreement_between_retrievers():
    fused = rrf_fuse({"dense": [7, 1, 2], "bm25": [1, 9]}, rrf_k=60)
    assert max(fused, key=fused.get) == 1  # ranked by both beats first place in one
    assert fused[7] == pytest.approx(1 / 61) and fused[1] == pytest.approx(1 / 62 + 1 / 61)


# -- hybrid search on a real index ---------------------------------------------------------------

DOCS = [
    Document(id="veltrazine", source="med/veltrazine.md", title="Veltrazine", corpus="med",
             text="It is an antihypertensive. The maximum daily dose is 40 mg for adults; do not exceed it.",
             metadata={"date": "2024-03-01", "authority": "label"}),
    Document(id="veltrazine-old", source="med/veltrazine-2019.md", title="Veltrazine (2019 label)", corpus="med",
             text="The maximum daily dose was 60 mg in the original 2019 labelling.",
             metadata={"date": "2019-05-10", "authority": "label"}),
    Document(id="tokyo", source="geo/tokyo.md", title="Tokyo", corpus="geo",
             text="Tokyo is the capital of Japan and the seat of its government.", metadata={"date": "2021-01-01"}),
    Document(id="lyon", source="geo/lyon.md", title="Lyon", corpus="geo",
             text="Lyon is a French city known for its cuisine and silk weaving.", metadata={"date": "2022-01-01"}),
    Document(id="parts", source="ops/parts.md", title="Spare parts", corpus="ops",
             text="Replacement pump part number QX-7731 ships from the Rotterdam warehouse."),
    Document(id="otters", source="zoo/otters.md", title="Sea otters", corpus="zoo",
             text="Sea otters hold hands while they sleep so that they do not drift apart."),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    c = Corpus(tmp_path_factory.mktemp("retrieve") / "index", Settings(), embedder=load_embedder("minilm"))
    c.add_documents(DOCS)
    return c


@pytest.mark.parametrize("query, doc_id", [
    ("Is Veltrazine an antihypertensive?", "veltrazine"),  # the entity is only in the title
    ("capital city of Japan", "tokyo"),
    ("QX-7731", "parts"),  # rare code: the lexical retriever carries it
    ("why do otters hold hands", "otters"),
    ("gastronomy in France", "lyon"),  # no shared words: the dense retriever carries it
])
def test_query_finds_its_document_first(corpus, query, doc_id):
    top = corpus.search(query, k=3)[0]
    assert top.doc_id == doc_id


def test_passages_carry_scores_ranks_and_provenance(corpus):
    results = corpus.search("Veltrazine maximum dose", k=6)
    assert len(results) == 6
    assert [p.score for p in results] == sorted((p.score for p in results), reverse=True)
    top = results[0]
    assert set(top.scores) == {"dense", "bm25", "rrf"} and top.scores["rrf"] == top.score
    assert top.ranks["dense"] >= 1 and top.ranks["bm25"] >= 1
    assert top.title.startswith("Veltrazine") and top.source.startswith("med/") and top.corpus == "med"
    assert top.metadata["authority"] == "label"
    unrelated = next(p for p in results if p.doc_id == "otters")
    assert "bm25" not in unrelated.ranks and unrelated.scores["bm25"] == 0.0


def test_k_limits_results_and_exceeding_the_corpus_is_fine(corpus):
    assert len(corpus.search("dose", k=2)) == 2
    assert len(corpus.search("dose", k=100)) == len(DOCS)


def test_corpus_and_metadata_filters_restrict_results(corpus):
    geo = corpus.search("maximum daily dose", k=10, corpora=["geo"])
    assert {p.doc_id for p in geo} == {"tokyo", "lyon"}
    recent = corpus.search("maximum daily dose", k=10, filters={"date": {"$gte": "2020-01-01"}})
    assert "veltrazine-old" not in {p.doc_id for p in recent} and recent[0].doc_id == "veltrazine"
    old = corpus.search("maximum daily dose", k=10, filters={"date": {"$lt": "2020-01-01"}})
    assert [p.doc_id for p in old] == ["veltrazine-old"]
    both = corpus.search("city", k=10, filters={"corpus": ["geo", "zoo"], "date": {"$exists": True}})
    assert {p.doc_id for p in both} == {"tokyo", "lyon"}
    assert corpus.search("anything", corpora=["nope"]) == []


def test_bad_queries_and_filters_get_typed_errors(corpus):
    with pytest.raises(InvalidQuestionError):
        corpus.search("   ")
    with pytest.raises(InvalidFilterError):
        corpus.search("dose", filters={"date": {"$since": "2020"}})


def test_query_of_only_stopwords_still_returns_dense_hits(corpus):
    results = corpus.search("the of and", k=3)
    assert len(results) == 3 and all("bm25" not in p.ranks for p in results)


# -- reranking -----------------------------------------------------------------------------------


def test_embedding_reranker_scores_in_unit_interval_and_sorts(corpus):
    results = corpus.search("Which city is the capital of Japan?", k=4, rerank=True)
    assert results[0].doc_id == "tokyo"
    scores = [p.scores["rerank"] for p in results]
    assert all(0.0 <= s <= 1.0 for s in scores)
    # the final order fuses the reranker's ranking with the retrieval ranking: score falls with rank
    assert [p.score for p in results] == sorted((p.score for p in results), reverse=True)
    assert sorted(p.ranks["rerank"] for p in results) == [1, 2, 3, 4]
    assert all("rrf" in p.scores for p in results)


def test_embedding_reranker_without_stored_vectors_matches_stored(corpus):
    """The standalone reranker embeds title+text itself; it must agree with the index's stored vectors."""
    query = "silk weaving city"
    candidates = corpus.search(query, k=6)
    standalone = EmbeddingReranker(load_embedder("minilm")).rerank(query, candidates, top_k=3)
    via_corpus = corpus.search(query, k=3, rerank=True)
    assert isinstance(EmbeddingReranker(load_embedder("minilm")), Reranker)
    assert [p.doc_id for p in standalone] == [p.doc_id for p in via_corpus]
    for a, b in zip(standalone, via_corpus):
        assert a.scores["rerank"] == pytest.approx(b.scores["rerank"], abs=1e-4)


def test_custom_reranker_is_used(corpus):
    class Reverse:
        name = "reverse"

        def rerank(self, query: str, passages: list[ScoredPassage], top_k: int | None = None):
            out = list(reversed(passages))[:top_k]
            for i, p in enumerate(out, start=1):
                p.scores["rerank"], p.ranks["rerank"], p.score = 1.0 / i, i, 1.0 / i
            return out

    plain = corpus.search("otters", k=len(DOCS))
    custom = corpus.search("otters", k=2, rerank=Reverse())
    assert [p.chunk.id for p in custom] == [p.chunk.id for p in reversed(plain)][:2]


def test_reranker_handles_empty_input():
    assert EmbeddingReranker(load_embedder("minilm")).rerank("q", []) == []
    chunk = Chunk(id="a::0", doc_id="a", text="Sea otters sleep holding hands.", start=0, end=31)
    one = EmbeddingReranker(load_embedder("minilm")).rerank("otters", [ScoredPassage(chunk=chunk, title="Otters")])
    assert 0.0 < one[0].scores["rerank"] <= 1.0
