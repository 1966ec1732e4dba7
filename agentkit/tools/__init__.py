"""Tools for the ReAct agent: a typed registry, built-ins, and the grammar for one model action.

Security model: a tool runs only when the model's own structured action -- JSON generated under
the grammar built from :func:`tool_call_schema` and parsed by :func:`parse_tool_call` -- names it.
Nothing in this package interprets document or observation text as a tool call or instruction:
retrieved text is returned to the model as data only. All built-in tools are side-effect free
(no files, network, or code execution; the calculator walks the AST and never calls ``eval``).
"""

from __future__ import annotations

from typing import Any

from agentkit.tools.calculator import calculator_tool, evaluate, format_number
from agentkit.tools.corpus_tools import DocumentSpan, SearchableCorpus, make_corpus_tools
from agentkit.tools.dates import date_tools, parse_date
from agentkit.tools.registry import (
    FINISH,
    FunctionTool,
    Observation,
    Tool,
    ToolCall,
    ToolOutput,
    ToolRegistry,
    describe_tools,
    function_tool,
    grammar_safe_schema,
    parse_tool_call,
    signature,
    tool_call_schema,
)


def default_registry(corpora: list[SearchableCorpus] | None = None, *, reranker: Any = None) -> ToolRegistry:
    """A new registry with calculator, date_diff and date_add (+ search_corpus and read_span given corpora)."""
    registry = ToolRegistry()
    for tool in [calculator_tool(), *date_tools(), *(make_corpus_tools(corpora, reranker) if corpora else [])]:
        registry.register(tool)
    return registry


__all__ = [
    "FINISH", "DocumentSpan", "FunctionTool", "Observation", "SearchableCorpus", "Tool", "ToolCall", "ToolOutput",
    "ToolRegistry", "calculator_tool", "date_tools", "default_registry", "describe_tools", "evaluate",
    "format_number", "function_tool", "grammar_safe_schema", "make_corpus_tools", "parse_date",
    "parse_tool_call", "signature", "tool_call_schema",
]
