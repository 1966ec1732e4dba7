"""Typed errors. Every failure a user can cause maps to one of these, with a message that says what to do."""

from __future__ import annotations


class AgentkitError(Exception):
    """Base class for all agentkit errors."""


class ModelNotAvailableError(AgentkitError):
    """Model weights are not installed (the message names the package to install)."""


class ChecksumMismatchError(AgentkitError):
    """An assembled or user-supplied model file does not match its pinned sha256."""


class IngestError(AgentkitError):
    """A single file could not be ingested (binary, encrypted, broken, empty, not UTF-8...)."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class IndexError_(AgentkitError):
    """Base for index problems (named with a trailing underscore to avoid shadowing the builtin)."""


class IndexNotFoundError(IndexError_):
    """No index exists at the given directory."""


class IndexCorruptError(IndexError_):
    """The index directory exists but its files are unreadable or inconsistent."""


class IndexMismatchError(IndexError_):
    """The index was built with another embedder, dimension or schema version."""


class CheckpointError(AgentkitError, ValueError):
    """The checkpoint file is not a usable SQLite database, or a thread has no run to resume."""


class InvalidQuestionError(AgentkitError):
    """The question is empty, too long, or otherwise unusable."""


class GenerationError(AgentkitError):
    """The generator failed or produced output that cannot be parsed even after retries."""


class ToolError(AgentkitError):
    """A tool call was invalid (unknown tool or bad arguments) or the tool failed."""


class SettingsError(AgentkitError, ValueError):
    """Unknown preset or strategy, or invalid settings."""
