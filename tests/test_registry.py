"""Registry: registration, aliases, duplicates, did-you-mean, nested build, dotted paths."""

from __future__ import annotations

from typing import Annotated, Any

import pytest

from detreg.engine import Hook
from detreg.errors import ConfigError, RegistryError
from detreg.registry import HOOKS, LOSSES, MODELS, Registry

NESTED_INNER = Registry("assigners")
NESTED_OUTER = Registry("losses")


@NESTED_INNER.register()
class Inner:
    def __init__(self, k: int = 1) -> None:
        self.k = k


@NESTED_OUTER.register()
class Outer:
    def __init__(
        self, built: Annotated[Any, NESTED_INNER], raw: dict, many: Annotated[list, NESTED_INNER] = ()
    ) -> None:
        self.built, self.raw, self.many = built, raw, many


@pytest.fixture()
def reg() -> Registry:
    return Registry("losses")


def test_register_by_class_name_and_alias(reg: Registry) -> None:
    @reg.register()
    class FooLoss:
        pass

    @reg.register("bar", aliases=("Bar", "BAR"))
    def make_bar(x: int = 1) -> int:
        return x

    assert reg.get("FooLoss") is FooLoss
    assert reg.get("bar") is make_bar and reg.get("BAR") is make_bar
    assert reg.build({"type": "Bar", "x": 3}) == 3
    entry = {e.name: e for e in reg.entries()}["Bar"]
    assert entry.canonical == "bar"


def test_bare_decorator(reg: Registry) -> None:
    @reg.register
    class Plain:
        pass

    assert reg.get("Plain") is Plain


def test_duplicate_names_both_origins(reg: Registry) -> None:
    @reg.register("dup")
    class First:
        pass

    class Second:
        pass

    with pytest.raises(RegistryError) as info:
        reg.register("dup")(Second)
    msg = str(info.value)
    assert "First" in msg and "Second" in msg and "test_registry" in msg and "override=True" in msg
    reg.register("dup", override=True)(Second)
    assert reg.get("dup") is Second


def test_alias_collision_is_a_duplicate(reg: Registry) -> None:
    @reg.register("a")
    class A:
        pass

    class B:
        pass

    with pytest.raises(RegistryError, match="'a' is already registered"):
        reg.register("b", aliases=("a",))(B)


def test_unknown_name_did_you_mean_and_key_path(reg: Registry) -> None:
    @reg.register()
    class VarifocalLoss:
        pass

    with pytest.raises(RegistryError) as info:
        reg.get("VarifocalLos", key_path="model.loss.type")
    msg = str(info.value)
    assert msg.startswith("model.loss.type: unknown loss 'VarifocalLos'.")
    assert "Did you mean 'VarifocalLoss'?" in msg
    assert "detreg list losses" in msg


def test_case_insensitive_suggestion(reg: Registry) -> None:
    @reg.register()
    class EMAHook:
        pass

    with pytest.raises(RegistryError, match="Did you mean 'EMAHook'"):
        reg.get("emahook")


def test_wrong_kwargs_checked_against_signature(reg: Registry) -> None:
    @reg.register()
    class Weighted:
        def __init__(self, weight: float, gamma: float = 2.0) -> None:
            self.weight, self.gamma = weight, gamma

    problems = reg.check({"type": "Weighted", "gama": 1.0}, "model.loss")
    assert any(
        "model.loss.gama: Weighted has no argument 'gama'. Did you mean 'gamma'?" in p for p in problems
    )
    assert any("model.loss.weight: Weighted needs 'weight'" in p for p in problems)
    with pytest.raises(ConfigError) as info:
        reg.build({"type": "Weighted", "gama": 1.0}, "model.loss")
    assert len(info.value.problems) == 2


def test_nested_build_is_explicit() -> None:
    out = NESTED_OUTER.build(
        {
            "type": "Outer",
            "built": {"type": "Inner", "k": 5},
            "raw": {"type": "Inner"},
            "many": [{"type": "Inner"}],
        }
    )
    assert isinstance(out.built, Inner) and out.built.k == 5
    assert out.raw == {"type": "Inner"}  # no annotation: left as written
    assert isinstance(out.many[0], Inner)
    problems = NESTED_OUTER.check({"type": "Outer", "built": {"type": "Innr"}, "raw": {}}, "x")
    assert problems and problems[0].startswith("x.built.type: unknown assigner 'Innr'")


def test_context_injection_by_parameter_name(reg: Registry) -> None:
    @reg.register()
    class NeedsSize:
        def __init__(self, img_size: int, other: int = 0) -> None:
            self.img_size = img_size

    assert reg.build({"type": "NeedsSize"}, context={"img_size": 320, "unused": 1}).img_size == 320
    assert reg.build({"type": "NeedsSize", "img_size": 64}, context={"img_size": 320}).img_size == 64


def test_dotted_path_type(reg: Registry) -> None:
    obj = reg.build({"type": "collections.OrderedDict"})
    assert type(obj).__name__ == "OrderedDict"
    with pytest.raises(RegistryError, match="cannot import 'nope_pkg.Thing'"):
        reg.get("nope_pkg.Thing", key_path="hooks.x.type")


def test_construction_value_error_names_key_path(reg: Registry) -> None:
    @reg.register()
    class Picky:
        def __init__(self, mode: str = "a") -> None:
            if mode not in ("a", "b"):
                raise ValueError(f"mode must be a or b, got {mode}")

    with pytest.raises(ConfigError, match="model.loss: Picky: mode must be a or b"):
        reg.build({"type": "Picky", "mode": "c"}, "model.loss")


def test_hook_with_misspelt_event_is_rejected() -> None:
    with pytest.raises(TypeError, match="after_train_iter is not a hook event; did you mean 'after_train'"):

        class Bad(Hook):
            def after_train_iter(self, runner: Any) -> None:
                pass


def test_registry_rejects_non_hook_with_misspelt_event() -> None:
    class Loose:
        def befor_epoch(self, runner: Any) -> None:
            pass

        def on_exceptoin(self, runner: Any, exc: Exception) -> None:
            pass

    class Fine:
        def before_epoch(self, runner: Any) -> None:
            pass

    with pytest.raises(RegistryError, match="on_exceptoin is not a hook event"):
        HOOKS.register("LooseHookForTest")(Loose)
    assert "LooseHookForTest" not in HOOKS.names()


def test_builtins_are_known_lazily() -> None:
    names = MODELS.names() + LOSSES.names() + HOOKS.names()
    assert "TrainStep" not in names  # steps live in their own registry
    from detreg.registry import STEPS

    assert "TrainStep" in STEPS.names()
