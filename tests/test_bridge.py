"""The agent strategies' escalation: a failed single pass tries the bridge hop, then the tool loop."""

import json

from agentkit.answer.bridge import BridgeHop, bridge_answer, description_span, first_question, substitute
from agentkit.answer.evidence import build_evidence
from agentkit.answer.grounded import VerifiedDraft
from agentkit.generate.llm import Completion
from agentkit.graph.builder import GraphBuilder, _with_hop
from agentkit.graph.components import Components
from agentkit.settings import Settings
from agentkit.types import AnswerSentence, Chunk, ScoredPassage


def _p(doc_id, title, text, rel=0.8):
    return ScoredPassage(chunk=Chunk(id=f"{doc_id}::0", doc_id=doc_id, text=text, start=0, end=len(text)),
                         title=title, source=f"{doc_id}.md", score=rel, scores={"rerank": rel})


TEAM = _p("lm", "Lewiston Maineiacs", "The Lewiston Maineiacs were a junior ice hockey team. "
                                      "The team played its home games at the Androscoggin Bank Colisée.")


class Says:
    def __init__(self, answer):
        self.answer, self.prompts = answer, []

    def chat(self, messages, *, json_schema=None, max_tokens=256, temperature=0.0, stop=None):
        self.prompts.append(messages[-1]["content"])
        return Completion(text=json.dumps({"answer": self.answer}), prompt_tokens=40, completion_tokens=6, seconds=0.1)


def test_the_first_hop_answer_must_be_stated_by_a_shown_sentence():
    q = "Which arena did the Lewiston Maineiacs play their home games in?"
    assert bridge_answer(Says("Androscoggin Bank Colisée"), q, [TEAM])[0] == "Androscoggin Bank Colisée"
    assert bridge_answer(Says("Madison Square Garden"), q, [TEAM])[0] == ""  # the model's, not the documents'
    assert bridge_answer(Says("none"), q, [TEAM])[0] == ""
    assert bridge_answer(Says("Androscoggin Bank Colisée"), q, [])[0] == ""


SCHMEICHEL_Q = "What was the father of Kasper Schmeichel voted to be by the IFFHS in 1992?"
ARENA_Q = "The arena where the Lewiston Maineiacs played their home games can seat how many people?"


def test_the_description_copied_by_the_model_must_be_in_the_question_and_describe_something():
    assert description_span(SCHMEICHEL_Q, "The father of Kasper  Schmeichel") == "the father of Kasper Schmeichel"
    assert description_span(ARENA_Q, "the arena where the Lewiston Maineiacs played their home games") \
        == "The arena where the Lewiston Maineiacs played their home games"
    assert description_span(SCHMEICHEL_Q, "the mother of Kasper Schmeichel") is None  # not in the question
    assert description_span(SCHMEICHEL_Q, "Kasper Schmeichel") is None                # a name, not a description
    assert description_span(ARENA_Q, "how many people") is None                       # what is asked
    assert description_span(ARENA_Q, "arena") is None                                 # too little to search for
    assert description_span(ARENA_Q, ARENA_Q) is None                                 # no second hop left
    lib = 'What award did the architect of the "Port Amsel" library receive?'
    assert description_span(lib, "the architect of the 'Port Amsel' library") == 'the architect of the "Port Amsel" library'
    actress = "What position was held by the woman who portrayed Corliss Archer in the film Kiss and Tell?"
    assert description_span(actress, "the woman who portrayed Corliss Archer in the film Kiss and Tell") \
        == "the woman who portrayed Corliss Archer in the film Kiss and Tell"


def test_the_second_hop_asks_the_question_with_the_entity_named():
    assert substitute(SCHMEICHEL_Q, "the father of Kasper Schmeichel", "Peter Schmeichel") \
        == "What was Peter Schmeichel voted to be by the IFFHS in 1992?"
    assert substitute(ARENA_Q, "The arena where the Lewiston Maineiacs played their home games",
                      "Androscoggin Bank Colisée") == "Androscoggin Bank Colisée can seat how many people?"
    weissman = 'What screenwriter with credits for "Evolution" co-wrote a film starring Nicolas Cage?'
    span = description_span(weissman, "screenwriter with credits for 'Evolution'")
    assert span == 'screenwriter with credits for "Evolution"'
    assert substitute(weissman, span, "David Weissman") == weissman  # the entity is what is asked for


DWYER = _p("dwyer", "Dwyer Arena", "The Robert and Concetta Dwyer Arena houses two ice surfaces on Niagara "
                                   "University's campus in Lewiston, New York.")


def test_the_first_hop_is_named_only_from_sentences_about_the_description():
    span = "the arena where the Lewiston Maineiacs played their home games"
    q = f"Who or what is {span}?"
    model = Says("Robert and Concetta Dwyer Arena")  # an arena in another Lewiston
    assert bridge_answer(model, q, [DWYER, TEAM], span=span).answer == ""
    assert "Dwyer" not in model.prompts[-1]
    assert bridge_answer(Says("Lewiston Maineiacs"), q, [DWYER, TEAM], span=span).answer == ""  # named already
    hop = bridge_answer(Says("Androscoggin Bank Colisée"), q, [DWYER, TEAM], span=span)
    assert hop.answer == "Androscoggin Bank Colisée"
    assert hop.sentence.text == "The team played its home games at the Androscoggin Bank Colisée."


def test_the_first_hop_sentence_must_have_every_name_the_description_gives():
    """With the Maineiacs' page missing, another team's arena fits "the arena where ... played their home
    games" word for word; only the names say it is not theirs. The hop then names nothing and the agent
    abstains, instead of answering the other arena's seating."""
    span = "the arena where the Lewiston Maineiacs played their home games"
    gym = _p("gym", "Case Gym", "Boston University announced that all its home games would be played at Agganis "
                                "Arena, the arena where the Terriers play.")
    q = first_question(span, ARENA_Q)
    assert bridge_answer(Says("Agganis Arena"), q, [gym], span=span, require_name=True).answer == ""
    hop = bridge_answer(Says("Androscoggin Bank Colisée"), q, [gym, TEAM], span=span, require_name=True)
    assert hop.answer == "Androscoggin Bank Colisée"  # the names may come from the page's title


def test_the_first_hop_may_be_named_by_the_title_of_the_page_its_sentence_is_on():
    span = 'screenwriter with credits for "Evolution"'
    page = _p("dw", "David Weissman", 'His film credits include "The Family Man" (2000) and "Evolution" (2001).')
    hop = bridge_answer(Says("David Weissman"), f"Who or what is {span}?", [page], span=span)
    assert hop.answer == "David Weissman" and hop.sentence.title == "David Weissman"
    assert bridge_answer(Says("Ivan Reitman"), f"Who or what is {span}?", [page], span=span).answer == ""


def test_the_first_hop_is_asked_in_the_question_s_context_and_must_name_something():
    """"an Italian physicist" says little on its own; with the question the model can tell which one. The
    whole question's answer ("2000") is not the entity it describes."""
    question = "Seven Brief Lessons on Physics was written by an Italian physicist that has worked in France since what year?"
    span = "an Italian physicist"
    first = first_question(span, question)
    assert question in first and first.endswith(f"Who or what is {span}?")
    page = _p("cr", "Carlo Rovelli", "Carlo Rovelli is an Italian theoretical physicist who has worked in France since 2000.")
    assert bridge_answer(Says("Carlo Rovelli"), first, [page], span=span, require_name=True).answer == "Carlo Rovelli"
    assert bridge_answer(Says("2000"), first, [page], span=span).answer == "2000"  # only where it goes into the question
    assert bridge_answer(Says("2000"), first, [page], span=span, require_name=True).answer == ""


def test_an_answer_after_a_bridge_hop_cites_the_hop_sentence_first():
    sentence = build_evidence("home games arena", [TEAM]).sentences[-1]
    hop = BridgeHop(span="the arena", entity="Androscoggin Bank Colisée", sentence=sentence,
                    asked="Androscoggin Bank Colisée can seat how many people?")
    cited = AnswerSentence(text="It seats 4,000.", citations=[], support=0.9)
    v = _with_hop(VerifiedDraft(answer="4,000", sentences=[cited]), hop)
    assert [s.text for s in v.sentences] == [sentence.text, "It seats 4,000."]
    c = v.sentences[0].citations[0]
    assert TEAM.chunk.text[c.start:c.end] == c.quote == sentence.text
    assert _with_hop(v, hop).sentences == v.sentences  # cited once


def test_react_and_reflexion_escalate_once_to_each_stage_and_grounded_never():
    escalate = GraphBuilder(Components(Settings())).escalate
    assert escalate({"strategy": "grounded", "escalation": 0}) == "abstain"
    assert [escalate({"strategy": s, "escalation": level}) for s in ("react", "reflexion") for level in (0, 1, 2)] \
        == ["bridge", "plan", "abstain"] * 2


class Drafts:
    """Answers every answer call with the same cited draft and records the prompts."""

    def __init__(self, answer, cite="1"):
        self.answer, self.cite, self.prompts, self.schemas = answer, cite, [], []

    def chat(self, messages, *, json_schema=None, max_tokens=256, temperature=0.0, stop=None):
        self.prompts.append(messages[-1]["content"])
        self.schemas.append(json_schema)
        text = json.dumps({"answer": self.answer, "sentences": [{"cite": [self.cite], "text": f"It is {self.answer}."}]})
        return Completion(text=text, prompt_tokens=40, completion_tokens=12, seconds=0.1)


def test_after_the_tool_loop_the_answer_call_is_told_which_answers_were_rejected():
    """Over the same pages the model repeats its first answer; after the tool loop it is told it was turned
    down. The bridge hop is not: its substituted question may make the same answer right."""
    q = "At which arena did the Lewiston Maineiacs play?"
    evidence = build_evidence(q, [TEAM])
    gen = Drafts("Colisée")
    node = GraphBuilder(Components(Settings(), generator=gen)).answer
    base = {"question": q, "strategy": "react", "evidence": evidence, "rejected": ["Androscoggin Arena"]}
    node({**base, "escalation": 1})
    node({**base, "escalation": 2})
    assert "Androscoggin Arena" not in gen.prompts[0]
    assert "'Androscoggin Arena' was checked" in gen.prompts[1]


class Overlap:
    """A reranker by shared words: enough to tell which passage a query is about."""

    def rerank(self, query, passages, top_k=None):
        words = set(query.lower().split())
        ranked = sorted(passages, key=lambda p: -len(words & set(p.text.lower().split())))
        return ranked[:top_k] if top_k else ranked


def test_the_best_passage_of_each_tool_loop_search_is_shown_to_the_answer_call():
    q = "How many seats does the arena of the Lewiston Maineiacs have?"
    fillers = [_p(f"f{i}", f"Filler {i}", f"The Lewiston Maineiacs team won game {i} of the season.") for i in range(6)]
    arena = _p("abc", "Androscoggin Bank Colisée", "The Colisée has 4,000 seats for hockey.", rel=0.3)
    settings = Settings(follow_links=0, detect_conflicts=False)
    node = GraphBuilder(Components(settings, reranker=Overlap())).rerank
    state = {"question": q, "strategy": "react", "queries": [q], "passages": [*fillers, arena]}
    assert arena not in node(state)["ranked"]
    steps = [{"tool": "search_corpus", "arguments": {"query": "Colisée seats hockey"}, "ok": True}]
    assert arena in node({**state, "steps": steps})["ranked"]


def test_a_question_asking_for_the_hop_s_entity_is_answered_with_that_entity_or_nothing():
    q = "D1NZ is a series based on what oversteering technique?"
    page = _p("dr", "Drifting (motorsport)", "Drifting is a driving technique where the driver intentionally oversteers.")
    sentence = build_evidence(q, [page]).sentences[0]
    gen = Drafts("drifting")
    node = GraphBuilder(Components(Settings(), generator=gen)).answer
    state = {"question": q, "strategy": "react", "evidence": build_evidence(q, [page]), "escalation": 1}
    node({**state, "hop": BridgeHop(span="oversteering technique", entity="drifting", sentence=sentence, asked=q)})
    assert gen.schemas[-1]["properties"]["answer"]["enum"] == ["drifting", "insufficient evidence"]
    other = "Where was the driving technique that D1NZ is based on invented?"
    node({**state, "question": other, "hop": BridgeHop(span="the driving technique that D1NZ is based on",
                                                       entity="drifting", sentence=sentence,
                                                       asked="Where was drifting invented?")})
    assert "enum" not in gen.schemas[-1]["properties"]["answer"]


VCU = _p("vcu", "Virginia Commonwealth University",
         "In 1968, the Virginia General Assembly merged MCV with the Richmond Professional Institute. "
         "VCU was founded in 1838 as the medical department of Hampden-Sydney College.")


def test_after_a_reflection_the_sentences_a_rejected_answer_cited_are_not_shown_again():
    """Told in words that '1968' was wrong, the model gave it again from the same sentence; the retry after
    a reflection sees the page's other sentences instead. Before any reflection nothing is left out."""
    q = "In what year was the university where Shaka Smart coached founded?"
    gate = GraphBuilder(Components(Settings())).gate
    state = {"question": q, "strategy": "reflexion", "ranked": [VCU], "ruled_out": ["0:vcu"]}
    first = [s.text for s in gate({**state, "reflections": []})["evidence"].sentences]
    retry = [s.text for s in gate({**state, "reflections": ["1968 is the merger year."]})["evidence"].sentences]
    assert any("1968" in t for t in first)
    assert retry and not any("1968" in t for t in retry) and any("1838" in t for t in retry)


class Reflects:
    def __init__(self, next_query):
        self.next_query = next_query

    def chat(self, messages, *, json_schema=None, max_tokens=256, temperature=0.0, stop=None):
        text = json.dumps({"critique": "The merger year is not the founding year.", "next_query": self.next_query})
        return Completion(text=text, prompt_tokens=40, completion_tokens=20, seconds=0.1)


def test_a_reflection_runs_the_search_it_proposes_once_and_routes_a_failed_loop_back_to_reflect():
    from agentkit.tools import ToolRegistry

    searched = []
    reg = ToolRegistry()

    @reg.tool(name="search_corpus")
    def search(query: str) -> str:
        """Search."""
        searched.append(query)
        return "1. Virginia Commonwealth University: VCU was founded in 1838."

    settings = Settings(max_reflections=1)
    builder = GraphBuilder(Components(settings, generator=Reflects("VCU founding year"), tools=reg))
    state = {"question": "When was VCU founded?", "strategy": "reflexion", "escalation": 2, "steps": []}
    update = builder.reflect(state)
    assert searched == ["VCU founding year"] and update["steps"][0]["ok"]
    assert update["reflections"] and update["trace"][0].stage == "reflect"
    done = [{"tool": "search_corpus", "arguments": {"query": "vcu founding year"}, "ok": True}]
    assert "steps" not in builder.reflect({**state, "steps": done}) and searched == ["VCU founding year"]
    # shown its actions as calls, the model writes its next query as one: the words are searched
    builder.c.__dict__["generator"] = Reflects("search_corpus({'query': 'Hampden-Sydney College', 'k': 1})")
    builder.reflect(state)
    assert searched[-1] == "Hampden-Sydney College"
    # a tool loop that gathered nothing reflects (bounded), where react abstains
    empty = {**state, "ranked": [], "evidence": build_evidence("x", [])}
    assert builder.after_gate({**empty, "reflections": []}) == "reflect"
    assert builder.after_gate({**empty, "reflections": ["once"]}) == "abstain"
    assert builder.after_gate({**empty, "strategy": "react", "reflections": []}) == "abstain"


class Passes:
    """A verifier's model that says yes to everything: whatever is turned down, a rule turned it down."""

    def yes_probability(self, prompts):
        return [0.9 for _ in prompts]

    def count_tokens(self, text):
        return len(text.split())


def test_after_a_reflection_an_answer_already_turned_down_is_not_checked_again():
    """Each new citation for a rejected answer is another draw from a noisy check: after a reflection the
    same answer is turned down even where the check would pass it; before any reflection (the single pass's
    regeneration) it is checked as usual."""
    from agentkit.answer.grounded import Draft

    q = "When was VCU founded?"
    evidence = build_evidence(q, [VCU])
    founded = next(s for s in evidence.sentences if "1838" in s.text)
    verify = GraphBuilder(Components(Settings(), verifier=None, generator=Passes())).verify
    draft = Draft(answer="1838.", sentences=[("VCU was founded in 1838.", [founded.id])])
    base = {"question": q, "strategy": "reflexion", "evidence": evidence, "draft": draft, "rejected": ["1838"]}
    out = verify({**base, "reflections": ["1838 was cited from the wrong page."]})
    assert out["verified"].answer_rejected and not out["verified"].sentences
    assert "turned down before" in out["verified"].dropped[-1]
    assert out["ruled_out"] == [f"{founded.start}:vcu"]  # and its sentence is not shown to the next retry
    assert verify({**base, "reflections": []})["verified"].sentences


def test_after_a_reflection_an_answer_must_cite_a_word_of_the_question_beyond_its_names():
    """Without the rejected answer's sentence the model takes another year from the same pages; the retry's
    citations must share a word with what the question asks ("founded"), not only its names. Before any
    reflection the rule does not apply (it would turn down 8 right answers of the 44 grounded HotpotQA ones)."""
    from agentkit.answer.grounded import Draft, relation_words

    q = "In what year was the Harbor Museum of Maritime History founded?"
    assert relation_words(q) == {"found"}
    assert relation_words("Who is Kasper Schmeichel's father?") == {"fathe"}
    page = _p("hm", "Harbor Museum", "In 2019 the Harbor Museum welcomed 212,000 visitors. "
                                     "The Harbor Museum was founded in 1921 by sailors.")
    evidence = build_evidence(q, [page])
    record, founded = evidence.sentences[0], evidence.sentences[1]
    verify = GraphBuilder(Components(Settings(), verifier=None, generator=Passes())).verify
    base = {"question": q, "strategy": "reflexion", "evidence": evidence, "rejected": ["2015"]}
    after = {**base, "reflections": ["2015 is when the director started."]}
    wrong = Draft(answer="2019", sentences=[("The museum had a record year in 2019.", [record.id])])
    right = Draft(answer="1921", sentences=[("The museum was founded in 1921.", [founded.id])])
    assert verify({**after, "draft": wrong})["verified"].answer_rejected
    assert verify({**after, "draft": right})["verified"].sentences
    assert verify({**base, "reflections": [], "draft": wrong})["verified"].sentences


class JustPasses(Passes):
    """A verifier's model that is barely sure of everything: the answer check's P is 0.58."""

    def yes_probability(self, prompts):
        return [0.58 for _ in prompts]


def test_an_answer_the_generator_hesitated_over_needs_a_surer_answer_check():
    """The same borderline check (0.58) passes an answer the generator wrote without hesitation and turns
    down one it hesitated over: the bar is 0.55 + 0.25 * (0.85 - P(short answer)). With the weight at 0 or
    no probability from the backend the bar stays 0.55."""
    from agentkit.answer.grounded import Draft

    q = "When was VCU founded?"
    evidence = build_evidence(q, [VCU])
    founded = next(s for s in evidence.sentences if "1838" in s.text)
    state = {"question": q, "strategy": "grounded", "evidence": evidence}

    def verify(answer_prob, **settings):
        node = GraphBuilder(Components(Settings(**settings), verifier=None, generator=JustPasses())).verify
        draft = Draft(answer="1838", sentences=[("VCU was founded in 1838.", [founded.id])], answer_prob=answer_prob)
        return node({**state, "draft": draft})

    sure, unsure = verify(0.97), verify(0.55)
    assert sure["verified"].sentences and not sure["verified"].answer_rejected
    assert unsure["verified"].answer_rejected and unsure["rejected"] == ["1838"]
    assert unsure["trace"][0].detail["answer_check_bar"] > 0.58 > sure["trace"][0].detail["answer_check_bar"]
    assert verify(None)["verified"].sentences
    assert verify(0.55, answer_prob_weight=0.0)["verified"].sentences
