"""Errors a user can cause. The CLI prints them in one or two lines and exits 2.

Bugs are not UserErrors: they keep their tracebacks.
"""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """A problem the user can fix: bad input file, bad config value, missing dependency.

    `path` and `line` (1-based) are shown as `path:line:` in front of the message when known;
    `hint` is a second line that says how to fix it.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.hint = hint

    def location(self) -> str:
        if self.path is None:
            return ""
        return f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "

    def __str__(self) -> str:
        text = f"{self.location()}{self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class ConfigError(UserError):
    """A run config (TOML) that is missing, unreadable or has bad fields."""


class DataError(UserError):
    """Training data, a dataset file or a corpus that cannot be read or is malformed."""


class ModelError(UserError):
    """A model directory, adapter or model SPEC that cannot be used."""


class DependencyError(UserError):
    """An optional dependency (extra) is not installed, or the hardware lacks a feature (CUDA)."""


class ServerError(UserError):
    """A model server that cannot be reached, or a port that cannot be bound."""
