"""Typed graph state with reducers. Every loop is bounded by counters kept here, never by
LangGraph's recursion limit."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from agentkit.answer.bridge import BridgeHop
from agentkit.answer.evidence import EvidenceSet
from agentkit.answer.grounded import Draft, VerifiedDraft
from agentkit.types import Answer, ConflictCandidate, ScoredPassage, TraceStep


def add_or_reset(left: list | None, right: list | None) -> list:
    """Append; ``None`` resets (each new turn in a thread starts with empty per-turn lists)."""
    if right is None:
        return []
    return (left or []) + list(right)


def merge_passages(left: list[ScoredPassage] | None, right: list[ScoredPassage] | None) -> list[ScoredPassage]:
    """Accumulate evidence across hops and tool calls, one entry per chunk, keeping its best score."""
    if right is None:
        return []
    best: dict[str, ScoredPassage] = {p.chunk.id: p for p in (left or [])}
    for p in right:
        old = best.get(p.chunk.id)
        if old is None or p.score > old.score:
            best[p.chunk.id] = p
    return list(best.values())


class ToolStep(TypedDict, total=False):
    thought: str
    tool: str
    arguments: dict[str, Any]
    ok: bool
    observation: str


class AgentState(TypedDict, total=False):
    # per turn
    question: str
    strategy: str
    filters: dict[str, Any] | None                       # metadata filters for every search this turn
    queries: list[str]                                   # sub-questions (multi-hop) or [question]
    multi_hop: bool
    passages: Annotated[list[ScoredPassage], merge_passages]
    ranked: list[ScoredPassage]
    evidence: EvidenceSet | None
    computations: Annotated[list[str], add_or_reset]     # calculator / date results shown as evidence
    steps: Annotated[list[ToolStep], add_or_reset]       # ReAct actions and observations
    reflections: Annotated[list[str], add_or_reset]      # Reflexion critiques fed to the next attempt
    attempts: int                                        # answer generations this turn
    escalation: int                                      # react / reflexion: 0 single pass, 1 bridge hop, 2 tool loop
    hop: BridgeHop | None                                # react / reflexion: the bridge hop found, and the question it makes
    draft: Draft | None
    verified: VerifiedDraft | None
    rejected: Annotated[list[str], add_or_reset]         # short answers the answer check turned down this turn
    ruled_out: Annotated[list[str], add_or_reset]        # "start:doc_id" of sentences a rejected answer cited
    conflict_note: str
    conflict_candidates: list[ConflictCandidate] | None
    pending: dict[str, Any] | None                       # the tool call chosen by `act`
    trace: Annotated[list[TraceStep], add_or_reset]
    answer: Answer | None
    # across turns (same thread_id)
    history: Annotated[list[dict[str, str]], lambda left, right: (left or []) + (right or [])]
