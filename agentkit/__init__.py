"""agentkit: local-first, citation-aware question answering.

    from agentkit import Agent, Corpus
    corpus = Corpus.build(["docs/"], "my-index")
    answer = Agent(corpora=[corpus]).ask("What is the maximum daily dose of Veltrazine?")

Public names are imported lazily so ``import agentkit`` stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    "Agent": "agentkit.agent",
    "AgentEvent": "agentkit.agent",
    "Corpus": "agentkit.corpus",
    "Settings": "agentkit.settings",
    "Answer": "agentkit.types",
    "AnswerStatus": "agentkit.types",
    "AnswerSentence": "agentkit.types",
    "Citation": "agentkit.types",
    "Document": "agentkit.types",
    "Chunk": "agentkit.types",
    "ScoredPassage": "agentkit.types",
    "ToolRegistry": "agentkit.tools",
}

__all__ = [
    "Agent", "AgentEvent", "Answer", "AnswerSentence", "AnswerStatus", "Chunk", "Citation", "Corpus", "Document",
    "ScoredPassage", "Settings", "ToolRegistry",
]

if TYPE_CHECKING:  # pragma: no cover
    from agentkit.agent import Agent, AgentEvent
    from agentkit.corpus import Corpus
    from agentkit.settings import Settings
    from agentkit.tools import ToolRegistry
    from agentkit.types import Answer, AnswerSentence, AnswerStatus, Chunk, Citation, Document, ScoredPassage


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'agentkit' has no attribute {name!r}")
