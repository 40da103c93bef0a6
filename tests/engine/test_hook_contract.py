"""The hook contract as code: override checks, event aliases, one ordering rule, helpers."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from detreg.engine.hook import Hook, RunnerContract, hook_priority, order_hooks, overridden_events
from detreg.events import ALL_EVENTS, EVENT_ARGS, suggest_event


def test_every_event_has_an_argument_spec_and_a_base_method() -> None:
    assert set(EVENT_ARGS) == set(ALL_EVENTS)
    for event in ALL_EVENTS:
        assert callable(getattr(Hook, event))


def test_misspelt_event_suggests_the_detreg_name() -> None:
    with pytest.raises(TypeError, match="after_train_iter is not a hook event; did you mean 'after_step'"):

        class Ported(Hook):
            def after_train_iter(self, runner: RunnerContract) -> None: ...

    with pytest.raises(TypeError, match="did you mean 'before_epoch'"):

        class Typo(Hook):
            def before_epoc(self, runner: RunnerContract) -> None: ...

    assert suggest_event("on_train_batch_end") == "after_step"


@pytest.mark.parametrize(
    "signature",
    ["self", "self, trainer", "self, runner, extra", "self, runner, *, key"],
    ids=["missing", "renamed", "extra-required", "keyword-only"],
)
def test_override_arguments_are_checked_at_class_definition(signature: str) -> None:
    namespace: dict[str, Any] = {}
    exec(f"def after_step({signature}): pass", namespace)  # noqa: S102 - builds the override
    with pytest.raises(TypeError, match=r"after_step\(self, .*\) does not match the event: it is called as "):
        type("Bad", (Hook,), {"after_step": namespace["after_step"]})


def test_override_arguments_that_fit_are_accepted() -> None:
    class Fine(Hook):
        def after_step(self, runner: RunnerContract, extra: int = 0) -> None: ...

        def on_save_checkpoint(self, runner: RunnerContract, checkpoint: dict) -> None: ...

        def on_exception(self, *args: Any) -> None: ...

    assert overridden_events(Fine) == ["after_step", "on_save_checkpoint", "on_exception"]
    with pytest.raises(TypeError, match="called as on_load_checkpoint"):

        class Wrong(Hook):
            def on_load_checkpoint(self, runner: RunnerContract, ckpt: dict) -> None: ...


def test_one_ordering_rule_for_hooks_and_configs() -> None:
    named = [("a", 50), ("b", 10), ("c", 50), ("d", 90), ("e", 10)]
    assert [n for n, _ in order_hooks(named, lambda p: p)] == ["b", "e", "a", "c", "d"]
    configs = [
        ("ema", {"type": "EMAHook"}),
        ("late", {"type": "EMAHook", "priority": 95}),
        ("w", {"type": "WarmupHook"}),
    ]
    ordered = order_hooks(configs, hook_priority)
    assert [n for n, _ in ordered] == ["w", "ema", "late"]
    assert [hook_priority(c) for _, c in ordered] == [20, 30, 95]


def test_epoch_helpers() -> None:
    runner = SimpleNamespace(epoch=7, max_epochs=10)
    assert Hook.in_last_epochs(runner, 3) and not Hook.in_last_epochs(runner, 2)
    assert not Hook.in_last_epochs(runner, 0)
    assert not Hook.is_last_epoch(runner) and Hook.is_last_epoch(SimpleNamespace(epoch=9, max_epochs=10))
    assert Hook.every_n_epochs(runner, 4) and not Hook.every_n_epochs(runner, 3)
    assert not Hook.every_n_epochs(runner, 0)


def test_the_runner_and_builtin_hooks_speak_the_contract(toy_config) -> None:
    """Every attribute of RunnerContract exists on a Runner; built-in hooks annotate with it."""
    import inspect

    from detreg.engine.runner import Runner
    from detreg.launch import prepare_config
    from detreg.registry import HOOKS

    runner = Runner(prepare_config(toy_config(""), []))
    names = set(RunnerContract.__annotations__) | {
        n
        for n, v in vars(RunnerContract).items()
        if not n.startswith("_") and (callable(v) or isinstance(v, property))
    }
    try:
        for name in sorted(names - {"unwrapped_model", "eval_model"}):  # these need the model built
            assert hasattr(runner, name), name
        assert {"unwrapped_model", "eval_model", "is_main"} <= set(vars(Runner))
    finally:
        from detreg.engine import dist

        dist.cleanup()
    for name in ("EMAHook", "ProgressHook", "MetricsFileHook", "TensorBoardHook", "ImagesHook", "EvalHook"):
        cls = HOOKS.get(name)
        for event in overridden_events(cls):
            annotation = inspect.signature(getattr(cls, event)).parameters["runner"].annotation
            assert annotation in ("RunnerContract", RunnerContract), (name, event, annotation)
