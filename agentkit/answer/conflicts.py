"""Conflicting evidence: one short constrained call per document, then cluster and decide.

In the spirit of MADAM-RAG: each source speaks for itself (so one persuasive passage cannot drown
the others), candidate answers are clustered, and the decision is explicit:
- one answer backed by several sources against single dissenters: that answer, dissent reported;
- a tie that metadata can break (a newer date, a higher authority): the favoured answer, and it says why;
- otherwise: status ``conflict`` with every candidate and its citations. Never pick one silently.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass, field

from agentkit.answer.evidence import EvidenceSet
from agentkit.answer.prompts import extract_messages, extract_schema
from agentkit.errors import GenerationError
from agentkit.types import Citation, ConflictCandidate

AUTHORITY_RANK = {"regulator": 6, "official": 5, "peer-reviewed": 5, "audited": 5, "company": 3,
                  "press": 2, "blog": 1, "unknown": 0}
_NONE = {"", "none", "unknown", "not stated", "n/a", "insufficient evidence", "no answer", "not mentioned"}
_ARTICLES = re.compile(r"\b(a|an|the)\b")


_UNITS = {"milligrams": "mg", "milligram": "mg", "grams": "g", "gram": "g", "kilograms": "kg", "kilogram": "kg",
          "micrograms": "mcg", "µg": "mcg", "percent": "%", "per cent": "%", "pct": "%", "millions": "million",
          "billions": "billion", "thousands": "thousand", "usd": "$", "dollars": "$", "dollar": "$"}
_UNIT_RE = re.compile(r"\b(" + "|".join(sorted(map(re.escape, _UNITS), key=len, reverse=True)) + r")\b")


def normalize_answer(text: str) -> str:
    text = _UNIT_RE.sub(lambda m: _UNITS[m.group(1)], text.lower())
    text = re.sub(r"\s*%", " %", text)
    text = "".join(ch for ch in text if ch not in set(string.punctuation) - {".", "%"})
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text)  # keep decimal points only
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def same_answer(a: str, b: str) -> bool:
    na, nb = normalize_answer(a), normalize_answer(b)
    if not na or not nb:
        return False
    if na == nb:
        return True
    nums_a, nums_b = re.findall(r"\d+(?:\.\d+)?", na), re.findall(r"\d+(?:\.\d+)?", nb)
    if (nums_a or nums_b) and sorted(nums_a) != sorted(nums_b):
        return False
    ta, tb = na.split(), nb.split()
    if set(ta) <= set(tb) or set(tb) <= set(ta):
        return True
    common = len(set(ta) & set(tb))
    if common == 0:
        return False
    p, r = common / len(set(ta)), common / len(set(tb))
    return 2 * p * r / (p + r) >= 0.6


@dataclass
class DocAnswer:
    doc_id: str
    answer: str
    citations: list[Citation]
    date: str | None = None
    authority: str | None = None


@dataclass
class Cluster:
    answer: str
    members: list[DocAnswer] = field(default_factory=list)

    @property
    def support(self) -> int:
        return len({m.doc_id for m in self.members})

    @property
    def newest(self) -> str:
        return max((m.date or "" for m in self.members), default="")

    @property
    def authority(self) -> int:
        return max((AUTHORITY_RANK.get((m.authority or "unknown").lower(), 0) for m in self.members), default=0)

    def candidate(self, note: str = "") -> ConflictCandidate:
        cites = [c for m in self.members for c in m.citations]
        return ConflictCandidate(answer=self.answer, citations=cites, support=self.support, note=note)


@dataclass
class ConflictDecision:
    kind: str  # "none" | "majority" | "metadata" | "conflict"
    winner: Cluster | None
    clusters: list[Cluster]
    note: str = ""


_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-Z][\w-]+|\d[\d.,]*)")


def key_terms(question: str) -> set[str]:
    """Names and numbers in the question (not the first word): the entities a source must be about."""
    return {m.lower() for m in _CAPITALISED.findall(question.strip())}


def about_question(question: str, text: str) -> bool:
    """A source that mentions none of the question's names is about something else: its "answer"
    would be a different entity's fact, not a conflicting one."""
    terms = key_terms(question)
    if not terms:
        return True
    low = text.lower()
    return any(t in low for t in terms)


def extract_per_document(generator, question: str, evidence: EvidenceSet, max_docs: int, max_tokens: int = 48):
    """One constrained call per document; returns (answers, prompt_tokens, completion_tokens)."""
    results: list[DocAnswer] = []
    ptoks = ctoks = 0
    for doc_id in evidence.doc_ids()[:max_docs]:
        sub = evidence.for_doc(doc_id)
        if not sub.sentences:
            continue
        passage = evidence.passages[sub.sentences[0].passage_index]
        if not about_question(question, passage.title + " " + " ".join(s.text for s in sub.sentences)):
            continue
        try:
            comp = generator.chat(extract_messages(question, sub.render()), json_schema=extract_schema(sub.ids),
                                  max_tokens=max_tokens)
        except GenerationError:
            continue  # garbage from one document's call costs that document's vote, nothing else
        ptoks += comp.prompt_tokens
        ctoks += comp.completion_tokens
        try:
            data = json.loads(comp.text)
        except ValueError:
            continue  # garbage from one document's call costs that document's vote, nothing else
        answer = str(data.get("answer", "")).strip()
        if normalize_answer(answer) in _NONE:
            continue
        cites = [s.citation() for sid in dict.fromkeys(data.get("cite") or []) if (s := sub.by_id(str(sid)))]
        if not cites:
            cites = [sub.sentences[0].citation()]
        meta = evidence.passages[sub.sentences[0].passage_index].metadata
        results.append(DocAnswer(doc_id, answer, cites, date=_s(meta.get("date")), authority=_s(meta.get("authority"))))
    return results, ptoks, ctoks


def _s(v) -> str | None:
    return None if v is None else str(v)


def cluster_answers(answers: list[DocAnswer]) -> list[Cluster]:
    clusters: list[Cluster] = []
    for a in answers:
        for c in clusters:
            if same_answer(a.answer, c.answer):
                c.members.append(a)
                # the shortest phrasing is the canonical short answer
                if len(normalize_answer(a.answer)) < len(normalize_answer(c.answer)):
                    c.answer = a.answer
                break
        else:
            clusters.append(Cluster(a.answer, [a]))
    return sorted(clusters, key=lambda c: -c.support)


def decide(clusters: list[Cluster]) -> ConflictDecision:
    if len(clusters) <= 1:
        return ConflictDecision("none", clusters[0] if clusters else None, clusters)
    top, second = clusters[0], clusters[1]
    if top.support >= 2 and top.support > second.support and all(c.support == 1 for c in clusters[1:]):
        others = ", ".join(f'"{c.answer}"' for c in clusters[1:])
        return ConflictDecision("majority", top, clusters,
                                f"{top.support} sources agree; a single source says {others}.")
    leaders = [c for c in clusters if c.support == top.support]
    by_date = sorted(leaders, key=lambda c: c.newest, reverse=True)
    if all(c.newest for c in leaders) and by_date[0].newest > by_date[1].newest:
        w = by_date[0]
        return ConflictDecision("metadata", w, clusters,
                                f"Sources disagree; the most recent source ({w.newest}) is preferred.")
    by_auth = sorted(leaders, key=lambda c: c.authority, reverse=True)
    if by_auth[0].authority > by_auth[1].authority:
        w = by_auth[0]
        label = next((m.authority for m in w.members if m.authority), "higher")
        return ConflictDecision("metadata", w, clusters,
                                f"Sources disagree; the more authoritative source ({label}) is preferred.")
    return ConflictDecision("conflict", None, clusters, "Sources disagree and nothing in them settles which is right.")
