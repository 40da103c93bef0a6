"""Entry-point plugins: the installed example plugin, a broken plugin, the block list."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from detreg.cli import main
from detreg.engine.runner import Runner
from detreg.errors import RegistryError
from detreg.events import EVENTS
from detreg.launch import prepare_config
from detreg.registry import HOOKS, LOSSES, TRANSFORMS, plugin_failures, reset_discovery


@pytest.fixture(autouse=True)
def fresh_discovery():
    reset_discovery()
    yield
    reset_discovery()


def require_example_plugin() -> None:
    from importlib_metadata import PackageNotFoundError, distribution

    try:
        distribution("detreg-example")
    except PackageNotFoundError:
        pytest.fail("the example plugin is not installed: pip install ./plugins/detreg-example (see .ci/run)")


def fake_distribution(root: Path, name: str, entry_points: str, modules: dict[str, str]) -> None:
    """Make ``root`` hold an installed-looking distribution (dist-info + modules)."""
    info = root / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    for mod, code in modules.items():
        (root / f"{mod}.py").write_text(textwrap.dedent(code))


@pytest.fixture()
def broken_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    fake_distribution(
        tmp_path,
        "detreg-broken",
        """\
        [detreg.hooks]
        BrokenHook = broken_hooks_mod:BrokenHook
        EMAHook = broken_hooks_mod:Shadow
        [detreg.plugins]
        broken_startup = broken_startup_mod
        """,
        {
            "broken_hooks_mod": "raise ImportError('needs a library that is not installed')\n",
            "broken_startup_mod": "raise RuntimeError('startup failure')\n",
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_example_plugin_components_are_found_by_name() -> None:
    require_example_plugin()
    origins = {e.name: e.origin for e in HOOKS.entries()}
    assert origins["EventRecorderHook"] == "detreg-example"
    assert HOOKS.get("EventRecorderHook").__module__ == "detreg_example.hooks"
    assert TRANSFORMS.get("RandomChannelShuffle").__module__ == "detreg_example.transforms"
    assert LOSSES.get("SmoothL1IoULoss").__module__ == "detreg_example.losses"


def test_plugin_hook_sees_every_event_of_a_config_driven_run(toy_config, capsys) -> None:
    require_example_plugin()
    path = toy_config(
        "rec: {type: EventRecorderHook}\nval: {type: toy_components.ValidateEveryEpochHook}\n",
        extra="",
    )
    cfg = prepare_config(
        path, ["data.train.transforms=[{type: RandomChannelShuffle, prob: 1.0}, {type: Letterbox}]"]
    )
    runner = Runner(cfg)
    runner.train()
    events = [e["event"] for e in json.loads((runner.work_dir / "events.json").read_text())]
    assert set(EVENTS) <= set(events)
    assert events[0] == "before_run" and events[-1] == "after_run"
    assert events.count("after_epoch") == 2
    assert runner.train_loader.dataset.transforms[0].__class__.__name__ == "RandomChannelShuffle"
    # `detreg hooks` shows it where its priority (45) puts it: after val hook? no: 45 < 60
    assert main(["hooks", str(path)]) == 0
    table = capsys.readouterr().out
    before_run = table.split("before_run:")[1].split(":")[0]
    assert "45  rec (EventRecorderHook)" in before_run
    after_epoch = table.split("after_epoch:")[1].split("before_val:")[0]
    assert after_epoch.index("rec (EventRecorderHook)") < after_epoch.index("val (ValidateEveryEpochHook)")


def test_broken_plugin_is_reported_and_the_rest_works(broken_plugin: Path, capsys) -> None:
    failures = plugin_failures()
    text = " | ".join(str(f) for f in failures)
    assert "detreg-broken (broken_startup_mod): RuntimeError: startup failure" in text
    assert "hook name 'EMAHook' is already taken" in text  # a plugin cannot silently shadow a built-in
    with pytest.raises(RegistryError, match="comes from plugin detreg-broken .* failed to load: ImportError"):
        HOOKS.get("BrokenHook", key_path="hooks.b.type")
    with pytest.raises(RegistryError) as info:
        HOOKS.get("NoSuchHook")
    assert "Plugins that failed to load: detreg-broken" in str(info.value)
    assert HOOKS.get("EMAHook").__module__ == "detreg.hooks.ema"  # built-ins unaffected
    assert main(["list", "hooks"]) == 0
    out = capsys.readouterr().out
    assert "BrokenHook" in out and "failed plugin: detreg-broken" in out


def test_block_list_skips_plugins(broken_plugin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DETREG_PLUGINS_BLOCK", "detreg-broken, detreg-example")
    assert plugin_failures() == []
    assert "BrokenHook" not in HOOKS.names()
    assert "EventRecorderHook" not in HOOKS.names()


def test_plugin_modules_imported_at_startup_can_register(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_distribution(
        tmp_path,
        "detreg-startup",
        "[detreg.plugins]\nstartup = startup_mod\n",
        {
            "startup_mod": """\
            from detreg.engine import Hook
            from detreg.registry import HOOKS

            @HOOKS.register()
            class StartupRegisteredHook(Hook):
                pass
            """
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert HOOKS.get("StartupRegisteredHook").__module__ == "startup_mod"
    sys.modules.pop("startup_mod", None)


def test_plugin_loss_and_transform_drive_a_real_yolov6_run(tiny_data: Path, tmp_path: Path) -> None:
    require_example_plugin()
    cfg = prepare_config(
        "yolov6n",
        [
            f"work_dir={tmp_path / 'run'}",
            "train.epochs=1",
            "train.batch_size=4",
            "train.img_size=64",
            "train.workers=0",
            "hooks.eval=null",
            "hooks.best=null",
            "hooks.logger=null",
            "model.loss.iou_loss={type: SmoothL1IoULoss, beta: 0.05}",
            "data.train.transforms=[{type: RandomChannelShuffle, prob: 1.0}, {type: Letterbox}]",
            "hooks.rec={type: EventRecorderHook, steps: false}",
        ],
        data=tiny_data,
    )
    runner = Runner(cfg)
    runner.train()
    loss = runner.unwrapped_model.loss
    assert type(loss.iou_loss).__name__ == "SmoothL1IoULoss" and loss.iou_loss.beta == 0.05
    assert runner.outputs["iou"] > 0 and runner.outputs["loss"] == runner.outputs["loss"]  # finite, not NaN
    assert type(runner.train_loader.dataset.transforms[0]).__name__ == "RandomChannelShuffle"
    events = [e["event"] for e in json.loads((runner.work_dir / "events.json").read_text())]
    assert "before_step" not in events and events[-1] == "after_run"
