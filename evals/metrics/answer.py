"""Answer accuracy: HotpotQA's official normalisation, exact match and token F1.

Single required answer: the official HotpotQA scores, max over aliases. Several required answers
(TAT-QA multi-span, RAMDocs): predictions (a list taken as given, or a string split on ``;``, newlines, ``and`` and commas
that are not thousands separators) are aligned one-to-one with the required answers to maximise F1
(Hungarian matching, as in DROP); F1 = sum of aligned F1 / max(#predicted, #required), EM = 1 only when
the counts agree and every aligned pair matches exactly. No required answer (unanswerable): 1 when the
prediction is empty or ``noanswer``, else 0.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)
_SPECIAL = ("yes", "no", "noanswer")
# ", and" / ";" / newline / " and " separate items; "1,496.5" and "time-and-material" do not split.
_DATE_COMMA = re.compile(r"(\b[A-Z][a-z]+\.? \d{1,2}),(?= \d{4}\b)")
_SPLIT = re.compile(r"\s*(?:;|\n|,(?!\d{3}\b))\s*(?:and\s+)?|\s+and\s+")


def normalize_answer(text: str) -> str:
    """HotpotQA/SQuAD: lowercase, drop punctuation, drop articles, collapse whitespace."""
    text = "".join(ch for ch in str(text).lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _f1_pair(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction), normalize_answer(gold)
    # Official rule: a yes/no/noanswer on either side scores only if both are identical.
    if (pred in _SPECIAL or ref in _SPECIAL) and pred != ref:
        return 0.0
    pred_tokens, ref_tokens = pred.split(), ref.split()
    same = sum((Counter(pred_tokens) & Counter(ref_tokens)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(ref_tokens)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, aliases: str | Sequence[str]) -> float:
    aliases = [aliases] if isinstance(aliases, str) else aliases
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(a) for a in aliases))


def f1(prediction: str, aliases: str | Sequence[str]) -> float:
    aliases = [aliases] if isinstance(aliases, str) else aliases
    return max((_f1_pair(prediction, a) for a in aliases), default=0.0)


def split_answers(prediction: str | Sequence[str]) -> list[str]:
    """Answer items of a prediction: a list is taken as given, a string is split on separators."""
    if not isinstance(prediction, str):
        return [p for p in prediction if normalize_answer(p)]
    protected = _DATE_COMMA.sub("\\1\x00", prediction)  # "June 21, 1998" is one item
    parts = [p.replace("\x00", ",") for p in _SPLIT.split(protected)]
    return [p for p in parts if normalize_answer(p)]


def answer_scores(prediction: str | Sequence[str], answers: Sequence[Sequence[str]]) -> dict[str, float]:
    """``{"em", "f1"}`` of a prediction against required answers (each a list of aliases)."""
    if not answers:
        abstained = normalize_answer(" ".join(split_answers(prediction))) in ("", "noanswer")
        return {"em": float(abstained), "f1": float(abstained)}
    if len(answers) == 1:
        text = prediction if isinstance(prediction, str) else " ".join(prediction)
        return {"em": exact_match(text, answers[0]), "f1": f1(text, answers[0])}
    preds = split_answers(prediction)
    if not preds:
        return {"em": 0.0, "f1": 0.0}
    f1s = np.array([[f1(p, aliases) for aliases in answers] for p in preds])
    ems = np.array([[exact_match(p, aliases) for aliases in answers] for p in preds])
    rows, cols = linear_sum_assignment(-f1s)
    n = max(len(preds), len(answers))
    em = float(len(preds) == len(answers) and all(ems[r, c] == 1.0 for r, c in zip(rows, cols, strict=True)))
    return {"em": em, "f1": float(f1s[rows, cols].sum() / n)}
