"""Comparisons of two named things, each asked about on its own evidence.

Yes/no comparisons: "Were Scott Derrickson and Ed Wood of the same nationality?", "Are Local H and For
Against both from the United States?". Date choices: "Who is older, Annie Morton or Terry Richardson?",
"Which magazine was started first, A or B?".

Asked whole, the 1.5B model answers "yes" to most of them, and the verifier accepts a "yes" cited to
evidence about only one of the two. So each thing is asked about on its own, over the passages that name
it: its value for a "same / different" question (a nationality, a neighbourhood), which must be copied
from a sentence and is compared as a string; its own yes or no for a "both" question, which the verifier
checks against the cited sentence. For a date choice, each thing's date (copied from a sentence that the
verifier accepts as its birth / founding / release) and the earlier or later one is named. The short
answer follows from the two by rule. When either thing has no passage or no answer in it, the question is
not answered.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Literal

from agentkit.answer.conflicts import NO_ANSWERS, name_text, normalize_answer, same_answer
from agentkit.answer.evidence import (
    EvidenceSentence,
    EvidenceSet,
    best_covering,
    build_evidence,
    content_words,
)
from agentkit.answer.prompts import GROUNDED_SYSTEM, POLAR_STANCES, extract_schema, is_polar
from agentkit.errors import GenerationError
from agentkit.retrieve.links import bare_title
from agentkit.types import ScoredPassage

# lower-case words that may sit inside a name ("In the Realm of the Hackers", "Gerald R. Ford")
_CONNECTORS = frozenset({"of", "the", "de", "la", "le", "von", "van", "der", "del", "da", "du", "and", "&"})
_SINGULAR = {"are": "Is", "were": "Was", "do": "Does", "have": "Has"}


@dataclass(frozen=True)
class Comparison:
    names: tuple[str, str]
    rest: str  # what the question asks of each: "of the same nationality", "both from the United States"
    aux: str  # the opening verb, singular: "Was", "Is", "Does"
    mode: Literal["same", "different", "both"]

    def sub_question(self, name: str) -> str:
        """The question about one of the two: "Is Local H from the United States?", and for a same /
        different question the value it compares: "Was Scott Derrickson of which nationality?"."""
        rest = re.sub(r"\bboth\s+", "", self.rest)
        rest = re.sub(r"\b(?:the\s+)?(?:same|different)\b", "which", rest).strip()
        return f"{self.aux} {name} {rest}?"


def _is_name_word(word: str) -> bool:
    return bool(word) and (word[0].isupper() or word[0].isdigit())


def _span(words: list[str], start: int, step: int, stop: int) -> int:
    """Index one past the name that starts at ``start`` and runs in direction ``step`` (towards ``stop``).
    Connector words belong to the name only when a capitalised word follows them in that direction."""
    i = start
    end = start
    while i != stop and 0 <= i < len(words):
        w = words[i].strip(",")
        if _is_name_word(w):
            end = i + step
        elif w.lower() not in _CONNECTORS:
            break
        i += step
    return end


def parse_comparison(question: str) -> Comparison | None:
    """The two names and the rest of a yes/no comparison, or None when the question is not one."""
    q = question.strip().rstrip("?").strip()
    if not is_polar(q):
        return None
    words = q.split()
    for k, w in enumerate(words):
        if w.lower() != "and" or k < 2 or k + 1 >= len(words):
            continue
        if not (_is_name_word(words[k - 1].strip(",")) and _is_name_word(words[k + 1])):
            continue
        a_start = _span(words, k - 1, -1, 0) + 1  # never the opening verb
        b_end = _span(words, k + 1, 1, len(words))
        a = " ".join(words[a_start:k]).strip(", ")
        b = " ".join(words[k + 1:b_end]).strip(", ")
        rest = " ".join(words[b_end:])
        if not a or not b or not rest:
            return None
        low = rest.lower()
        mode = "different" if re.search(r"\bdifferent\b", low) else "same" if re.search(r"\bsame\b", low) else "both"
        aux = _SINGULAR.get(words[0].lower(), words[0].capitalize())
        return Comparison(names=(a, b), rest=rest, aux=aux, mode=mode)
    return None


_EARLIER = r"older|oldest|first|earlier|earliest"
_LATER = r"younger|youngest|newer|newest|later|latest|more recent(?:ly)?|most recent(?:ly)?"
_ORDER = re.compile(rf"\b(?:(?P<earlier>{_EARLIER})|(?P<later>{_LATER}))\b", re.IGNORECASE)
# ordinal-like words order only at the end of the question's head: "was started first", not "the first president"
_ORDINAL = re.compile(r"^(?:first|earliest|latest|oldest|youngest|newest|most recent)", re.IGNORECASE)
_TWO = re.compile(r"^(?P<a>.+?)\s+or\s+(?P<b>.+)$")
# "Is A or B older?"
_HEAD_LAST = re.compile(r"^(?:is|was|are|were)\s+(?P<a>.+?)\s+or\s+(?P<b>.+?)\s+(?P<head>(?:more\s+)?\S+)$",
                        re.IGNORECASE)
# the participle the question orders by: "was started first" -> "started"; "came out first" -> released
_EVENT = re.compile(r"\b(?:was|were|is|are|got|been)\s+(?P<verb>[a-z]+(?:ed|en)|born|built|made|begun|held|set up|"
                    r"founded|formed)\b", re.IGNORECASE)


def _split_choice(q: str) -> tuple[str, str, str] | None:
    """(head, A, B) of "<head>, A or B" / "<head> A or B" (head ending in the order word) / "Is A or B <order>"."""
    if "," in q or ":" in q:
        cut = max(q.rfind(","), q.rfind(":"))
        head, tail = q[:cut], q[cut + 1:].strip()
    else:
        last = None
        for last in _ORDER.finditer(q):
            pass
        if last is None:
            return None
        head, tail = q[:last.end()], q[last.end():].strip()
    if (m := _TWO.match(tail)) is not None and (o := _ORDER.search(head)) is not None and \
            (not _ORDINAL.match(o.group(0)) or not head[o.end():].strip()):
        return head, m.group("a"), m.group("b")
    if (m := _HEAD_LAST.match(q)) is not None and _ORDER.fullmatch(m.group("head")):
        return m.group("head"), m.group("a"), m.group("b")
    return None


@dataclass(frozen=True)
class DateChoice:
    """"Who is older, A or B?": the thing with the earlier (or later) date of ``event`` is the answer."""

    names: tuple[str, str]
    earlier: bool
    event: str  # "born", "started", "founded or first released"

    def sub_question(self, name: str) -> str:
        return f"When was {name} {self.event}?"


def parse_date_choice(question: str) -> DateChoice | None:
    """The two names and the order of a "which is older / first" question, or None when it is not one."""
    q = " ".join(question.strip().rstrip("?").split())
    parts = _split_choice(q)
    if parts is None:
        return None
    head, a, b = (x.strip(" \"'“”") for x in parts)
    order = _ORDER.search(head)
    if order is None or not a or not b or " or " in b or not (_is_name_word(a) and _is_name_word(b)):
        return None
    event = _EVENT.search(head)
    if event is not None:
        verb = event.group("verb").lower()
    elif re.search(r"\bcame out\b|\breleased\b", head, re.IGNORECASE):
        verb = "released"
    elif re.match(r"who\b", q, re.IGNORECASE):
        verb = "born"
    else:  # "Is A or B older?": a person or a thing
        verb = "born, founded or first released"
    return DateChoice(names=(a, b), earlier=order.group("earlier") is not None, event=verb)


_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})\b")
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december")
_DAY_MONTH = re.compile(r"\b(?:(\d{1,2})\s+(" + "|".join(_MONTHS) + r")|(" + "|".join(_MONTHS) + r")\s+(\d{1,2})\b)",
                        re.IGNORECASE)


def date_key(value: str) -> tuple[int, int, int] | None:
    """(year, month, day) of a date written in a passage; month and day 0 when not given. None: no year."""
    years = _YEAR.findall(value)
    if not years:
        return None
    month = day = 0
    if (m := _DAY_MONTH.search(value)) is not None:
        if m.group(2):
            day, month = int(m.group(1)), _MONTHS.index(m.group(2).lower()) + 1
        else:
            month, day = _MONTHS.index(m.group(3).lower()) + 1, int(m.group(4))
    return int(years[0]), month, day


def _titled_alone(p: ScoredPassage, name: str) -> bool:
    return name_text(p.title or "") == name_text(name)


def passages_naming(name: str, passages: list[ScoredPassage], limit: int = 2) -> tuple[list[ScoredPassage], bool]:
    """The passages about ``name``: titled with it, else mentioning it; best-ranked first, one per document.
    The flag says whether they are titled with it (else only their sentences naming it are about it).
    A page titled with the name alone comes first, and where there is one, pages whose title adds a
    qualifier are left out: they are about another subject ("Ed Wood (film)" is about a film: its
    "American" is the film's, not the director's); titles that only contain the name ("Ed Wood
    filmography") come last."""
    key = name_text(name)

    def closeness(p: ScoredPassage) -> int:
        return 0 if _titled_alone(p, name) else 1 if name_text(bare_title(p.title or "")) == key else 2

    titled = sorted((p for p in passages if key in name_text(p.title or "")), key=closeness)
    if titled and closeness(titled[0]) == 0:  # its own page is here: pages of other subjects are not about it
        titled = [p for p in titled if closeness(p) != 1]
    chosen = titled or [p for p in passages if key in name_text(p.chunk.text)]
    out: dict[str, ScoredPassage] = {}
    for p in chosen:
        out.setdefault(p.chunk.doc_id, p)
    return list(out.values())[:limit], bool(titled)


@dataclass
class Side:
    name: str
    value: str  # the thing's own answer: its value, or yes / no
    cited: list[EvidenceSentence]
    support: float = 1.0


@dataclass
class CompareResult:
    answer: str | None  # "yes" / "no", or None when a side has no answer in its own evidence
    sides: list[Side]
    reason: str  # why there is no answer, for the trace
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0


def ask_on_evidence(generator, question: str, sub_question: str, evidence: EvidenceSet, task: str,
                    answers: tuple[str, ...] | None) -> tuple[str, int, int]:
    """One short constrained call: the ``answer`` field for ``sub_question`` over ``evidence``; ("", 0, 0)
    when the model's output is unusable."""
    # without the documents' metadata: the model copied a page's date="2023-06-01" as a founding date
    messages = [{"role": "system", "content": GROUNDED_SYSTEM},
                {"role": "user", "content": f"Question: {question}\n\n{evidence.render(with_metadata=False)}\n\n{task}\n"
                                            f"Question: {sub_question}"}]
    try:
        comp = generator.chat(messages, json_schema=extract_schema(answers=answers), max_tokens=40)
        value = str(json.loads(comp.text).get("answer", "")).strip()
    except (GenerationError, ValueError, AttributeError):
        return "", 0, 0
    return value, comp.prompt_tokens, comp.completion_tokens


def _stance_support(verifier, sub_question: str, stance: str, cited: list[EvidenceSentence]) -> float:
    claim = f'Question: "{sub_question}" The evidence shows that the answer is {stance}.'
    return float(verifier.support([(claim, [s.premise() for s in cited])])[0])


def _own_evidence(name: str, sub_q: str, passages: list[ScoredPassage], embed, search) -> EvidenceSet | str:
    """The sentences about ``name`` (its own pages first, its own search when none names it), or why none."""
    own, titled = passages_naming(name, passages)
    if search is not None and (not own or not _titled_alone(own[0], name)):
        # the whole question's ranking can favour the other thing, or a page about another subject of the
        # name ("Ed Wood (film)" ranked, "Ed Wood" not): its own search may find its own page
        found, found_titled = passages_naming(name, search(sub_q))
        if not own or (found and _titled_alone(found[0], name)):
            own, titled = found, found_titled
    if not own:
        return f"no passage names {name}"
    ev = build_evidence(sub_q, own, embed=embed, max_sentences=4, max_chars=900, min_per_passage=1)
    if not titled:  # a page about something else: only its sentences naming the thing are about it
        ev = EvidenceSet(passages=ev.passages,
                         sentences=[x for x in ev.sentences if name_text(name) in name_text(x.text)])
        if not ev.sentences:
            return f"no sentence names {name}"
    return ev


def compare(generator, verifier, question: str, passages: list[ScoredPassage], embed=None,
            threshold: float = 0.55, search=None) -> CompareResult | None:
    """Answer a comparison of two names side by side; None when ``question`` is not one. ``search``
    (sub-question -> passages): a thing none of ``passages`` names gets its own retrieval."""
    spec = parse_comparison(question)
    choice = parse_date_choice(question) if spec is None else None
    if spec is None and choice is None:
        return None
    kind = spec or choice
    t0 = time.perf_counter()
    sides: list[Side] = []
    ptoks = ctoks = 0

    def result(answer: str | None, reason: str = "") -> CompareResult:
        return CompareResult(answer, sides, reason, ptoks, ctoks, time.perf_counter() - t0)

    for name in kind.names:
        sub_q = kind.sub_question(name)
        ev = _own_evidence(name, sub_q, passages, embed, search)
        if isinstance(ev, str):
            return result(None, ev)
        if spec is not None:
            side, why, p, c = _yes_no_side(generator, verifier, question, spec, name, sub_q, ev, threshold)
        else:
            side, why, p, c = _dated_side(generator, verifier, question, choice, name, sub_q, ev, threshold)
        ptoks, ctoks = ptoks + p, ctoks + c
        if side is None:
            return result(None, why)
        sides.append(side)
        if spec is not None and spec.mode == "both" and normalize_answer(side.value) == "no":
            return result("no")  # one thing without the property settles "both" (and saves the other call)
    if choice is not None:
        return result(*_earlier_or_later(choice, sides))
    if spec.mode == "both":
        return result("yes" if all(normalize_answer(s.value) == "yes" for s in sides) else "no")
    same = same_answer(sides[0].value, sides[1].value)
    return result("yes" if same == (spec.mode == "same") else "no")


SideResult = tuple[Side | None, str, int, int]  # the side or why there is none; prompt and completion tokens


def _yes_no_side(generator, verifier, question: str, spec: Comparison, name: str, sub_q: str, ev: EvidenceSet,
                 threshold: float) -> SideResult:
    if spec.mode == "both":
        task = f'Task: answer the question for {name} alone: "answer" is yes, no, or "none" if the passages do not say.'
        value, p, c = ask_on_evidence(generator, question, sub_q, ev, task, POLAR_STANCES)
        cited = best_covering(sub_q, ev, max_sentences=1)
    else:
        task = (f'Task: the question compares two things. "answer" is what the passages say about {name} '
                f'for this comparison (its nationality, place, kind or date, whichever the question asks), '
                f'copied from the passages, or "none" if they do not say.')
        value, p, c = ask_on_evidence(generator, question, sub_q, ev, task, None)
        cited = best_covering(f"{name} {value}", ev, max_sentences=1, required=content_words(value))
    if normalize_answer(value) in NO_ANSWERS or not cited:
        return None, f"the passages about {name} do not answer it", p, c
    side = Side(name, value, cited)
    if spec.mode == "both" and verifier is not None:
        side.support = _stance_support(verifier, sub_q, value, cited)
        if side.support < threshold:
            # the model's stance is rejected: the cited sentence may still settle the other one
            other = "no" if normalize_answer(value) == "yes" else "yes"
            if (p_other := _stance_support(verifier, sub_q, other, cited)) < threshold:
                return None, f"the cited evidence does not show that the answer for {name} is {value}", p, c
            side.value, side.support = other, p_other
    return side, "", p, c


def _dated_side(generator, verifier, question: str, choice: DateChoice, name: str, sub_q: str, ev: EvidenceSet,
                threshold: float, max_checks: int = 3) -> SideResult:
    """The model's date for ``name`` if a sentence states it and the verifier accepts it, else the other
    years of the sentence nearest the sub-question ("(1928 – 1999)" when the model copied a later year from
    the page), at most ``max_checks`` verifier calls."""
    task = (f'Task: "answer" is the date when {name} was {choice.event} (a year or a full date), copied from '
            f'the passages, or "none" if they do not say.')
    value, p, c = ask_on_evidence(generator, question, sub_q, ev, task, None)
    nearest = best_covering(sub_q, ev, max_sentences=1)
    years = [str(k[0])] if (k := date_key(value)) else []
    years += [y for s in nearest for y in _YEAR.findall(s.text)]
    why = f"the passages about {name} give no date"
    for year in list(dict.fromkeys(years))[:max_checks]:
        shown = value if years and year == years[0] and date_key(value) else year
        cited = best_covering(f"{name} {shown}", ev, max_sentences=1, required={year})
        if not cited:
            why = f"no sentence about {name} states {shown}"
            continue
        side = Side(name, shown, cited)
        if verifier is not None:
            claim = f"{name} was {choice.event} in {year}."
            side.support = float(verifier.support([(claim, [s.premise() for s in cited])])[0])
            if side.support < threshold:
                why = f"the cited evidence does not show that {claim}"
                continue
        return side, "", p, c
    return None, why, p, c


def _earlier_or_later(choice: DateChoice, sides: list[Side]) -> tuple[str | None, str]:
    """The answer of a date choice, or (None, why) when the two dates cannot be ordered (same year, no day)."""
    (ya, ma, da), (yb, mb, db) = keys = [date_key(s.value) for s in sides]
    if ya == yb and (0 in (ma, mb) or (ma, da) == (mb, db) or 0 in (da, db) and ma == mb):
        return None, "the two dates cannot be ordered"
    first = 0 if keys[0] < keys[1] else 1
    return choice.names[first if choice.earlier else 1 - first], ""


__all__ = ["CompareResult", "Comparison", "DateChoice", "Side", "ask_on_evidence", "compare", "date_key",
           "parse_comparison", "parse_date_choice", "passages_naming"]
