"""Yes/no comparisons of two names: each side asked on its own evidence, the answer by rule."""

import json

import pytest

from agentkit.answer.compare import compare, parse_comparison
from agentkit.generate.llm import Completion
from agentkit.types import Chunk, ScoredPassage


def _p(doc_id, title, text, rel=0.8):
    return ScoredPassage(chunk=Chunk(id=f"{doc_id}::0", doc_id=doc_id, text=text, start=0, end=len(text)),
                         title=title, source=f"{doc_id}.md", score=rel, scores={"rerank": rel})


DERRICKSON = _p("sd", "Scott Derrickson", "Scott Derrickson (born July 16, 1966) is an American director. He lives in Los Angeles.")
WOOD = _p("ew", "Ed Wood", "Edward Davis Wood Jr. was an American filmmaker. Ed Wood made low-budget films.")
COLLIS = _p("ac", "Adam Collis", "Collis was the assistant director for Scott Derrickson's short film.")
BRITISH = _p("ew2", "Ed Wood", "Ed Wood is a British illustrator from Leeds.")


class Answers:
    """A scripted generator: the answer it gives for the thing each prompt asks about."""

    def __init__(self, by_name: dict[str, str]):
        self.by_name, self.asked = by_name, []

    def chat(self, messages, *, json_schema=None, max_tokens=256, temperature=0.0, stop=None):
        sub_question = messages[-1]["content"].rsplit("Question: ", 1)[1]
        name = next(n for n in self.by_name if n in sub_question)
        self.asked.append(sub_question)
        return Completion(text=json.dumps({"answer": self.by_name[name]}), prompt_tokens=50, completion_tokens=5,
                          seconds=0.1)


class Verifier:
    def __init__(self, p=0.9):
        self.p, self.claims = p, []

    def support(self, claims):
        self.claims += [c for c, _ in claims]
        return [self.p for _ in claims]


@pytest.mark.parametrize("question, names, mode", [
    ("Were Scott Derrickson and Ed Wood of the same nationality?", ("Scott Derrickson", "Ed Wood"), "same"),
    ("Are the Laleli Mosque and Esma Sultan Mansion located in the same neighborhood?",
     ("Laleli Mosque", "Esma Sultan Mansion"), "same"),
    ("Are Freakonomics and In the Realm of the Hackers both American documentaries?",
     ("Freakonomics", "In the Realm of the Hackers"), "both"),
    ("Are both Elko Regional Airport and Gerald R. Ford International Airport located in Michigan?",
     ("Elko Regional Airport", "Gerald R. Ford International Airport"), "both"),
    ("Are Random House Tower and 888 7th Avenue both used for real estate?", ("Random House Tower", "888 7th Avenue"),
     "both"),
])
def test_yes_no_comparisons_are_split_into_their_two_names(question, names, mode):
    spec = parse_comparison(question)
    assert spec is not None and spec.names == names and spec.mode == mode


@pytest.mark.parametrize("question", [
    "Who is older, Annie Morton or Terry Richardson?",  # a choice, not yes/no
    "What government position was held by the woman who portrayed Corliss Archer in the film Kiss and Tell?",
    "Is Veltrazine safe for children?",  # one name
    "Did revenue and profit increase?",  # no names
])
def test_other_questions_are_not_comparisons(question):
    assert parse_comparison(question) is None


def test_same_values_copied_from_each_side_give_yes_with_a_citation_per_side():
    q = "Were Scott Derrickson and Ed Wood of the same nationality?"
    gen = Answers({"Scott Derrickson": "American", "Ed Wood": "American"})
    res = compare(gen, Verifier(), q, [COLLIS, DERRICKSON, WOOD])
    assert res.answer == "yes"
    assert [s.cited[0].doc_id for s in res.sides] == ["sd", "ew"]  # the page titled with each name
    assert gen.asked == ["Was Scott Derrickson of which nationality?", "Was Ed Wood of which nationality?"]
    assert compare(Answers({"Scott Derrickson": "American", "Ed Wood": "British"}), Verifier(), q,
                   [DERRICKSON, BRITISH]).answer == "no"


def test_a_value_the_evidence_does_not_state_or_a_missing_side_gives_no_answer():
    q = "Were Scott Derrickson and Ed Wood of the same nationality?"
    # the model's "Canadian" is in no sentence about Ed Wood
    res = compare(Answers({"Scott Derrickson": "American", "Ed Wood": "Canadian"}), Verifier(), q, [DERRICKSON, WOOD])
    assert res.answer is None and "Ed Wood" in res.reason
    # gold pages removed: only a page that mentions Derrickson in passing, nothing about Ed Wood
    res = compare(Answers({"Scott Derrickson": "none", "Ed Wood": "American"}), Verifier(), q, [COLLIS])
    assert res.answer is None
    # a page about someone else: its "American" describes that person, not the one it mentions
    collis = _p("ac", "Adam Collis", "Adam Collis is an American filmmaker. He assisted Scott Derrickson on a short.")
    res = compare(Answers({"Scott Derrickson": "American", "Ed Wood": "American"}), Verifier(), q, [collis, WOOD])
    assert res.answer is None and "Scott Derrickson" in res.reason


def test_both_needs_each_side_verified_and_one_no_settles_it():
    q = "Are Scott Derrickson and Ed Wood both American?"
    gen = Answers({"Scott Derrickson": "no", "Ed Wood": "yes"})
    res = compare(gen, Verifier(), q, [DERRICKSON, WOOD])
    assert res.answer == "no" and len(gen.asked) == 1  # the second side is not needed
    assert compare(Answers({"Scott Derrickson": "yes", "Ed Wood": "yes"}), Verifier(), q,
                   [DERRICKSON, WOOD]).answer == "yes"
    doubting = Verifier(p=0.2)
    res = compare(Answers({"Scott Derrickson": "yes", "Ed Wood": "yes"}), doubting, q, [DERRICKSON, WOOD])
    assert res.answer is None
    assert doubting.claims == [f'Question: "Is Scott Derrickson American?" The evidence shows that the answer is {a}.'
                               for a in ("yes", "no")]  # neither stance is supported


class ClaimVerifier:
    """P(yes) by the stance a claim states."""

    def __init__(self, by_stance):
        self.by_stance = by_stance

    def support(self, claims):
        return [self.by_stance[c.rsplit(" ", 1)[1].rstrip(".")] for c, _ in claims]


def test_a_rejected_stance_is_replaced_by_the_other_when_the_evidence_settles_it():
    q = "Are Scott Derrickson and Ed Wood both British?"
    res = compare(Answers({"Scott Derrickson": "yes", "Ed Wood": "yes"}), ClaimVerifier({"yes": 0.1, "no": 0.9}), q,
                  [DERRICKSON, WOOD])
    assert res.answer == "no" and res.sides[0].value == "no"
    res = compare(Answers({"Scott Derrickson": "yes", "Ed Wood": "yes"}), ClaimVerifier({"yes": 0.1, "no": 0.1}), q,
                  [DERRICKSON, WOOD])
    assert res.answer is None


def test_a_thing_missing_from_the_ranked_passages_gets_its_own_search():
    q = "Were Scott Derrickson and Ed Wood of the same nationality?"
    searched = []

    def search(sub_question):
        searched.append(sub_question)
        return [WOOD]

    res = compare(Answers({"Scott Derrickson": "American", "Ed Wood": "American"}), Verifier(), q, [DERRICKSON],
                  search=search)
    assert res.answer == "yes" and searched == ["Was Ed Wood of which nationality?"]
