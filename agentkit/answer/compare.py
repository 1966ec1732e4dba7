"""Yes/no comparisons of two named things: "Were Scott Derrickson and Ed Wood of the same nationality?",
"Are Local H and For Against both from the United States?".

Asked whole, the 1.5B model answers "yes" to most of them, and the verifier accepts a "yes" cited to
evidence about only one of the two. So each thing is asked about on its own, over the passages that name
it: its value for a "same / different" question (a nationality, a neighbourhood), which must be copied
from a sentence and is compared as a string; its own yes or no for a "both" question, which the verifier
checks against the cited sentence. The short answer follows from the two by rule. When either thing has
no passage or no answer in it, the question is not answered.
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


def passages_naming(name: str, passages: list[ScoredPassage], limit: int = 2) -> tuple[list[ScoredPassage], bool]:
    """The passages about ``name``: titled with it, else mentioning it; best-ranked first, one per document.
    The flag says whether they are titled with it (else only their sentences naming it are about it)."""
    key = name_text(name)
    titled = [p for p in passages if key in name_text(p.title or "")]
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


def _ask(generator, question: str, sub_question: str, evidence: EvidenceSet, task: str,
         answers: tuple[str, ...] | None) -> tuple[str, int, int]:
    messages = [{"role": "system", "content": GROUNDED_SYSTEM},
                {"role": "user", "content": f"Question: {question}\n\n{evidence.render()}\n\n{task}\n"
                                            f"Question: {sub_question}"}]
    try:
        comp = generator.chat(messages, json_schema=extract_schema(answers=answers), max_tokens=40)
        value = str(json.loads(comp.text).get("answer", "")).strip()
    except (GenerationError, ValueError, AttributeError):
        return "", 0, 0
    return value, comp.prompt_tokens, comp.completion_tokens


def _stance_support(verifier, sub_question: str, stance: str, cited: list[EvidenceSentence]) -> float:
    claim = f'Question: "{sub_question}" The evidence shows that the answer is {stance}.'
    return float(verifier.support([(claim, [s.shown or s.text for s in cited])])[0])


def compare(generator, verifier, question: str, passages: list[ScoredPassage], embed=None,
            threshold: float = 0.55, search=None) -> CompareResult | None:
    """Answer a yes/no comparison side by side; None when ``question`` is not one. ``search``
    (sub-question -> passages): a thing none of ``passages`` names gets its own retrieval."""
    spec = parse_comparison(question)
    if spec is None:
        return None
    t0 = time.perf_counter()
    sides: list[Side] = []
    ptoks = ctoks = 0

    def result(answer: str | None, reason: str = "") -> CompareResult:
        return CompareResult(answer, sides, reason, ptoks, ctoks, time.perf_counter() - t0)

    for name in spec.names:
        sub_q = spec.sub_question(name)
        own, titled = passages_naming(name, passages)
        if not own and search is not None:  # the whole question's ranking can favour the other thing
            own, titled = passages_naming(name, search(sub_q))
        if not own:
            return result(None, f"no passage names {name}")
        ev = build_evidence(sub_q, own, embed=embed, max_sentences=4, max_chars=900, min_per_passage=1)
        if not titled:  # a page about something else: only its sentences naming the thing are about it
            ev = EvidenceSet(passages=ev.passages,
                             sentences=[x for x in ev.sentences if name_text(name) in name_text(x.text)])
            if not ev.sentences:
                return result(None, f"no sentence names {name}")
        if spec.mode == "both":
            task = f'Task: answer the question for {name} alone: "answer" is yes, no, or "none" if the passages do not say.'
            value, p, c = _ask(generator, question, sub_q, ev, task, POLAR_STANCES)
            cited = best_covering(sub_q, ev, max_sentences=1)
        else:
            task = (f'Task: the question compares two things. "answer" is what the passages say about {name} '
                    f'for this comparison (its nationality, place, kind or date, whichever the question asks), '
                    f'copied from the passages, or "none" if they do not say.')
            value, p, c = _ask(generator, question, sub_q, ev, task, None)
            cited = best_covering(f"{name} {value}", ev, max_sentences=1, required=content_words(value))
        ptoks, ctoks = ptoks + p, ctoks + c
        if normalize_answer(value) in NO_ANSWERS or not cited:
            return result(None, f"the passages about {name} do not answer it")
        side = Side(name, value, cited)
        if spec.mode == "both" and verifier is not None:
            side.support = _stance_support(verifier, sub_q, value, cited)
            if side.support < threshold:
                # the model's stance is rejected: the cited sentence may still settle the other one
                other = "no" if normalize_answer(value) == "yes" else "yes"
                if (p_other := _stance_support(verifier, sub_q, other, cited)) < threshold:
                    return result(None, f"the cited evidence does not show that the answer for {name} is {value}")
                side.value, side.support, value = other, p_other, other
        sides.append(side)
        if spec.mode == "both" and normalize_answer(value) == "no":
            return result("no")  # one thing without the property settles "both" (and saves the other call)
    if spec.mode == "both":
        answer = "yes" if all(normalize_answer(s.value) == "yes" for s in sides) else "no"
    else:
        same = same_answer(sides[0].value, sides[1].value)
        answer = "yes" if same == (spec.mode == "same") else "no"
    return result(answer)


__all__ = ["CompareResult", "Comparison", "Side", "compare", "parse_comparison", "passages_naming"]
