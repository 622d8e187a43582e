"""The one error base of leakproof: every error the package raises on purpose is a LeakproofError,
so a caller (the CLI, a dbt Python model) can tell a clear, user-facing problem from a bug."""

from __future__ import annotations

__all__ = ["DeclarationError", "LeakproofError"]


class LeakproofError(Exception):
    """A problem with the user's input or environment, with a message that says what and where."""


class DeclarationError(LeakproofError):
    """A use-case declaration is invalid; the message names the file and the key."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))
