"""Arithmetic answers over tables and text (changes, percentages, averages, ratios).

A small model asked for the number itself guesses; asked for the expression, it mostly picks the right
cells. So the model writes only the expression, over numbers it copies from the evidence (a grammar
admits nothing but numbers, operators and parentheses), and the safe calculator computes it. Every
number must occur in a shown sentence or table row, which becomes a citation; the unit comes from the
question (a percentage) or from the document's own statement of its unit ("in millions"), not from the
model. The result is a draft verified by construction (``grounded.verify_calculation``): an LLM verifier
cannot judge arithmetic, so the checks here (numbers from the evidence, a cited row about the question)
take its place.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass

from agentkit.answer.evidence import EvidenceSet, content_words
from agentkit.answer.prompts import GROUNDED_SYSTEM
from agentkit.errors import GenerationError
from agentkit.tools.calculator import ToolError, evaluate, format_number

ARITHMETIC_QUESTION = re.compile(
    r"\b(change|changes|difference|increase|decrease|average|mean|percentage|ratio|proportion|growth|"
    r"how much (?:more|less|higher|lower|bigger|smaller))\b", re.IGNORECASE)
PERCENT_QUESTION = re.compile(r"\b(percentage|percent)\b|%", re.IGNORECASE)
RATIO_QUESTION = re.compile(r"\b(ratio|proportion|times)\b", re.IGNORECASE)  # like over like: no unit
# Constants an expression may use without citing them: averages over a few items, percentages, units.
CONSTANTS = {"1", "2", "3", "4", "5", "6", "12", "100", "1000"}
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_EXPR_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# How a document states the unit of its figures, most explicit first.
_UNITS = (
    (re.compile(r"\bin\s+(thousands|millions|billions)\b", re.IGNORECASE), None),
    (re.compile(r"\$\s*['’]?000s?\b|['’]000\b"), "thousand"),
    (re.compile(r"(?:\b[A-Z]{3}|[$€£])\s?(thousand|million|billion)s?\b"), None),
    (re.compile(r"[$€£]\s?(m|bn|k)\b"), None),
)
_UNIT_WORD = {"thousands": "thousand", "millions": "million", "billions": "billion", "m": "million",
              "bn": "billion", "k": "thousand", "thousand": "thousand", "million": "million", "billion": "billion"}
_AVERAGE_QUESTION = re.compile(r"\b(average|mean)\b", re.IGNORECASE)
_BARE_AVERAGE = re.compile(r"^\d+(?:\.\d+)?(?:\s*\+\s*\d+(?:\.\d+)?)+\s*/\s*\d+$")

CALC_TASK = (
    'Task: write the arithmetic that answers the question, using only numbers copied from the evidence. '
    '"cite": the ids of the sentences or table rows that hold those numbers; "expression": those numbers '
    'with + - * / and parentheses. A change from an earlier to a later value is later minus earlier: for '
    'values 56.7 (2018) and 44.1 (2019), the change in 2019 from 2018 is 44.1 - 56.7 and the percentage '
    'change is (44.1 - 56.7) / 56.7 * 100; the average of 3.2 and 4.1 is (3.2 + 4.1) / 2.'
)


def is_arithmetic(question: str) -> bool:
    return bool(ARITHMETIC_QUESTION.search(question))


def calc_schema(ids: list[str], max_chars: int = 80) -> dict:
    return {
        "type": "object",
        "properties": {
            "cite": {"type": "array", "minItems": 1, "maxItems": 4, "items": {"type": "string", "enum": ids}},
            "expression": {"type": "string", "pattern": f"^[0-9.()+*/ -]{{1,{max_chars}}}$"},
        },
        "required": ["cite", "expression"],
    }


def calc_messages(question: str, evidence_block: str) -> list[dict]:
    # Same system message and question-first layout as the answer call: the prefix KV cache is shared.
    return [{"role": "system", "content": GROUNDED_SYSTEM},
            {"role": "user", "content": f"Question: {question}\n\n{evidence_block}\n\n{CALC_TASK}\nQuestion: {question}"}]


def _numbers(text: str) -> set[str]:
    return {_canonical(m.group()) for m in _NUMBER.finditer(text)}


def _canonical(number: str) -> str:
    value = number.replace(",", "")
    return value.rstrip("0").rstrip(".") if "." in value else value


_YEAR = re.compile(r"\b(?:19|20)\d{2}\b")
_CHANGE_QUESTION = re.compile(r"\b(change|increase|decrease|growth)\b", re.IGNORECASE)
_NUM = f"({_EXPR_NUMBER.pattern})"
_SIMPLE_CHANGE = re.compile(rf"^\(*\s*{_NUM}\s*-\s*{_NUM}\s*\)*(?:\s*/\s*{_NUM}\s*\)*\s*\*\s*100)?$")


def column_years(evidence: EvidenceSet, sentence_ids: list[str]) -> dict[str, int | None]:
    """Number -> the year of its column, read from the cited rows as shown with their headers; None where
    one number sits under two different years."""
    years: dict[str, int | None] = {}
    for sid in sentence_ids:
        s = evidence.by_id(sid)
        if s is None or not s.shown or ": " not in s.shown:
            continue
        for cell in s.shown.split(": ", 1)[1].split("; "):
            label, _, value = cell.rpartition(" = ")
            found = _YEAR.findall(label)
            for num in _numbers(value):
                year = int(found[-1]) if len(set(found)) == 1 else None
                years[num] = year if years.get(num, year) == year else None
    return years


def _about(sentence, question: str) -> bool:
    """A cited row is about the question when its label (or a cited sentence when its words) share a
    non-numeric word with the question: "Other" for "the change in Other". The LLM answer check is not
    asked instead: it cannot judge arithmetic, and rejected right calculations in testing."""
    label = sentence.shown.split(": ", 1)[0] if sentence.shown else sentence.text
    return any(not w.isdigit() for w in content_words(label) & content_words(question))


def later_minus_earlier(expression: str, question: str, evidence: EvidenceSet, cite: list[str]) -> str:
    """A change is the later value minus the earlier one, and a percentage change is over the earlier one.
    Small models often subtract the other way round; where the cited row's column headers date both
    operands, the expression is put the right way round."""
    m = _SIMPLE_CHANGE.match(expression)
    if not m or not _CHANGE_QUESTION.search(question):
        return expression
    a, b, base = m.group(1), m.group(2), m.group(3)
    years = column_years(evidence, cite)
    ya, yb = years.get(_canonical(a)), years.get(_canonical(b))
    if ya is None or yb is None or ya >= yb or (base is not None and _canonical(base) not in (_canonical(a), _canonical(b))):
        return expression
    return f"({b} - {a}) / {a} * 100" if base is not None else f"{b} - {a}"


def document_unit(evidence: EvidenceSet, sentence_ids: list[str]) -> str:
    """The unit a cited passage declares for its figures ("in millions", "$'000", "GBP million"), or "".
    The cited row's own passage first, then the document's other retrieved passages."""
    cited = [s for s in (evidence.by_id(i) for i in sentence_ids) if s is not None]
    order = [s.passage_index for s in cited]
    order += [i for i, p in enumerate(evidence.passages)
              if i not in order and p.chunk.doc_id in {s.doc_id for s in cited}]
    for pattern, fixed in _UNITS:
        for i in order:
            m = pattern.search(evidence.passages[i].chunk.text)
            if m:
                return fixed or _UNIT_WORD[m.group(1).lower()]
    return ""


def format_result(value: float) -> str:
    """Two decimals at most, no float noise: -12.600000000000001 -> "-12.6", 22.2222 -> "22.22"."""
    return format_number(round(value, 2))


@dataclass
class Calculation:
    """What the calculate stage produced: the expression, its value, the answer with its unit, and the ids
    of the evidence sentences holding its numbers."""

    expression: str
    value: float
    answer: str
    cite: list[str]

    @property
    def computation(self) -> str:
        return f"calculator({self.expression}) = {format_result(self.value)}"

    @property
    def sentence(self) -> str:
        return f"From the cited figures, {self.expression} = {self.answer}."


def calculate(generator, question: str, evidence: EvidenceSet, max_tokens: int = 96):
    """(Calculation or None, reason, completion stats). None when the model's expression is unusable:
    unparsable, a single number, a number not in the evidence, no cited row about the question, or a
    calculator error."""
    t0 = time.perf_counter()
    stats = {"prompt_tokens": 0, "completion_tokens": 0, "seconds": 0.0}
    try:
        comp = generator.chat(calc_messages(question, evidence.render()), json_schema=calc_schema(evidence.ids),
                              max_tokens=max_tokens)
    except GenerationError as exc:
        stats["seconds"] = time.perf_counter() - t0
        return None, f"model error: {exc}", stats
    stats.update(prompt_tokens=comp.prompt_tokens, completion_tokens=comp.completion_tokens,
                 seconds=time.perf_counter() - t0)
    try:
        data = json.loads(comp.text)
        expression = " ".join(str(data["expression"]).split())
        cite = [str(c) for c in dict.fromkeys(data.get("cite") or []) if evidence.by_id(str(c)) is not None]
    except (ValueError, KeyError, TypeError):
        return None, "unparsable expression", stats
    if len(_EXPR_NUMBER.findall(expression)) < 2 or not re.search(r"\d\s*\)*\s*[-+*/]", expression):
        # one number is a lookup, not a calculation (a "change" question may be about words): answer normally
        return None, "not a calculation over two or more numbers", stats
    # every number must be in the evidence; one found outside the cited sentences adds its sentence
    cited_numbers = set().union(*(_numbers(evidence.by_id(c).text) for c in cite)) if cite else set()
    for num in (_canonical(n) for n in _EXPR_NUMBER.findall(expression)):
        if num in cited_numbers or num in CONSTANTS:
            continue
        holder = next((s for s in evidence.sentences if num in _numbers(s.text)), None)
        if holder is None:
            return None, f"{num} is not in the evidence", stats
        cite.append(holder.id)
        cited_numbers |= _numbers(holder.text)
    if not cite:
        return None, "no evidence cited", stats
    if not any(_about(evidence.by_id(c), question) for c in cite):
        return None, "no cited row or sentence is about the question", stats
    expression = later_minus_earlier(expression, question, evidence, cite)
    if _AVERAGE_QUESTION.search(question) and _BARE_AVERAGE.match(expression):
        # "166 + 178 / 2" asked for an average means (166 + 178) / 2: a precedence slip, not a formula
        total, _, count = expression.rpartition("/")
        expression = f"({total.strip()}) / {count.strip()}"
    try:
        value = float(evaluate(expression))
    except (ToolError, ZeroDivisionError, OverflowError) as exc:
        return None, f"calculator: {exc}", stats
    if PERCENT_QUESTION.search(question):
        answer = f"{format_result(value)}%"
    elif RATIO_QUESTION.search(question):
        answer = format_result(value)
    else:
        answer = f"{format_result(value)} {document_unit(evidence, cite)}".strip()
    return Calculation(expression, value, answer, cite), "", stats
