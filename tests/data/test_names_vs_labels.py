"""A data yaml whose `names` is shorter than the label ids stops training and fails
`detreg data check` with one line naming the ids found and nc (it used to skip most images
as corrupt and exit 0)."""

from __future__ import annotations

from pathlib import Path

import yaml

from detreg.cli import main, train_main
from detreg.data.synth import make_synth_dataset


def test_names_shorter_than_label_ids(tmp_path: Path, capsys) -> None:
    data_yaml = make_synth_dataset(tmp_path / "shapes", n_train=8, n_val=4, size=64, seed=0)
    data = yaml.safe_load(data_yaml.read_text())
    data["names"] = data["names"][:2]
    data.pop("nc", None)
    data_yaml.write_text(yaml.safe_dump(data))
    argv = ["yolov6n", "--data", str(data_yaml), "--work-dir", str(tmp_path / "run")]
    argv += ["train.epochs=1", "train.img_size=64", "train.batch_size=2", "train.workers=0"]
    assert train_main(argv) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("detreg: error:")]
    assert len(errors) == 1
    assert "the labels use class ids 0-5 but nc=2 (ids 2-5 are out of range in" in errors[0], errors
    assert "give 'names' one entry per class" in errors[0]

    assert main(["data", "check", str(data_yaml), "--no-cache"]) == 1
    out = capsys.readouterr().out
    assert "train: error: the labels use class ids 0-5 but nc=2" in out
