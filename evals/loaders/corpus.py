"""Questions written for this repository's own corpora: ``corpora/<name>/questions.jsonl`` with
``{id, question, answers: [[alias, ...], ...], evidence: [{doc_id, quote}], type, wrong_answers?}``."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from evals.loaders._common import read_jsonl
from evals.types import BenchmarkFormatError, Question


def load_corpus_questions(path: Path) -> list[Question]:
    path = Path(path)
    corpus = path.parent.name
    questions: list[Question] = []
    seen: set[str] = set()
    for n, rec in enumerate(read_jsonl(path), 1):
        rec.setdefault("corpus", corpus)
        if isinstance(rec.get("answers"), list) and any(isinstance(a, str) for a in rec["answers"]):
            raise BenchmarkFormatError(
                str(path),
                f'record {n}: \'answers\' must be a list of alias lists, e.g. [["42", "forty-two"]]',
            )
        try:
            question = Question.model_validate(rec)
        except ValidationError as exc:
            raise BenchmarkFormatError(str(path), f"record {n} is not a valid question: {exc}") from exc
        if question.id in seen:
            raise BenchmarkFormatError(str(path), f"record {n}: duplicate question id {question.id!r}")
        seen.add(question.id)
        questions.append(question)
    return questions
