"""A checkpoint is data: the config stored in it never runs code (issue 11, item 1).

Each vector stores a payload in an otherwise weights_only-clean checkpoint: the payload
would create a marker file if it ran. Every command that rebuilds from a stored config
(detreg-eval/infer/export --weights, detreg-train --resume) must refuse it in one line.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch

from detreg.cli import eval_main, export_main, infer_main, main, train_main
from detreg.config import load_config

REPO = Path(__file__).resolve().parents[2]


def _payload_config(vector: str, marker: Path, module: str) -> dict[str, Any]:
    cfg = load_config(REPO / "configs" / "yolov6n.yaml").data
    cfg["data"] = {"nc": 2, "names": ["a", "b"]}
    command = {"type": "os.system", "command": f"touch {marker}"}
    if vector == "model":
        cfg["model"] = command
    elif vector == "transform":
        cfg["data"]["val"] = {"type": "ImageFolder", "img_path": ".", "transforms": [command]}
    elif vector == "hook":
        cfg["hooks"]["evil"] = command
    elif vector == "imports":
        cfg["imports"] = [module]
    return cfg


@pytest.fixture()
def evil_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    """An importable module that writes a marker when imported."""
    marker = tmp_path / "imported.marker"
    name = f"evil_ckpt_module_{abs(hash(str(tmp_path)))}"
    (tmp_path / f"{name}.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name, marker
    sys.modules.pop(name, None)


def _checkpoint(path: Path, config: dict[str, Any]) -> Path:
    torch.save({"model": {"w": torch.zeros(1)}, "epoch": 1, "config": config}, path)
    torch.load(path, weights_only=True)  # the file itself is clean
    return path


COMMANDS = {
    "eval": lambda w: eval_main(["--weights", str(w)]),
    "infer": lambda w: infer_main(["--weights", str(w), "--source", str(w.parent)]),
    "export": lambda w: export_main(["--weights", str(w)]),
    "resume": lambda w: train_main(["--resume", str(w)]),
}


@pytest.mark.parametrize("vector", ["model", "transform", "hook", "imports"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_stored_config_cannot_run_code(
    vector: str, command: str, tmp_path: Path, evil_module: tuple[str, Path], capsys
) -> None:
    module, import_marker = evil_module
    marker = tmp_path / "ran.marker"
    ckpt = _checkpoint(tmp_path / "evil.pt", _payload_config(vector, marker, module))
    assert COMMANDS[command](ckpt) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert "code named in a checkpoint is never imported" in err and "--trust-imports" in err
    key = {"model": "model.type", "transform": "data.val.transforms[0].type", "hook": "hooks.evil.type"}
    assert key.get(vector, "imports") in err
    assert not marker.exists() and not import_marker.exists()


def test_trusting_a_checkpoint_still_requires_the_kind_base(tmp_path: Path, capsys) -> None:
    marker = tmp_path / "ran.marker"
    ckpt = _checkpoint(tmp_path / "evil.pt", _payload_config("model", marker, "unused"))
    assert eval_main(["--weights", str(ckpt), "--trust-imports"]) == 2
    err = capsys.readouterr().err
    assert "'os.system' is not a model" in err and "torch.nn.modules.module.Module" in err
    assert not marker.exists()


def test_trust_imports_allows_imports_explicitly(tmp_path: Path, evil_module: tuple[str, Path]) -> None:
    module, import_marker = evil_module
    ckpt = _checkpoint(tmp_path / "x.pt", _payload_config("imports", tmp_path / "m", module))
    eval_main(["--weights", str(ckpt), "--trust-imports"])  # fails later (no val data): fine
    assert import_marker.exists()


@pytest.mark.parametrize(
    "payload",
    [
        "model: {type: os.system, command: 'touch MARKER'}\n",
        "model: {type: torch.nn.Identity}\nhooks: {evil: {type: os.system, command: 'touch MARKER'}}\n",
        "model: {type: torch.nn.Identity}\nhooks: {evil: {type: subprocess.Popen, args: 'touch MARKER'}}\n",
    ],
)
def test_a_user_config_may_only_name_classes_of_the_right_kind(payload: str, tmp_path: Path, capsys) -> None:
    marker = tmp_path / "ran.marker"
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(payload.replace("MARKER", str(marker)))
    assert main(["check", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "named by import path must be a subclass of" in err
    assert not marker.exists()


def test_check_says_which_user_code_it_imports(tmp_path: Path, evil_module: tuple[str, Path], capsys) -> None:
    module, _ = evil_module
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        textwrap.dedent(
            f"""\
            imports: [{module}]
            model: {{type: torch.nn.Identity}}
            """
        )
    )
    for argv in (["check", str(cfg)], ["train", str(cfg), "--check"]):
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert f"imports user code: imports: ['{module}']; model.type: torch.nn.Identity" in out
