"""The replaceable parts a graph runs with. Each is behind a small Protocol; backends are picked from
registries keyed by settings values, loaded lazily and once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

from agentkit.answer.verify import LexicalVerifier, LLMVerifier
from agentkit.settings import Settings


def _no_reranker(c: Components):
    return None


def _embedding_reranker(c: Components):
    from agentkit.retrieve.rerank import EmbeddingReranker

    return EmbeddingReranker(c.embedder)


def _llm_reranker(c: Components):
    from agentkit.retrieve.llm_rerank import LLMReranker

    return LLMReranker(c.generator)


RERANKERS: dict[str, Callable[[Components], Any]] = {
    "none": _no_reranker,
    "embedding": _embedding_reranker,
    "llm": _llm_reranker,
}


class Components:
    def __init__(self, settings: Settings, corpora: Sequence[Any] = (), *, generator=None, reranker=None,
                 verifier=None, embedder=None, tools=None):
        self.settings = settings
        self.corpora = list(corpora)
        if generator is not None:
            self.__dict__["generator"] = generator
        if reranker is not None:
            self.__dict__["reranker"] = reranker
        if verifier is not None:
            self.__dict__["verifier"] = verifier
        if embedder is not None:
            self.__dict__["embedder"] = embedder
        if tools is not None:
            self.__dict__["tools"] = tools

    @cached_property
    def generator(self):
        from agentkit.generate import load_generator

        return load_generator(self.settings)

    @cached_property
    def embedder(self):
        if self.corpora and getattr(self.corpora[0], "embedder", None) is not None:
            return self.corpora[0].embedder
        from agentkit.embed import load_embedder

        return load_embedder(self.settings.embedder)

    @cached_property
    def reranker(self):
        return RERANKERS[self.settings.reranker](self)

    @cached_property
    def verifier(self):
        return LLMVerifier(self.generator) if self.settings.verify else LexicalVerifier()

    @cached_property
    def tools(self):
        from agentkit.tools import default_registry, make_corpus_tools

        registry = default_registry()
        for tool in make_corpus_tools(self.corpora, reranker=None):
            registry.register(tool)
        return registry
