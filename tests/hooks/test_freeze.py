"""train.freeze: frozen parameters and BatchNorm statistics are bit-identical after training."""

from __future__ import annotations

import pytest
import torch

from detreg.engine.hook import Hook, RunnerContract
from detreg.engine.runner import Runner
from detreg.errors import DetregError
from detreg.launch import prepare_config


class SnapshotHook(Hook):
    """Keeps a copy of the weights as training starts."""

    state: dict = {}

    def before_train(self, runner: RunnerContract) -> None:
        SnapshotHook.state = {k: v.clone() for k, v in runner.unwrapped_model.state_dict().items()}


def test_frozen_part_is_bit_identical_and_the_rest_trains(toy_config) -> None:
    cfg = prepare_config(
        toy_config(f"snap: {{type: {__name__}.SnapshotHook}}"),
        ["train.deterministic=true", "train.freeze=[net.0, net.1]"],
    )
    assert cfg.data["hooks"]["freeze"] == {"type": "FreezeHook"}
    runner = Runner(cfg)
    runner.train()  # two epochs: the runner's model.train() at each epoch start must not undo it
    before = SnapshotHook.state
    after = runner.unwrapped_model.state_dict()
    frozen = [k for k in after if k.startswith(("net.0.", "net.1."))]
    assert "net.1.running_mean" in frozen and "net.1.num_batches_tracked" in frozen
    for k in frozen:
        assert torch.equal(after[k], before[k]), k
    assert not torch.equal(after["net.3.weight"], before["net.3.weight"])  # the rest trained
    assert not runner.unwrapped_model.net[1].training and runner.unwrapped_model.net[3].training


def test_a_prefix_that_names_no_module_is_a_clear_error(toy_config) -> None:
    cfg = prepare_config(toy_config(""), ["train.freeze=[backbone]"])
    runner = Runner(cfg)
    with pytest.raises(
        DetregError,
        match=r"train.freeze: backbone names no module of the model \(module-name "
        r"prefixes: net, or deeper such as net.0, net.1, net.2\)",
    ):
        runner.build()
