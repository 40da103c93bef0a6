"""Shared fixtures: a tiny synthetic dataset and a toy-model config writer."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

pytest_plugins = ["ci_skips"]  # under CI=true a skipped test fails the run


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12-train / 4-val synthetic YOLO dataset at 64 px; returns its data yaml."""
    from detreg.data.synth import make_synth_dataset

    return make_synth_dataset(tmp_path_factory.mktemp("tiny_synth"), n_train=12, n_val=4, size=64, seed=0)


@pytest.fixture()
def toy_config(tmp_path: Path, tiny_data: Path) -> Callable[..., Path]:
    """Write a config training :class:`toy_components.ToyDetector` on ``tiny_data``."""

    def write(hooks: str = "", extra: str = "", epochs: int = 2) -> Path:
        text = textwrap.dedent(
            f"""\
            model: {{type: toy_components.ToyDetector, width: 4}}
            data:
              source: {tiny_data}
              train: {{transforms: [{{type: Letterbox}}]}}
              val: {{transforms: [{{type: Letterbox}}]}}
            optimizer: {{type: SGD, lr: 0.01}}
            train: {{epochs: {epochs}, batch_size: 4, img_size: 64, workers: 0, amp: false}}
            work_dir: {tmp_path / "run"}
            hooks:
            """
        )
        text += textwrap.indent(textwrap.dedent(hooks), "  ") if hooks.strip() else "  {}\n"
        path = tmp_path / "cfg.yaml"
        path.write_text(text + textwrap.dedent(extra))
        return path

    return write
