"""Text generation: the Generator protocol, its local (llama.cpp) and HTTP (OpenAI-compatible) backends."""

from agentkit.generate.llama_backend import LlamaCppGenerator
from agentkit.generate.llm import (
    Completion,
    Generator,
    Usage,
    clean_messages,
    load_generator,
    neutralize_control_tokens,
    yes_share,
    yes_share_from_top_logprobs,
)
from agentkit.generate.openai_backend import OpenAIGenerator

__all__ = [
    "Completion",
    "Generator",
    "LlamaCppGenerator",
    "OpenAIGenerator",
    "Usage",
    "clean_messages",
    "load_generator",
    "neutralize_control_tokens",
    "yes_share",
    "yes_share_from_top_logprobs",
]
