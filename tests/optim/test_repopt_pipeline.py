"""RepOpt from the configs alone: hyper-search run, ``detreg repopt-scales``, RepOpt run,
resume (bit for bit), export. YOLOv6-N's RepOpt configs at 64 px on the tiny set."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from detreg.cli import export_main, main
from detreg.engine import Hook
from detreg.engine.runner import Runner
from detreg.launch import prepare_config
from detreg.models.layers import LinearAddBlock, RepOptBlock
from detreg.optim.repopt import RepOptimizerSGD
from detreg.optim.repopt_scales import load_scales

pytest.importorskip("onnxruntime")


class StopBefore(Hook):
    """Raise before epoch ``epoch``, as a crash between epochs would."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def before_epoch(self, runner) -> None:
        if runner.epoch == self.epoch:
            raise KeyboardInterrupt("simulated crash")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: fast and steady on a loaded 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _train(config: str, data: Path, work: Path, epochs: int, extra=(), resume: Path | None = None) -> Runner:
    overrides = [
        f"data.source={data}",
        f"work_dir={work}",
        "train.img_size=64",
        "train.batch_size=4",
        f"train.epochs={epochs}",
        "train.workers=0",
        "train.amp=false",
        "train.deterministic=true",
        "hooks.warmup.min_warmup_iters=2",
        "hooks.ema.tau=5",
        "hooks.eval=null",
        "hooks.progress.bar=false",
        "hooks.tensorboard=null",
        "hooks.images=null",
        *extra,
    ]
    runner = Runner(prepare_config(config, overrides), resume=resume)
    runner.train()
    return runner


@pytest.fixture(scope="module")
def scales(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Scales extracted by the command from a one-epoch hyper-search run."""
    work = tmp_path_factory.mktemp("hs")
    runner = _train("repopt/yolov6n_hs", tiny_data, work, 1, ["hooks.best=null"])
    assert any(isinstance(m, LinearAddBlock) for m in runner.unwrapped_model.modules())
    out = work / "scales.pt"
    assert main(["repopt-scales", str(work / "last.pt"), "-o", str(out)]) == 0
    return out


def test_scales_command_writes_the_trained_scales(scales: Path, capsys) -> None:
    from detreg.engine.checkpoint import load_checkpoint

    state = load_checkpoint(scales.parent / "last.pt")["model"]
    loaded = load_scales(scales)
    name = next(iter(loaded))
    assert torch.equal(loaded[name].conv3x3, state[f"{name}.scale_conv"].float())
    assert not torch.equal(loaded[name].conv3x3, torch.ones_like(loaded[name].conv3x3))  # trained
    assert main(["repopt-scales", str(scales), "-o", str(scales.parent / "x.pt")]) == 2
    assert "no hyper-search block scales" in capsys.readouterr().err


@pytest.fixture(scope="module")
def full(scales: Path, tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Runner:
    return _train(
        "repopt/yolov6n_repopt", tiny_data, tmp_path_factory.mktemp("full"), 2, [f"optimizer.scales={scales}"]
    )


def test_repopt_trains_from_the_config_and_resumes_exactly(
    full: Runner, scales: Path, tiny_data: Path, tmp_path: Path
) -> None:
    assert isinstance(full.optimizer, RepOptimizerSGD) and full.optimizer.masks
    blocks = [m for m in full.unwrapped_model.modules() if isinstance(m, RepOptBlock)]
    assert len(blocks) == len(full.optimizer.masks) == len(load_scales(scales))
    extra = [f"optimizer.scales={scales}"]
    with pytest.raises(KeyboardInterrupt):
        _train(
            "repopt/yolov6n_repopt",
            tiny_data,
            tmp_path,
            2,
            [*extra, f"hooks.stop={{type: {__name__}.StopBefore, epoch: 1}}"],
        )
    resumed = _train("repopt/yolov6n_repopt", tiny_data, tmp_path, 2, extra, resume=tmp_path / "last.pt")
    assert resumed.iter == full.iter == 6
    a, b = full.unwrapped_model.state_dict(), resumed.unwrapped_model.state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    for sa, sb in zip(
        full.optimizer.state_dict()["state"].values(), resumed.optimizer.state_dict()["state"].values()
    ):
        torch.testing.assert_close(sa, sb, rtol=0, atol=0)


def test_repopt_model_fuses_and_exports(full: Runner, tmp_path: Path, capsys) -> None:
    model = full.unwrapped_model.eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
        fused = model.fuse()
        assert not any(m.bn is not None for m in fused.modules() if isinstance(m, RepOptBlock))
        torch.testing.assert_close(fused(x), ref, atol=1e-4, rtol=1e-4)
    argv = ["--weights", str(full.work_dir / "last.pt"), "--work-dir", str(tmp_path)]
    assert export_main(argv) == 0
    assert "onnxruntime vs pytorch" in capsys.readouterr().out
