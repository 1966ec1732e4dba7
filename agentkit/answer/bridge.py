"""The first hop of a bridge question, for the agent strategies' escalation.

"What was the father of Kasper Schmeichel voted to be by the IFFHS in 1992?" describes Peter Schmeichel
without naming him. Asked the whole question over both men's pages, the 1.5B model answers "Peter
Schmeichel" (the entity, not what he was voted); asked "What was Peter Schmeichel voted to be by the IFFHS
in 1992?" over the same pages, it answers "World's Best Goalkeeper". So the graph's ``bridge`` node has
the model copy the description out of the question (``description_span``), this module names the entity
from the description's own search with one short constrained call (``bridge_answer``), and the answer
stage is asked the question with the name in place of the description (``substitute``), and verified on
it; the hop sentence is cited in the answer. The hop is checked lexically (``about_description``: only
sentences about the description are shown, and the one stating the entity must be one): the 1.5B verifier
could not judge it ("the father of Kasper Schmeichel is Peter Schmeichel" against "He is
the son of ... Peter Schmeichel" scored 0.33, a wrong arena's sentence 0.81), and with the user's question
the answer check rejected the right "World's Best Goalkeeper" (0.46).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from pydantic import BaseModel

from agentkit.answer.compare import ask_on_evidence
from agentkit.answer.conflicts import NO_ANSWERS, normalize_answer
from agentkit.answer.evidence import (
    EvidenceSentence,
    EvidenceSet,
    best_covering,
    build_evidence,
    content_words,
    states,
    titled,
)
from agentkit.types import ScoredPassage

BRIDGE_TASK = 'Task: "answer" is the name the question asks for, copied from the passages, or "none" if they do not give it.'

# what the question asks for is not a description of the bridge entity ("the president that served
# during what years" was the 1.5B's copy for a question about Nixon's years)
_ASKED = re.compile(r"\b(what|how)\b", re.IGNORECASE)  # "which", "who" also start relative clauses
_WH = {"what", "which", "who", "whom", "whose"}


class Hop(NamedTuple):
    answer: str                          # "" when the passages do not state one
    sentence: EvidenceSentence | None    # the shown sentence that states it
    prompt_tokens: int
    completion_tokens: int


class BridgeHop(BaseModel):
    """A first hop: the description, the entity it names, the sentence saying so (cited in the answer),
    and the question asked of the second hop."""
    span: str
    entity: str
    sentence: EvidenceSentence
    asked: str


def description_span(question: str, copied: str) -> str | None:
    """The part of ``question`` that ``copied`` (the model's copy of the description) matches, with the
    question's own spelling; None when it is not in the question, names too little, is the question's
    asked part, or is most of the question (then there is no second hop to ask)."""
    copied = _plain_quotes(" ".join(copied.split())).strip(" .,;:?")
    if len(copied) > 1 and copied[0] == copied[-1] == "'" and copied.count("'") == 2:  # the model quoted it
        copied = copied[1:-1]
    words = content_words(copied)
    if len(words) < 2 or _ASKED.search(copied):
        return None
    if not any(w[:1].islower() for w in copied.split() if w.lower() in words):  # "the Apple Remote" is a name
        return None
    flat = " ".join(question.split())
    at = _plain_quotes(flat).lower().find(copied.lower())
    if at < 0 or len(copied) > 0.8 * len(flat.rstrip(" ?")):
        return None
    return flat[at:at + len(copied)]


def _plain_quotes(text: str) -> str:
    # the model copies "Evolution" as 'Evolution'; same length, so offsets carry over
    return re.sub(r"[\"'‘’“”]", "'", text)


def substitute(question: str, span: str, name: str) -> str:
    """``question`` with the description ``span`` replaced by the entity's ``name``; unchanged where the
    question asks for the described entity itself ("What screenwriter with credits for ..."): naming it
    is the answer to check, not a new question."""
    flat = " ".join(question.split())
    at = flat.find(span)
    if at < 0 or asks_for(question, span):
        return question
    rest = flat[at + len(span):]
    if rest[:1].isalnum():
        rest = " " + rest
    head = flat[:at]
    return f"{head}{name}{rest}" if head else f"{name[:1].upper()}{name[1:]}{rest}"


def asks_for(question: str, span: str) -> bool:
    """Whether the question asks for the described entity itself: "What screenwriter with credits for ...",
    "D1NZ is a series based on what oversteering technique?"."""
    flat = " ".join(question.split())
    at = flat.find(span)
    before = flat[:at].split() if at >= 0 else []
    return bool(before) and before[-1].lower() in _WH


def about_description(span: str, sentence: EvidenceSentence, entity: str = "") -> bool:
    """Whether ``sentence``, read with its page's title, is about the description: it has every name the
    description gives and at least half of its other words (the entity's own words aside). "The team
    played its home games at the Androscoggin Bank Colisée" on the Lewiston Maineiacs page is; "The Robert
    and Concetta Dwyer Arena houses two ice surfaces ... in Lewiston, New York" (the 1.5B's pick for the
    same description) is not, nor is a page saying another team's "home games would be played at Agganis
    Arena" (the pick when the Maineiacs' page was missing: a description's words without its names fit
    any arena)."""
    own = content_words(entity)
    words = content_words(span) - own
    have = content_words(titled(sentence.text, sentence.title))
    return bool(words) and len(words & have) >= len(words) / 2 and description_names(span) - own <= have


def description_names(span: str) -> set[str]:
    """The words a description capitalizes ("Lewiston", "Maineiacs", "Italian"): what picks out its entity."""
    return {w for tok in span.split() if tok.strip("\"'‘’“”(")[:1].isupper() for w in content_words(tok)}


def first_question(span: str, question: str | None = None) -> str:
    """The question that names the described entity; with the whole ``question`` as its context, since a
    description may say little on its own ("an Italian physicist")."""
    if question:
        return f'The question "{question}" mentions {span}. Who or what is {span}?'
    return f"Who or what is {span}?"


def bridge_answer(generator, question: str, passages: list[ScoredPassage], embed=None,
                  span: str | None = None, require_name: bool = False) -> Hop:
    """The entity a bridge question's first hop asks for, and the shown sentence that states it; the
    answer is "" when no shown sentence contains it: a value that is not there is the model's, not the
    documents'. With ``span`` (the description) only sentences about it are shown, and the one stating
    the entity must be about it without the entity's own words. ``require_name``: the entity goes into
    the question in the description's place, so it must be a name (capitalized): "2000" answers the
    whole question, "dummy corporation" is not the corporation meant."""
    if not passages:
        return Hop("", None, 0, 0)
    ev = build_evidence(question, passages, embed=embed, max_sentences=6, max_chars=900, min_per_passage=1)
    if span:
        ev = EvidenceSet(passages=ev.passages, sentences=[x for x in ev.sentences if about_description(span, x)])
    if not ev.sentences:
        return Hop("", None, 0, 0)
    value, ptoks, ctoks = ask_on_evidence(generator, question, question, ev, BRIDGE_TASK, None)
    value = " ".join(value.split())
    if normalize_answer(value) in NO_ANSWERS | {"yes", "no"} or not content_words(value):
        return Hop("", None, ptoks, ctoks)
    if require_name and not any(ch.isupper() for ch in value):
        return Hop("", None, ptoks, ctoks)
    if span and content_words(value) <= content_words(span):  # a name the description already gives
        return Hop("", None, ptoks, ctoks)
    stating = best_covering(f"{question} {value}", ev, max_sentences=1, required=content_words(value))
    if not stating:  # a page about the entity: "His film credits include ... 'Evolution'" on David Weissman's
        stating = [x for x in ev.sentences if states(content_words(value), titled(x.text, x.title))][:1]
    # the entity's own words aside, the sentence must still be about the description
    if not stating or (span and not about_description(span, stating[0], value)):
        return Hop("", None, ptoks, ctoks)
    return Hop(value, stating[0], ptoks, ctoks)


__all__ = ["BridgeHop", "Hop", "about_description", "asks_for", "bridge_answer", "description_names", "description_span",
           "first_question", "substitute"]
