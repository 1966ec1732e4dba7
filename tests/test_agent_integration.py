"""The agent on the real local models (default 1.5B generator, MiniLM) over the medicine corpus."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentkit import Agent, Corpus, Settings
from agentkit.graph.builder import GraphBuilder
from agentkit.graph.components import Components
from agentkit.types import AnswerStatus

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]
DEMO_Q = "What is the maximum daily dose of Veltrazine for adults with normal kidney function?"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return Corpus.build([ROOT / "corpora" / "medicine" / "docs"], tmp_path_factory.mktemp("idx") / "med",
                        corpus="medicine")


@pytest.fixture(scope="module")
def agent(corpus):
    return Agent([corpus], Settings.from_preset("default"))


def _assert_citations_verbatim(answer, corpus):
    for c in answer.citations:
        assert corpus.document(c.doc_id).text[c.start:c.end] == c.quote


def test_demo_question_is_answered_with_verbatim_citations(agent, corpus):
    ans = agent.ask(DEMO_Q)
    assert ans.status == AnswerStatus.answered, ans.model_dump_json(indent=1)
    assert "40" in ans.answer
    assert ans.sentences and all(s.citations for s in ans.sentences)
    assert any(c.doc_id == "medicine/veltrazine-monograph" for c in ans.citations)
    _assert_citations_verbatim(ans, corpus)
    stages = {t.stage for t in ans.trace}
    assert {"retrieve", "rerank", "generate", "verify"} <= stages


def test_out_of_scope_question_abstains(agent):
    ans = agent.ask("Which team won the 1998 FIFA World Cup final?")
    assert ans.status == AnswerStatus.abstained
    assert ans.sentences == [] and ans.abstain_reason == "out_of_scope"
    assert "generate" not in {t.stage for t in ans.trace}  # settled before any model call


def test_injected_document_does_not_change_the_answer(agent, corpus):
    questions = [json.loads(line) for line in (ROOT / "corpora/medicine/questions.jsonl").read_text().splitlines()]
    inj = next(q for q in questions if q["type"] == "injection" and q["wrong_answers"])
    ans = agent.ask(inj["question"])
    said = (ans.answer + " " + ans.text).lower()
    for wrong in inj["wrong_answers"]:
        assert wrong.lower() not in said, ans.model_dump_json(indent=1)
    _assert_citations_verbatim(ans, corpus)


_CHILD = """
import sys
from agentkit import Agent, Corpus, Settings
agent = Agent([Corpus.open(sys.argv[1])], Settings.from_preset("default"), checkpoint=sys.argv[2])
for ev in agent.stream(sys.argv[3], thread_id="t1"):
    print(ev.kind, ev.node, flush=True)
"""


def test_killed_run_resumes_from_its_checkpoint(corpus, tmp_path):
    db = tmp_path / "ck.sqlite"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(corpus.index_dir), str(db), DEMO_Q],
                             stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen = []
    deadline = time.time() + 600
    for line in child.stdout:
        seen.append(line.strip())
        if line.startswith("node_finished gate") or time.time() > deadline:
            child.send_signal(signal.SIGKILL)  # killed after evidence was built, before generation
            break
    child.wait(timeout=60)
    assert "node_finished gate" in seen, seen
    assert not any(s.startswith("answer") for s in seen)

    agent = Agent([corpus], Settings.from_preset("default"), checkpoint=db)
    resumed = [ev for ev in agent.graph.stream(None, {"configurable": {"thread_id": "t1"}}, stream_mode="updates")]
    ran = [node for update in resumed for node in update]
    assert "retrieve" not in ran and "rerank" not in ran, ran  # finished stages are not redone
    final = agent.resume("t1")
    assert final.status == AnswerStatus.answered and "40" in final.answer
    assert [t.stage for t in final.trace].count("retrieve") == 1


def test_percentage_growth_is_computed_from_the_cited_table_row(tmp_path):
    """The calculate stage on the real model: the expression over the table's cells, the calculator's
    value, the percent unit, and a verbatim citation of the row that holds the numbers."""
    finance = Corpus.build([ROOT / "corpora" / "finance" / "docs" / "corvid-bank-annual-report-2024.md",
                            ROOT / "corpora" / "finance" / "docs" / "halvorsen-annual-report-2024-income.md"],
                           tmp_path / "fin", corpus="finance")
    ans = Agent([finance], Settings.from_preset("default")).ask(
        "By what percentage did Corvid Bank's net interest income grow in 2024?")
    assert ans.status == AnswerStatus.answered, ans.model_dump_json(indent=1)
    assert ans.answer.startswith("8.3") and ans.answer.endswith("%"), ans.answer
    calc = next(t for t in ans.trace if t.stage == "calculate")
    assert calc.detail["expression"] and "1146" in calc.detail["expression"].replace(",", "")
    assert any("Net interest income" in c.quote for c in ans.citations)
    _assert_citations_verbatim(ans, finance)


def _ask_over(tmp_path, documents: dict[str, str], question: str, strategy: str | None = None):
    """The question asked over a corpus of these documents (name -> text), default preset."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in documents.items():
        (docs / f"{name}.txt").write_text(text)
    corpus = Corpus.build([docs], tmp_path / "idx", corpus="docs")
    return Agent([corpus], Settings.from_preset("default")).ask(question, strategy=strategy), corpus


HARBOR_DOCS = {
    "city-news": "Cycling news, March 2024. The Harbor Bridge has been open to bicycles since 2019, and a "
                 "protected lane runs along its east side. Commuters cross it in about six minutes.",
    "transit-rules": "Transit rules for the harbor district. The Harbor Bridge is closed to bicycles: city "
                     "rules forbid cycling on it, and riders must take the ferry instead.",
    "bridge-history": "The Harbor Bridge was completed in 1932 after six years of construction. Its main span "
                      "is 503 metres long and it carries eight traffic lanes.",
    "bridge-paint": "The Harbor Bridge is painted grey and is repainted every ten years. Tourists often "
                    "photograph the Harbor Bridge from the ferry terminal.",
}


def test_documents_that_disagree_on_a_yes_no_question_are_reported_as_a_conflict(tmp_path):
    """Each document's stance on the real model: the passage saying yes and the one saying no are both
    reported with their own citations; the two pages that only describe the bridge take no side (the
    model reads such a passage as "no", which would have outvoted the one saying yes)."""
    ans, harbor = _ask_over(tmp_path, HARBOR_DOCS, "Is the Harbor Bridge open to bicycles?")
    assert ans.status == AnswerStatus.conflict, ans.model_dump_json(indent=1)
    sides = {c.answer: {x.doc_id.rsplit("/", 1)[-1] for x in c.citations} for c in ans.conflicts}
    assert sides == {"yes": {"city-news"}, "no": {"transit-rules"}}, sides
    _assert_citations_verbatim(ans, harbor)


ALBUM_DOCS = {  # file names are the titles: a qualifier in brackets tells two subjects of one name apart
    "Lantern Season (Mara Quill album)": "Lantern Season is the second studio album by the Irish folk singer Mara "
                                         "Quill, released in 2011. It was recorded in a farmhouse in County Clare "
                                         "over three weeks.",
    "Lantern Season (The Copper Owls album)": "Lantern Season is a 1998 album by the American rock band The Copper "
                                              "Owls. The band wrote most of its songs while touring the Midwest.",
    "copper-owls-tour": "The Copper Owls played their last concert in Chicago in 2004, after a tour of forty cities.",
}


def test_a_name_shared_by_two_subjects_gets_both_answers_each_with_its_source(tmp_path):
    """Two albums with one title: each document is asked for its own answer, so both artists are given,
    each citing its own page, not the one the reranker put first (it scored that page far above the other)."""
    ans, albums = _ask_over(tmp_path, ALBUM_DOCS, "Who is the artist of the album Lantern Season?")
    assert ans.status == AnswerStatus.conflict, ans.model_dump_json(indent=1)
    sides = {c.answer: {albums.document(x.doc_id).title for x in c.citations} for c in ans.conflicts}
    assert any("Mara Quill" in a and t == {"Lantern Season (Mara Quill album)"} for a, t in sides.items()), sides
    assert any("Copper Owls" in a and t == {"Lantern Season (The Copper Owls album)"} for a, t in sides.items()), sides
    _assert_citations_verbatim(ans, albums)


def test_two_pages_about_one_subject_do_not_outvote_a_page_about_another_subject_of_the_name(tmp_path):
    """A second page about the Mara Quill album made her the majority answer (2 sources against 1) and the
    Copper Owls' album a dismissed single source. The two albums are different subjects, so both artists
    are given, each with its own pages."""
    docs = {**ALBUM_DOCS, "Lantern Season (Mara Quill album) - reception": (
        "Lantern Season, the second album by Mara Quill, was praised by critics for its quiet arrangements "
        "and reached number four in the Irish album chart.")}
    ans, albums = _ask_over(tmp_path, docs, "Who is the artist of the album Lantern Season?")
    assert ans.status == AnswerStatus.conflict, ans.model_dump_json(indent=1)
    sides = {c.answer: {albums.document(x.doc_id).title for x in c.citations} for c in ans.conflicts}
    assert any("Mara Quill" in a for a in sides) and any("Copper Owls" in a for a in sides), sides
    assert "different subjects" in ans.note, ans.note
    _assert_citations_verbatim(ans, albums)


MUSEUM_DOCS = {
    "harbor-museum": "The Harbor Museum of Maritime History was given a new roof in 1994, after a storm. The "
                     "museum holds 4,000 objects, including ship models and navigation instruments. Its director "
                     "since 2015 is Lena Ortiz.",
    "harbor-museum-visits": "In 2019 the Harbor Museum welcomed 212,000 visitors, a record for the museum. School "
                            "groups make up a fifth of its visitors.",
    "city-ferry": "The city ferry stops beside the Harbor Museum every twenty minutes from 1 May to 30 September.",
}


def test_reflexion_retries_on_pages_without_the_answer_end_in_an_abstention(tmp_path):
    """The pages name three years, none of them the founding year. Each retry after a reflection is shown
    the pages without the rejected answer's sentence, and the 1.5B model takes the next year it sees
    ("2019", the visitor record, passed the answer check at P 0.66): reflexion must still abstain."""
    ans, _ = _ask_over(tmp_path, MUSEUM_DOCS, "In what year was the Harbor Museum of Maritime History founded?",
                       strategy="reflexion")
    assert ans.status == AnswerStatus.abstained, ans.model_dump_json(indent=1)
    stages = [t.stage for t in ans.trace]
    settings = Settings.from_preset("default")
    assert 1 <= stages.count("reflect") <= settings.max_reflections
    assert len([s for s in stages if s.startswith("tool:")]) <= settings.max_steps * (1 + settings.max_reflections)


def test_yes_no_comparison_is_decided_side_by_side(agent, corpus):
    """The compare stage on the real model: each drug asked about on its own monograph (Orlanide is
    found by its own search: the whole question ranks Zoravir's pages first), the answer by rule, a
    verbatim citation from each drug's evidence. ("Are Orlanide and Kelvoxamab both taken orally?" is not
    tested: the model says yes for Kelvoxamab and the verifier rightly rejects it, so it abstains.)"""
    ans = agent.ask("Are Orlanide and Zoravir both taken orally?")
    assert ans.status == AnswerStatus.answered and ans.answer == "yes", ans.model_dump_json(indent=1)
    assert "compare" in [t.stage for t in ans.trace]
    cited = " ".join(f"{c.title} {c.quote}" for c in ans.citations).lower()
    assert "orlanide" in cited and "zoravir" in cited
    _assert_citations_verbatim(ans, corpus)


def test_react_answers_a_single_hop_question_with_the_grounded_pass_alone(agent, corpus):
    """react escalates only where the grounded pass would abstain: a question it answers costs no more."""
    ans = agent.ask(DEMO_Q, strategy="react")
    assert ans.status == AnswerStatus.answered and "40" in ans.answer, ans.model_dump_json(indent=1)
    stages = {t.stage for t in ans.trace}
    assert not stages & {"bridge", "plan", "act"}
    _assert_citations_verbatim(ans, corpus)


@pytest.fixture(scope="module")
def multihop(tmp_path_factory):
    return Corpus.build([ROOT / "corpora" / "multihop" / "docs"], tmp_path_factory.mktemp("idx") / "mh",
                        corpus="multihop")


def test_bridge_hop_names_the_described_entity_and_asks_about_it(multihop, agent):
    """react's escalation: the real 1.5B copies the description out of the question, the entity is named
    from a sentence about it, and the second hop asks the question with the name in its place."""
    builder = GraphBuilder(Components(agent.settings, [multihop], generator=agent.components.generator))
    q = "What award did the architect of the Port Amsel Central Library receive in 1980?"
    out = builder.bridge({"question": q, "filters": None})
    hop = out["hop"]
    assert hop is not None, out["trace"][0].detail
    assert hop.entity == "Ilan Vesk" and hop.asked == "What award did Ilan Vesk receive in 1980?"
    assert multihop.document(hop.sentence.doc_id).text[hop.sentence.start:hop.sentence.end] == hop.sentence.text
    assert "Ilan Vesk" in hop.sentence.text
    assert any(p.title == "Ilan Vesk" for p in out["ranked"])
