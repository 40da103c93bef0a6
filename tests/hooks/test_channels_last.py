"""train.channels_last: NHWC training to the same values; its checkpoints load into any model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from detreg.config import load_config, validate
from detreg.engine.checkpoint import load_checkpoint
from detreg.engine.runner import Runner
from detreg.launch import prepare_config
from detreg.registry import MODELS

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


def kernels(module: torch.nn.Module) -> list[tuple[str, torch.Tensor]]:
    """The conv weights whose layout shows (a 1x1 or single-input kernel is both layouts at once)."""
    return [
        (n, p) for n, p in module.named_parameters() if p.dim() == 4 and p.shape[1] > 1 and p.shape[-1] > 1
    ]


def is_nhwc(t: torch.Tensor) -> bool:
    return t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_the_key_adds_the_hook_and_the_toy_run_matches_the_default_layout(toy_config, tmp_path) -> None:
    runs = {}
    for cl in (False, True):
        cfg = prepare_config(
            toy_config(""),
            [
                "train.deterministic=true",
                f"train.channels_last={str(cl).lower()}",
                f"work_dir={tmp_path / str(cl)}",
            ],
        )
        assert cfg.data["hooks"]["channels_last"] == {"type": "ChannelsLastHook"}
        runner = Runner(cfg)
        runner.train()
        convs = kernels(runner.unwrapped_model)
        assert convs and all(is_nhwc(p) == cl for _, p in convs)
        runs[cl] = runner.unwrapped_model.state_dict()
    for key, value in runs[False].items():  # same training to float rounding
        torch.testing.assert_close(runs[True][key], value, rtol=1e-4, atol=1e-5, msg=key)


def test_a_non_bool_value_is_rejected(tmp_path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("_base_: yolov6n.yaml\ntrain:\n  channels_last: maybe\n")
    problems = validate(load_config(path))
    assert any(p.startswith(f"{path}:3: train.channels_last") for p in problems), problems


def test_yolov6n_trains_in_channels_last_and_its_checkpoint_loads_into_a_plain_model(
    tiny_data: Path, tmp_path: Path
) -> None:
    overrides = [
        f"data.source={tiny_data}",
        f"work_dir={tmp_path / 'run'}",
        "train.img_size=64",
        "train.batch_size=4",
        "train.epochs=1",
        "train.workers=0",
        "train.amp=false",
        "train.channels_last=true",
        "hooks.eval=null",
        "hooks.best=null",
        "hooks.progress.bar=false",
        "hooks.tensorboard=null",
    ]
    runner = Runner(prepare_config(CONFIG_DIR / "yolov6n.yaml", overrides))
    runner.train()
    model = runner.unwrapped_model
    convs = kernels(model)
    assert len(convs) > 20 and all(is_nhwc(p) for _, p in convs), [n for n, p in convs if not is_nhwc(p)][:3]
    ema = dict(runner.hooks)["ema"].ema.module  # copied from the converted model
    assert all(is_nhwc(p) for _, p in kernels(ema))
    assert torch.isfinite(torch.tensor(runner.outputs["loss"]))

    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    plain = MODELS.build(runner.cfg["model"], "model", {"num_classes": runner.context["num_classes"]})
    plain.load_state_dict(ckpt["model"])
    assert not any(is_nhwc(p) for _, p in kernels(plain))
    x = torch.rand(2, 3, 64, 64)
    model.eval(), plain.eval()
    with torch.no_grad():
        torch.testing.assert_close(plain(x), model(x), rtol=1e-4, atol=1e-4)
