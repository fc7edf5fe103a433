"""The errors a caller of scriptgen can meet, each with a message a writer can act on."""

from __future__ import annotations


class ScriptgenError(Exception):
    """Base class: everything scriptgen raises on purpose derives from it."""


class ConfigurationError(ScriptgenError):
    """The tool is not set up to run (a missing key, an unknown provider)."""


class ProviderError(ScriptgenError):
    """A call to the language model failed.

    ``retryable`` says whether the same call may succeed if sent again (overload, rate limit, a
    dropped stream); a refused key or a spend limit is not.
    """

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class InvalidOutputError(ScriptgenError):
    """The model's answer could not be validated, even after being asked once more."""


class StepFailedError(ScriptgenError):
    """One step of an episode failed; the message names the step (e.g. scene 3's dialogue)."""

    def __init__(self, step: str, description: str, cause: BaseException) -> None:
        super().__init__(f"{description} failed: {cause}")
        self.step = step
        self.description = description
        self.__cause__ = cause
