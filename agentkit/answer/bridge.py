"""The first hop of a bridge question, for the agent strategies' escalation.

"The arena where the Lewiston Maineiacs played their home games can seat how many people?" names the team,
not the arena, so the arena's own page ranks low. The graph's ``bridge`` node asks the model for the
question that finds the unnamed entity; this module answers it from that question's own top passages with
one short constrained call. The answer only steers retrieval (its page is searched for): it is never shown
to the user, and the final answer is verified against the evidence like any other.
"""

from __future__ import annotations

from agentkit.answer.compare import ask_on_evidence
from agentkit.answer.conflicts import NO_ANSWERS, normalize_answer
from agentkit.answer.evidence import best_covering, build_evidence, content_words
from agentkit.types import ScoredPassage

BRIDGE_TASK = 'Task: "answer" is the name the question asks for, copied from the passages, or "none" if they do not give it.'


def bridge_answer(generator, question: str, passages: list[ScoredPassage], embed=None) -> tuple[str, int, int]:
    """(the entity a bridge question asks for, prompt tokens, completion tokens); "" when the passages do
    not state it: a value that no shown sentence contains is the model's, not the documents'."""
    if not passages:
        return "", 0, 0
    ev = build_evidence(question, passages, embed=embed, max_sentences=6, max_chars=900, min_per_passage=1)
    if not ev.sentences:
        return "", 0, 0
    value, *tokens = ask_on_evidence(generator, question, question, ev, BRIDGE_TASK, None)
    value = " ".join(value.split())
    if normalize_answer(value) in NO_ANSWERS | {"yes", "no"} or not content_words(value):
        return "", *tokens
    if not best_covering(f"{question} {value}", ev, max_sentences=1, required=content_words(value)):
        return "", *tokens
    return value, *tokens


__all__ = ["bridge_answer"]
