"""Counterfactual conflicts built from any benchmark with gold evidence (HotpotQA in practice).

For each question, the gold document that states the answer gets two tampered copies in which every
occurrence of the answer is swapped for another question's answer of the same kind (a name for a name,
a number for a number). The index then holds the true document and two copies that agree with each other
and with it, except for the swapped answer. A good answer reports the conflict with both candidates cited
and never presents the planted answer alone (``wrong_answers``).

The copies are not independent sources: the second is an excerpt of the first, as mirrored or quoted
pages are. Counting them as two votes against one is exactly the mistake this test exposes.
"""

from __future__ import annotations

import re

from agentkit.ingest.chunking import split_sentences
from agentkit.types import Document
from evals.metrics.answer import normalize_answer
from evals.types import Benchmark, Question

COPIES = 2


def answer_kind(answer: str) -> str | None:
    """'number', 'name' or 'phrase'; None for yes/no and empty answers (nothing to swap in a text)."""
    norm = normalize_answer(answer)
    if not norm or norm in {"yes", "no"}:
        return None
    if re.search(r"\d", answer):
        return "number"
    return "name" if answer[:1].isupper() else "phrase"


def _pattern(answer: str) -> re.Pattern:
    return re.compile(rf"(?<![\w]){re.escape(answer)}(?![\w])")


def _substitute(question: Question, pool: list[Question], text: str) -> str | None:
    """The first other answer of the same kind that shares no word with the gold one and is not in the text."""
    gold = question.answers[0][0]
    kind = answer_kind(gold)
    gold_words = set(normalize_answer(gold).split())
    start = next((i for i, q in enumerate(pool) if q.id == question.id), 0)
    for other in pool[start + 1:] + pool[:start]:
        if not other.answers:
            continue
        cand = other.answers[0][0]
        if (answer_kind(cand) == kind and not gold_words & set(normalize_answer(cand).split())
                and cand.lower() not in text.lower()):
            return cand
    return None


def _excerpt(text: str, answer: str) -> str:
    """The copy as quoted elsewhere: without one sentence that does not carry the answer."""
    spans = split_sentences(text)
    if len(spans) < 2:
        return text
    for s, e in (spans[0], spans[-1]):
        if answer not in text[s:e]:
            return (text[:s] + text[e:]).strip()
    return text


def with_counterfactuals(bench: Benchmark) -> Benchmark:
    """The benchmark plus two tampered copies of each question's answer-bearing gold document. Questions
    with no such document (yes/no answers, answers not verbatim in a gold document) are dropped."""
    docs = bench.document_map()
    added: list[Document] = []
    questions: list[Question] = []
    for q in bench.questions:
        if not q.answers or answer_kind(q.answers[0][0]) is None:
            continue
        gold = q.answers[0][0]
        source = next((docs[e.doc_id] for e in q.evidence
                       if e.doc_id in docs and _pattern(gold).search(docs[e.doc_id].text)), None)
        if source is None:
            continue
        swap = _substitute(q, bench.questions, source.text)
        if swap is None:
            continue
        tampered = _pattern(gold).sub(swap, source.text)
        texts = [tampered, _excerpt(tampered, swap)]
        copies = [Document(id=f"{source.id}#counterfactual{i + 1}", source=f"{source.source}#counterfactual{i + 1}",
                           title=source.title, text=text, corpus=source.corpus,
                           metadata={"format": "counterfactual", "tampered_from": source.id})
                  for i, text in enumerate(texts[:COPIES])]
        added.extend(copies)
        questions.append(q.model_copy(update={
            "wrong_answers": [swap],
            "doc_ids": q.doc_ids + [c.id for c in copies] if q.doc_ids else [],
            "metadata": {**q.metadata, "counterfactual": {"source": source.id, "planted": swap,
                                                          "copies": [c.id for c in copies]}},
        }))
    return Benchmark(name=bench.name, documents=bench.documents + added, questions=questions)
