"""ConflictQA, StrategyQA variant (OSU-NLP-Group/LLM-Knowledge-Conflict), JSONL with fields
``question, popularity, ground_truth (["True"]/["False"]), memory_answer, parametric_memory, counter_answer,
counter_memory, parametric_memory_aligned_evidence, counter_memory_aligned_evidence``.

Two documents per question: the model's parametric-memory passage and the counter-memory passage, both
LLM-written and arguing opposite answers. ``memory_answer``/``counter_answer`` are declarative claims, not
yes/no, so each document's yes/no stance is derived from negation parity against the question (a claim
"X is not Y" for "Is X Y?" means "no"); it is ``None`` when the claim is not a clear restatement.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from agentkit.types import Document
from evals.loaders._common import read_jsonl, require
from evals.types import Benchmark, BenchmarkFormatError, GoldEvidence, Question

NAME = "conflictqa"
_NEGATION = re.compile(r"\b(?:not|no|never|cannot|none|nor)\b|n't\b", re.IGNORECASE)
_NOTE = re.compile(r"\s*\(note:.*?\)", re.IGNORECASE | re.DOTALL)  # "(Note: This claim is actually false...)"
_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}


def yes_no(value: Any) -> str | None:
    """``True``/``"True"``/``["True"]``/``"yes."`` -> ``"yes"``; false spellings -> ``"no"``; else None."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool):
        return "yes" if value else "no"
    word = str(value).strip().strip(".!").lower()
    if word in _TRUE:
        return "yes"
    if word in _FALSE:
        return "no"
    return None


def claim_stance(claim: str, question: str) -> str | None:
    """yes/no stance of a declarative claim answering a yes/no question (negation parity heuristic)."""
    claim = _NOTE.sub("", claim)
    direct = yes_no(claim)
    if direct is not None:
        return direct
    if len(claim.split()) < 3:
        return None
    flips = len(_NEGATION.findall(claim)) - len(_NEGATION.findall(question))
    return "no" if flips % 2 else "yes"


def load_conflictqa(path: Path, limit: int | None = None) -> Benchmark:
    path = Path(path)
    documents: list[Document] = []
    questions: list[Question] = []
    for n, rec in enumerate(read_jsonl(path, limit)):
        require(
            rec,
            (
                "question",
                "ground_truth",
                "memory_answer",
                "parametric_memory",
                "counter_answer",
                "counter_memory",
            ),
            path,
            f"record {n}",
        )
        gold = yes_no(rec["ground_truth"])
        if gold is None:
            raise BenchmarkFormatError(
                str(path), f"record {n}: ground_truth {rec['ground_truth']!r} is not yes/no"
            )
        wrong = "no" if gold == "yes" else "yes"
        stances = {
            "memory": claim_stance(rec["memory_answer"], rec["question"]),
            "counter": claim_stance(rec["counter_answer"], rec["question"]),
        }
        if stances["memory"] is not None and stances["memory"] == stances["counter"]:
            stances = {"memory": None, "counter": None}  # the two sides must disagree; the heuristic failed
        evidence: list[GoldEvidence] = []
        doc_ids: list[str] = []
        for role, text_key, claim_key in (
            ("memory", "parametric_memory", "memory_answer"),
            ("counter", "counter_memory", "counter_answer"),
        ):
            stance = stances[role]
            doc = Document(
                id=f"{NAME}/{n}/{role}",
                source=f"{path}#{n}",
                text=rec[text_key],
                corpus=NAME,
                metadata={
                    "stance": role,
                    "claim": rec[claim_key],
                    "answer": stance,
                    "agrees_with_gold": None if stance is None else stance == gold,
                    "format": NAME,
                },
            )
            documents.append(doc)
            doc_ids.append(doc.id)
            if stance == gold:
                evidence.append(GoldEvidence(doc_id=doc.id))
        questions.append(
            Question(
                id=f"{NAME}-{n}",
                question=rec["question"],
                type="conflicting",
                answers=[[gold]],
                wrong_answers=[wrong],
                evidence=evidence,
                corpus=NAME,
                doc_ids=doc_ids,
                metadata={
                    "popularity": rec.get("popularity"),
                    "memory_answer": rec["memory_answer"],
                    "counter_answer": rec["counter_answer"],
                    # the counter-memory passage is a counterfactual one: a report should cite both sides
                    "counterfactual": stances["memory"] is not None and stances["counter"] is not None,
                    "memory_stance": stances["memory"],
                    "counter_stance": stances["counter"],
                    "parametric_memory_aligned_evidence": rec.get("parametric_memory_aligned_evidence", ""),
                    "counter_memory_aligned_evidence": rec.get("counter_memory_aligned_evidence", ""),
                },
            )
        )
    return Benchmark(name=NAME, documents=documents, questions=questions)
