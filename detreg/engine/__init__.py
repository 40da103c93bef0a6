"""The engine: Hook base, runner, train step, checkpoint io, distributed helpers.

``Hook`` imports cheaply; ``Runner`` (torch) loads on first use.
"""

from typing import Any

from detreg.engine.hook import Hook

__all__ = ["Hook", "Runner"]


def __getattr__(name: str) -> Any:
    if name == "Runner":
        from detreg.engine.runner import Runner

        return Runner
    raise AttributeError(name)
