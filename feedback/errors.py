"""One error hierarchy for the whole platform.

The core raises these; a single place in the application maps them to HTTP
responses, and the phone and SMS channels turn them into a friendly fallback.
Nothing here knows about HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass


class FeedbackError(Exception):
    """Base class of every error the platform raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Problem:
    """One located problem in a survey file."""

    file: str
    line: int  # 1-based
    col: int  # 1-based
    message: str
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{self.file}:{self.line}:{self.col}: {prefix}{self.message}"


class DefinitionError(FeedbackError):
    """A survey definition is invalid. Carries every problem found, not just the first."""

    code = "invalid_definition"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = [p for p in problems if p.severity == "error"]
        self.warnings = [p for p in problems if p.severity == "warning"]
        first = str(self.problems[0]) if self.problems else "invalid survey definition"
        more = len(self.problems) - 1
        super().__init__(first + (f" (and {more} more problems)" if more > 0 else ""))


class InvalidAnswer(FeedbackError):
    """An answer could not be accepted for a question."""

    code = "invalid_answer"


class EngineError(FeedbackError):
    """The interview engine was asked to do something impossible (e.g. a corrupt state)."""

    code = "engine_error"


class StateMismatch(EngineError):
    """A saved interview state does not belong to the survey version it is resumed with."""

    code = "state_mismatch"


class NotFound(FeedbackError):
    code = "not_found"


class Forbidden(FeedbackError):
    code = "forbidden"


class BadRequest(FeedbackError):
    code = "bad_request"
