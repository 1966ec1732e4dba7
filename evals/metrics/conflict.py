"""Conflict handling on RAMDocs-style questions (several valid answers plus planted misinformation).

RAMDocs exact match: the prediction names every gold answer and no wrong answer. "Naming" is normalised
containment on whole tokens (HotpotQA normalisation), so "Broken Bow had 3,559 people" names "3,559 people".
"""

from __future__ import annotations

from collections.abc import Sequence

from evals.metrics.answer import normalize_answer

Aliases = str | Sequence[str]


def _text(prediction: str | Sequence[str]) -> str:
    return prediction if isinstance(prediction, str) else "\n".join(prediction)


def names(prediction: str | Sequence[str], answer: Aliases) -> bool:
    """True when some alias of ``answer`` occurs in the prediction as whole normalised tokens."""
    haystack = f" {normalize_answer(_text(prediction))} "
    aliases = [answer] if isinstance(answer, str) else list(answer)
    return any((needle := normalize_answer(a)) and f" {needle} " in haystack for a in aliases)


def ramdocs_exact_match(
    prediction: str | Sequence[str], gold_answers: Sequence[Aliases], wrong_answers: Sequence[str]
) -> bool:
    """Every gold answer named and no wrong answer named (RAMDocs / MADAM-RAG criterion)."""
    return all(names(prediction, g) for g in gold_answers) and not any(
        names(prediction, w) for w in wrong_answers
    )


def misinformation_as_sole_answer(
    prediction: str | Sequence[str], gold_answers: Sequence[Aliases], wrong_answers: Sequence[str]
) -> bool:
    """The prediction names a wrong (misinformation) answer and none of the gold answers."""
    return any(names(prediction, w) for w in wrong_answers) and not any(
        names(prediction, g) for g in gold_answers
    )


def conflict_scores(
    predictions: Sequence[str | Sequence[str]],
    gold_answers: Sequence[Sequence[Aliases]],
    wrong_answers: Sequence[Sequence[str]],
) -> dict[str, float | None]:
    """Means over questions: RAMDocs EM, gold-answer recall and the misinformation-as-sole-answer rate."""
    if not (len(predictions) == len(gold_answers) == len(wrong_answers)):
        raise ValueError("predictions, gold_answers and wrong_answers must have the same length")
    if not predictions:
        return {"em": None, "gold_recall": None, "misinfo_sole_rate": None}
    rows = list(zip(predictions, gold_answers, wrong_answers, strict=True))
    n = len(rows)
    recall = [sum(names(p, g) for g in gold) / len(gold) for p, gold, _ in rows if gold]
    return {
        "em": sum(ramdocs_exact_match(p, g, w) for p, g, w in rows) / n,
        "gold_recall": sum(recall) / len(recall) if recall else None,
        "misinfo_sole_rate": sum(misinformation_as_sole_answer(p, g, w) for p, g, w in rows) / n,
    }


def conflict_handled(
    prediction: str | Sequence[str], gold_answers: Sequence[Aliases], wrong_answers: Sequence[str],
    resolution: str | None = None, explained: bool = False,
) -> bool:
    """A conflict handled well: every side reported (RAMDocs EM), or, where document metadata settles it
    (``resolution``), that answer alone with the reason stated (``explained``: the answer carries a note)."""
    if ramdocs_exact_match(prediction, gold_answers, wrong_answers):
        return True
    if not resolution or not explained or not names(prediction, resolution):
        return False
    aliases = [[g] if isinstance(g, str) else list(g) for g in gold_answers]
    others = [g for g in aliases if not names(resolution, g) and not any(names(a, resolution) for a in g)]
    return not any(names(prediction, g) for g in others) and not any(names(prediction, w) for w in wrong_answers)


def both_sides_cited(answer, gold_answers: Sequence[Aliases], wrong_answers: Sequence[str]) -> bool:
    """A counterfactual conflict reported: status ``conflict``, one candidate naming a gold answer and
    another naming the planted one, each with at least one citation."""
    if answer is None or getattr(answer.status, "value", answer.status) != "conflict":
        return False
    cited = [c.answer for c in answer.conflicts if c.citations]
    gold = any(names(c, g) for c in cited for g in gold_answers)
    planted = any(names(c, w) for c in cited for w in wrong_answers)
    return gold and planted
