"""``train.compile``: the train step runs the model through ``torch.compile``, numbers unchanged.

The ``eager`` backend (Dynamo tracing, no code generation) keeps the test fast; inductor's
speed and compile time are measured by ``benchmarks/train_speed.py``, never in a test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from detreg.config import load_config, validate
from detreg.engine.runner import Runner
from detreg.launch import prepare_config


def _train(cfg: Path, overrides: list[str]) -> Runner:
    runner = Runner(prepare_config(cfg, ["hooks.progress=null", "hooks.tensorboard=null", *overrides]))
    runner.train()
    return runner


def test_compiled_forward_trains_like_the_plain_one(toy_config, tmp_path: Path) -> None:
    cfg = toy_config(epochs=1)
    plain = _train(cfg, [f"work_dir={tmp_path / 'a'}"])
    compiled = _train(
        cfg, [f"work_dir={tmp_path / 'b'}", "train.compile=true", "train.step.compile_backend=eager"]
    )
    assert plain.train_step.compiled is None
    assert compiled.train_step.compiled is not None
    assert compiled.train_step.compiled._orig_mod is compiled.model  # the model itself is untouched
    assert set(compiled.unwrapped_model.state_dict()) == set(plain.unwrapped_model.state_dict())
    for k, v in plain.unwrapped_model.state_dict().items():
        torch.testing.assert_close(compiled.unwrapped_model.state_dict()[k], v, msg=k)


@pytest.mark.parametrize(
    "override,problem",
    [
        ("train.compile=maybe", "train.compile"),
        ("train.step.compile_backend=tvm", "compile_backend"),
    ],
)
def test_compile_settings_are_validated(toy_config, override: str, problem: str) -> None:
    problems = validate(load_config(toy_config(), [override]))
    assert any(problem in p for p in problems), problems
