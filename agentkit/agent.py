"""The public entry point: ``Agent(corpora=[...]).ask(question) -> Answer``."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from agentkit.errors import CheckpointError
from agentkit.graph.builder import GraphBuilder
from agentkit.graph.components import Components
from agentkit.settings import Settings, Strategy
from agentkit.types import Answer

# Types the SQLite checkpointer may deserialize (everything else is refused).
_CHECKPOINT_TYPES = [
    ("agentkit.types", name) for name in ("Answer", "AnswerSentence", "Citation", "ConflictCandidate", "TraceStep",
                                          "ScoredPassage", "Chunk", "AnswerStatus")
] + [("agentkit.answer.evidence", "EvidenceSet"), ("agentkit.answer.evidence", "EvidenceSentence"),
     ("agentkit.answer.grounded", "Draft"), ("agentkit.answer.grounded", "VerifiedDraft")]


class AgentEvent(BaseModel):
    """What ``Agent.stream`` yields, in order."""

    kind: Literal["node_started", "node_finished", "tool_call", "observation", "reflection", "answer"]
    node: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    answer: Answer | None = None


class Agent:
    """A grounded question-answering agent over one or more corpora.

    ``checkpoint``: path of a SQLite file; with it, runs are resumable by ``thread_id`` and follow-up
    questions in a thread see the thread's history.
    """

    def __init__(self, corpora: Sequence[Any] = (), settings: Settings | None = None, *, generator=None,
                 reranker=None, verifier=None, tools=None, checkpoint: str | Path | None = None):
        self.settings = settings or Settings.from_preset("default")
        self.components = Components(self.settings, corpora, generator=generator, reranker=reranker,
                                     verifier=verifier, tools=tools)
        self.builder = GraphBuilder(self.components).build()
        self._checkpointer = _sqlite_checkpointer(Path(checkpoint)) if checkpoint else None
        self.graph = self.builder.compile(checkpointer=self._checkpointer)

    @property
    def corpora(self) -> list[Any]:
        return self.components.corpora

    def _config(self, thread_id: str | None) -> dict:
        # Loops are bounded by counters in state; the recursion limit is only a backstop.
        cfg: dict[str, Any] = {"recursion_limit": 40 + 6 * self.settings.max_steps * (1 + self.settings.max_reflections)}
        if self._checkpointer is not None:
            cfg["configurable"] = {"thread_id": thread_id or uuid.uuid4().hex}
        elif thread_id is not None:
            # without a checkpoint file there is no history: a follow-up must not silently lose its context
            raise CheckpointError(f"thread_id={thread_id!r} needs an Agent created with checkpoint=PATH "
                                  "(`--checkpoint FILE` on the command line)")
        return cfg

    def ask(self, question: str, *, thread_id: str | None = None, strategy: Strategy | None = None,
            filters: dict | None = None) -> Answer:
        """Answer one question. ``filters``: metadata filters for every search, e.g.
        ``{"corpus": "medicine", "date": {"$gte": "2024-01-01"}}``."""
        state = self.graph.invoke({"question": question, "strategy": strategy or self.settings.strategy,
                                   "filters": filters}, self._config(thread_id))
        return state["answer"]

    def resume(self, thread_id: str) -> Answer:
        """Continue a run that was interrupted (killed process) from its last checkpoint."""
        if self._checkpointer is None:
            raise CheckpointError("resume needs an Agent created with checkpoint=PATH")
        cfg = self._config(thread_id)
        snapshot = self.graph.get_state(cfg)
        if not snapshot.next:
            answer = snapshot.values.get("answer")
            if answer is None:
                raise CheckpointError(f"thread {thread_id!r} has no run to resume in this checkpoint file")
            return answer
        state = self.graph.invoke(None, cfg)
        return state["answer"]

    def stream(self, question: str, *, thread_id: str | None = None, strategy: Strategy | None = None,
               filters: dict | None = None) -> Iterator[AgentEvent]:
        final: Answer | None = None
        inputs = {"question": question, "strategy": strategy or self.settings.strategy, "filters": filters}
        for mode, payload in self.graph.stream(inputs, self._config(thread_id), stream_mode=["tasks", "custom"]):
            if mode == "tasks":
                if "result" in payload or "error" in payload:
                    result = payload.get("result") or {}
                    if isinstance(result, dict) and isinstance(result.get("answer"), Answer):
                        final = result["answer"]
                    yield AgentEvent(kind="node_finished", node=payload["name"],
                                     data={"error": str(payload["error"])} if payload.get("error") else {})
                else:
                    yield AgentEvent(kind="node_started", node=payload["name"])
            elif mode == "custom" and isinstance(payload, dict):
                kind = payload.get("kind")
                if kind in ("tool_call", "observation", "reflection"):
                    yield AgentEvent(kind=kind, data={k: v for k, v in payload.items() if k != "kind"})
        if final is not None:
            yield AgentEvent(kind="answer", answer=final)


def _sqlite_checkpointer(path: Path):
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
    from langgraph.checkpoint.sqlite import SqliteSaver

    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False)
    saver = SqliteSaver(conn, serde=JsonPlusSerializer(allowed_msgpack_modules=_CHECKPOINT_TYPES))
    try:
        saver.setup()  # now, not at the first checkpoint: a bad file must fail before any model work is spent
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise CheckpointError(f"checkpoint file {path} is not a usable SQLite database ({exc}); "
                              "pass a new path, or move the file away") from exc
    return saver
