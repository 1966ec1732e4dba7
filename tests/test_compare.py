"""Yes/no comparisons of two names: each side asked on its own evidence, the answer by rule."""

import json

import pytest

from agentkit.answer.compare import compare, date_key, parse_comparison, parse_date_choice
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


# --- date choices: "Who is older, A or B?" ---------------------------------------------------------------

MORTON = _p("am", "Annie Morton", "Annie Morton (born October 8, 1970) is an American model. She was born in Pennsylvania.")
RICHARDSON = _p("tr", "Terry Richardson", "Terrence Richardson (born August 14, 1965) is an American fashion photographer.")
MORTON_SAME_YEAR = _p("am2", "Annie Morton", "Annie Morton was born in 1965 in Pennsylvania.")
RICHARDSON_YEAR = _p("tr2", "Terry Richardson", "Terry Richardson was born in 1965 in New York City.")


@pytest.mark.parametrize("question, names, earlier, event", [
    ("Who is older, Annie Morton or Terry Richardson?", ("Annie Morton", "Terry Richardson"), True, "born"),
    ("who is younger Keith Bostic or Jerry Glanville ?", ("Keith Bostic", "Jerry Glanville"), False, "born"),
    ("Which magazine was started first, Arthur's Magazine or First for Women?",
     ("Arthur's Magazine", "First for Women"), True, "started"),
    ("Which was decided first, Harlow v Pennant Estates or Rowan v The State?",
     ("Harlow v Pennant Estates", "Rowan v The State"), True, "decided"),
    ("Which came out first, Toy Story or Shrek?", ("Toy Story", "Shrek"), True, "released"),
    ("Which band was formed more recently, Blur or Oasis?", ("Blur", "Oasis"), False, "formed"),
    ("Is Annie Morton or Terry Richardson older?", ("Annie Morton", "Terry Richardson"), True,
     "born, founded or first released"),
])
def test_date_choices_name_the_two_things_and_the_order(question, names, earlier, event):
    spec = parse_date_choice(question)
    assert spec is not None and (spec.names, spec.earlier, spec.event) == (names, earlier, event)


@pytest.mark.parametrize("question", [
    "Who was the first president, Washington or Adams?",  # "the first president" is a title, not an order
    "Which writer was from England, Henry Roth or Robert Erskine Childers?",  # a choice, not by date
    "What was the first novel of Teodor Brannick?",  # no two things
    "Were Scott Derrickson and Ed Wood of the same nationality?",
])
def test_other_questions_are_not_date_choices(question):
    assert parse_date_choice(question) is None


def test_dates_as_passages_write_them():
    assert date_key("August 14, 1965") == date_key("14 August 1965") == (1965, 8, 14)
    assert date_key("1965") == (1965, 0, 0)
    assert date_key("none") is None


def test_the_older_thing_is_named_with_each_birth_date_cited_and_verified():
    q = "Who is older, Annie Morton or Terry Richardson?"
    gen = Answers({"Annie Morton": "October 8, 1970", "Terry Richardson": "August 14, 1965"})
    verifier = Verifier()
    res = compare(gen, verifier, q, [MORTON, RICHARDSON])
    assert res.answer == "Terry Richardson"
    assert [s.cited[0].doc_id for s in res.sides] == ["am", "tr"]
    assert "Annie Morton was born in 1970." in verifier.claims
    younger = compare(gen, Verifier(), "Who is younger, Annie Morton or Terry Richardson?", [MORTON, RICHARDSON])
    assert younger.answer == "Annie Morton"


def test_a_date_choice_is_not_answered_when_a_date_is_missing_unverified_or_unordered():
    """A side needs a year that a sentence about the thing states and the verifier accepts."""
    q = "Who is older, Annie Morton or Terry Richardson?"
    undated = _p("am3", "Annie Morton", "Annie Morton is an American model from Pennsylvania.")
    no_date = compare(Answers({"Annie Morton": "none", "Terry Richardson": "1965"}), Verifier(), q, [undated, RICHARDSON])
    assert no_date.answer is None
    # a year the passages do not state is never used: the year of the sentence nearest the question is
    invented = compare(Answers({"Annie Morton": "1968", "Terry Richardson": "1965"}), Verifier(), q, [MORTON, RICHARDSON])
    assert invented.sides[0].value == "1970" and invented.answer == "Terry Richardson"
    rejected = compare(Answers({"Annie Morton": "1970", "Terry Richardson": "1965"}), Verifier(p=0.2), q,
                       [MORTON, RICHARDSON])
    assert rejected.answer is None and "does not show" in rejected.reason
    same_year = compare(Answers({"Annie Morton": "1965", "Terry Richardson": "1965"}), Verifier(), q,
                        [MORTON_SAME_YEAR, RICHARDSON_YEAR])
    assert same_year.answer is None and "cannot be ordered" in same_year.reason


class PremiseVerifier(Verifier):
    def __init__(self):
        super().__init__()
        self.premises = []

    def support(self, claims):
        self.premises += [ev for _, ev in claims]
        return super().support(claims)


def test_a_side_is_verified_on_its_quote_read_with_the_page_title():
    """"It was founded in Port Amsel in 1962" shows nothing about Quillfeather Press without its page."""
    q = "Which was founded first, Halden Media Group or Quillfeather Press?"
    halden = _p("hm", "Halden Media Group", "Halden Media Group was founded in 1955 in Lindqvist Harbour.")
    quill = _p("qp", "Quillfeather Press", "Quillfeather Press is a publisher. It was founded in Port Amsel in 1962.")
    verifier = PremiseVerifier()
    res = compare(Answers({"Halden Media Group": "1955", "Quillfeather Press": "1962"}), verifier, q, [halden, quill])
    assert res.answer == "Halden Media Group"
    assert verifier.premises == [["Halden Media Group was founded in 1955 in Lindqvist Harbour."],
                                 ["Quillfeather Press: It was founded in Port Amsel in 1962."]]
    assert verifier.claims[1] == "Quillfeather Press was founded in 1962."


class YearVerifier(Verifier):
    """Accepts only claims with the given year."""

    def __init__(self, *years):
        super().__init__()
        self.years = years

    def support(self, claims):
        self.claims += [c for c, _ in claims]
        return [0.9 if any(y in c for y in self.years) else 0.1 for c, _ in claims]


def test_a_rejected_year_gives_way_to_another_year_of_the_sentence_nearest_the_question():
    """The model copied the year of a building (1958); "(1928 – 1999)" holds the birth year."""
    vesk = _p("iv", "Ilan Vesk", "Ilan Vesk (1928 – 1999) was an architect. In 1958 he designed the Port Amsel Library.")
    brannick = _p("tb", "Teodor Brannick", "Teodor Brannick (born 3 February 1945) is a novelist.")
    q = "Who was born first, Ilan Vesk or Teodor Brannick?"
    verifier = YearVerifier("1928", "1945")
    res = compare(Answers({"Ilan Vesk": "1958", "Teodor Brannick": "3 February 1945"}), verifier, q, [vesk, brannick])
    assert res.answer == "Ilan Vesk" and res.sides[0].value == "1928"
    assert verifier.claims[:2] == ["Ilan Vesk was born in 1958.", "Ilan Vesk was born in 1928."]


def test_a_page_titled_with_the_name_alone_is_read_not_one_about_another_subject_of_it():
    """"Ed Wood (film)" is about a film: ranked above the director's own page, its sentences described the
    film's nationality as his."""
    from agentkit.answer.compare import passages_naming

    film = _p("ewf", "Ed Wood (film)", "Ed Wood is a 1994 American biographical film directed by Tim Burton.", 0.9)
    works = _p("ewl", "Ed Wood filmography", "Ed Wood directed Glen or Glenda in 1953.", 0.95)
    chosen, titled = passages_naming("Ed Wood", [works, film, WOOD, COLLIS])
    assert titled and [p.chunk.doc_id for p in chosen] == ["ew", "ewl"]
    # with no page titled with the name alone, the qualified one still counts as its page
    assert [p.chunk.doc_id for p in passages_naming("Ed Wood", [works, film])[0]] == ["ewf", "ewl"]
    # ranked without the director's page: his own search finds it, and his side is read from it
    searched = []

    def search(sub_question):
        searched.append(sub_question)
        return [WOOD]

    res = compare(Answers({"Scott Derrickson": "American", "Ed Wood": "American"}), Verifier(),
                  "Were Scott Derrickson and Ed Wood of the same nationality?", [DERRICKSON, film], search=search)
    assert res.answer == "yes" and searched == ["Was Ed Wood of which nationality?"]
    assert [x.doc_id for x in res.sides[1].cited] == ["ew"]
