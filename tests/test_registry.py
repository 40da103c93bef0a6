"""Registry: registration, aliases, duplicates, did-you-mean, nested build, dotted paths."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pytest

from detreg.engine import Hook
from detreg.errors import ConfigError, RegistryError
from detreg.registry import HOOKS, LOSSES, MODELS, Range, Registry

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
    with pytest.raises(TypeError, match="after_train_iter is not a hook event; did you mean 'after_step'"):

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


# ---------------------------------------------------------------------- **kwargs and values
class _Base:
    def __init__(self, img_size: int = 640, mode: Literal["a", "b"] = "a", rate: float = 0.5) -> None:
        self.img_size, self.mode, self.rate = img_size, mode, rate


class _Child(_Base):
    def __init__(self, extra: int = 1, **kwargs: Any) -> None:
        self.extra = extra
        super().__init__(**kwargs)


class _Grandchild(_Child):
    def __init__(self, more: bool = False, **kwargs: Any) -> None:
        self.more = more
        super().__init__(**kwargs)


def test_kwargs_are_checked_against_the_parents(reg: Registry) -> None:
    reg.register()(_Grandchild)
    problems = reg.check({"type": "_Grandchild", "img_sise": 3, "extra": 2}, "data.train")
    assert len(problems) == 1
    assert (
        "data.train.img_sise: _Grandchild has no argument 'img_sise'. Did you mean 'img_size'?" in problems[0]
    )
    assert "more, extra, img_size, mode, rate" in problems[0]  # subclass first, then its bases
    built = reg.build({"type": "_Grandchild", "more": True, "rate": "1e-3"}, context={"img_size": 320})
    assert (built.more, built.extra, built.img_size, built.rate) == (
        True,
        1,
        320,
        0.001,
    )  # context reached the base


def test_kwargs_values_of_a_parent_are_validated(reg: Registry) -> None:
    reg.register()(_Child)
    problems = reg.check({"type": "_Child", "mode": "c", "rate": "abc", "extra": "two"}, "x")
    assert "x.mode: must be one of 'a', 'b', got 'c'" in problems
    assert "x.rate: expected a number, got 'abc'" in problems
    assert "x.extra: expected an integer, got 'two'" in problems


def test_kwargs_going_nowhere_known_accept_anything(reg: Registry) -> None:
    @reg.register()
    class Loose:
        def __init__(self, **kwargs: Any) -> None:
            self.kwargs = kwargs

    assert reg.check({"type": "Loose", "whatever": 1}) == []
    assert reg.build({"type": "Loose", "whatever": 1}).kwargs == {"whatever": 1}


def test_forwarded_function_kwargs_are_checked(reg: Registry) -> None:
    from detreg.registry import forwards_kwargs

    def scaling(batch_size: int | None = None, scale: bool = True) -> tuple:
        return batch_size, scale

    @reg.register()
    @forwards_kwargs(scaling)
    def Opt(lr: float = 0.1, **rest: Any) -> tuple:
        return (lr, *scaling(**rest))

    assert reg.build({"type": "Opt", "scale": False}, context={"batch_size": 8}) == (0.1, 8, False)
    problems = reg.check({"type": "Opt", "scal": 1, "scale": "maybe"}, "optimizer")
    assert any("optimizer.scal: Opt has no argument 'scal'. Did you mean 'scale'?" in p for p in problems)
    assert "optimizer.scale: expected true or false, got 'maybe'" in problems


def test_ranges_from_annotations(reg: Registry) -> None:
    @reg.register()
    class Ranged:
        def __init__(self, decay: Annotated[float, Range(0, 1, max_open=True)] = 0.9) -> None:
            self.decay = decay

    assert reg.check({"type": "Ranged", "decay": 0.5}) == []
    assert reg.check({"type": "Ranged", "decay": 1}, "hooks.ema") == [
        "hooks.ema.decay: must be >= 0 and < 1, got 1"
    ]


def test_builtin_subclasses_declare_only_what_they_add() -> None:
    from detreg.registry import BACKBONES, DATASETS, NECKS, OPTIMIZERS, parameters

    assert "stride" in parameters(DATASETS.get("COCODataset"))  # from BaseDataset, through **kwargs
    assert "img_size" in parameters(DATASETS.get("UnlabeledDataset"))
    assert "width_multiple" in parameters(BACKBONES.get("CSPBepBackbone"))
    assert "depth_multiple" in parameters(NECKS.get("CSPRepBiFPANNeck"))
    assert "nominal_batch_size" in parameters(OPTIMIZERS.get("AdamW"))
    assert BACKBONES.check({"type": "CSPBepBackbone", "width_multipl": 1}, "model.backbone")


def test_dotted_path_must_subclass_the_kind_base() -> None:
    assert MODELS.get("torch.nn.Identity").__name__ == "Identity"
    with pytest.raises(
        RegistryError, match="'os.system' is not a model: a model named by import path must be"
    ):
        MODELS.get("os.system", key_path="model.type")
    with pytest.raises(RegistryError, match="'collections.OrderedDict' is not a hook"):
        HOOKS.get("collections.OrderedDict")


def test_hook_module_with_misspelt_event_is_one_line(tmp_path, monkeypatch, capsys) -> None:
    from detreg.cli import main

    (tmp_path / "badhook_mod.py").write_text(
        "from detreg.engine import Hook\n\n"
        "class Bad(Hook):\n    def after_train_iter(self, runner):\n        pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("model: {type: torch.nn.Identity}\nhooks: {bad: {type: badhook_mod.Bad}}\n")
    assert main(["check", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "hooks.bad.type: importing 'badhook_mod' failed: TypeError:" in err
    assert "after_train_iter is not a hook event" in err


def test_optimizer_values_are_checked_through_forwarded_kwargs() -> None:
    from detreg.registry import OPTIMIZERS

    problems = OPTIMIZERS.check(
        {"type": "SGD", "lr": 0, "momentum": 1.5, "bs_per_gpu": 0, "nominal_batch_size": "x"},
        "optimizer",
        provided=("model",),
    )
    assert "optimizer.lr: must be > 0, got 0" in problems
    assert "optimizer.momentum: must be >= 0 and < 1, got 1.5" in problems
    assert "optimizer.bs_per_gpu: must be >= 1, got 0" in problems
    assert "optimizer.nominal_batch_size: expected an integer or 'auto', got 'x'" in problems
    problems = OPTIMIZERS.check(
        {"type": "SGD", "nominal_batch_size": 0, "scale_lr": "yes"}, "optimizer", provided=("model",)
    )
    assert "optimizer.nominal_batch_size: must be >= 1, got 0" in problems
    assert "optimizer.scale_lr: expected true or false or 'auto', got 'yes'" in problems


def test_datasets_get_base_arguments_and_context_through_kwargs(tiny_data) -> None:
    import yaml

    from detreg.registry import DATASETS

    names = yaml.safe_load(tiny_data.read_text())["names"]
    names = list(names.values()) if isinstance(names, dict) else list(names)
    images = str(tiny_data.parent / "images" / "val")
    ds = DATASETS.build(
        {"type": "YOLODataset", "img_path": images, "rect": True, "stride": 16},
        "data.val",
        context={"img_size": 96, "batch_size": 2, "num_classes": len(names), "class_names": names},
    )
    assert (ds.img_size, ds.rect, ds.stride, ds.class_names) == (96, True, 16, names)
    with pytest.raises(ConfigError, match="data.val.stride: must be >= 1, got 0"):
        DATASETS.build({"type": "YOLODataset", "img_path": images, "stride": 0}, "data.val")
