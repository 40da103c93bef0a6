"""User-facing error types.

Every mistake a user can make (a typo in a config, a missing file, a wrong argument) is
raised as a :class:`DetregError`. The CLI prints its message on one line and exits non-zero
without a traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class DetregError(Exception):
    """A user mistake, reported as one clear message (no traceback in the CLI)."""


class ConfigError(DetregError):
    """A problem in a config file or an override; may carry several problems at once."""

    def __init__(self, problems: list[str] | str, header: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.header = header
        super().__init__(self._text())

    def _text(self) -> str:
        if len(self.problems) == 1 and not self.header:
            return self.problems[0]
        head = self.header or f"{len(self.problems)} problems in the config"
        return head + ":\n" + "\n".join(f"  - {p}" for p in self.problems)


class RegistryError(DetregError, KeyError):
    """An unknown component name, a duplicate registration, or bad build arguments."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
