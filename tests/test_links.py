"""Link following: the bridge document of a multi-hop question is shown because a top passage names it."""

from agentkit.retrieve.links import linked_passages, names_title
from agentkit.types import Chunk, ScoredPassage


def _p(doc_id: str, title: str, text: str, score: float = 0.5) -> ScoredPassage:
    return ScoredPassage(chunk=Chunk(id=f"{doc_id}::0", doc_id=doc_id, text=text, start=0, end=len(text)),
                         title=title, source=f"{doc_id}.md", score=score)


WARRIER = _p("warrier", "Sachin Warrier", "Sachin Warrier worked as a software engineer in Tata Consultancy Services "
             "in Kochi. He later wrote songs.", 0.9)
TCS = _p("tcs", "Tata Consultancy Services", "Tata Consultancy Services is headquartered in Mumbai.", 0.3)
FRONT_ROW = _p("front-row", "Front Row (software)", "Front Row is a media center program.", 0.3)
WINNER = _p("winner", "Winner (band)", "Winner is a South Korean boy band.", 0.3)
OTHER = _p("other", "Kochi Metro", "A metro line.", 0.4)


def test_a_candidate_named_by_a_top_passage_is_shown_even_below_the_cut():
    q = "Where is the company that Sachin Warrier worked for as a software engineer headquartered?"
    assert linked_passages(q, [WARRIER], [OTHER, TCS], limit=2) == [TCS]
    assert linked_passages(q, [WARRIER], [OTHER, TCS], limit=0) == []
    assert linked_passages(q, [WARRIER, TCS], [TCS], limit=2) == []  # already shown


def test_a_candidate_named_by_the_question_is_shown():
    q = "Aside from the Apple Remote, what else controls Front Row?"
    assert linked_passages(q, [WARRIER], [OTHER, FRONT_ROW], limit=2) == [FRONT_ROW]  # "(software)" is dropped


def test_titles_link_only_when_the_text_capitalises_them():
    assert names_title("2014 S/S is the debut album of the boy group WINNER.", "Winner (band)")
    assert not names_title("The winner of the race was unknown.", "Winner (band)")
    assert not names_title("What science fantasy series is told in first person?", "Science Fantasy (magazine)")
    assert names_title("It was published in Science Fantasy in 1950.", "Science Fantasy (magazine)")
    assert not names_title("Sachin Warrier wrote songs.", "Son")  # too short to be a name
    assert not names_title("The Warriers wrote songs.", "Warrier")  # inside a word
