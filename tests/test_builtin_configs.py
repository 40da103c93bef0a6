"""Built-in configs: found by name from any folder, a user's files first, `_base_` by name,
paths shown as typed, `detreg list configs`, and shipped inside a (non-editable) wheel."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from detreg.builtin_configs import builtin_config_dir, find_config
from detreg.cli import main
from detreg.config import load_config
from detreg.errors import DetregError

ROOT = Path(__file__).resolve().parents[1]


def test_readme_config_paths_work_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("configs/yolov6s.yaml", "yolov6s.yaml", "yolov6s"):
        assert find_config(name) == builtin_config_dir() / "yolov6s.yaml"
    cfg = load_config(find_config("configs/yolov6s.yaml"))
    assert cfg.data["model"]["backbone"]["width_multiple"] == 0.5
    assert cfg.data["hooks"]["ema"]["type"] == "EMAHook"  # the _base_ chain came along


def test_a_users_file_wins_over_a_builtin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "yolov6s.yaml").write_text("_base_: yolov6n.yaml\ntrain: {epochs: 7}\n")
    found = find_config("configs/yolov6s.yaml")
    assert found == Path("configs/yolov6s.yaml")  # relative, as typed
    cfg = load_config(found)
    assert cfg.data["train"]["epochs"] == 7
    assert cfg.data["model"]["backbone"]["width_multiple"] == 0.25  # built-in yolov6n by name
    assert cfg.where("train.epochs") == "configs/yolov6s.yaml:2"


def test_base_beside_the_file_wins_over_a_builtin(tmp_path: Path) -> None:
    (tmp_path / "yolov6n.yaml").write_text("model: {type: Detector}\n")
    (tmp_path / "mine.yaml").write_text("_base_: yolov6n.yaml\n")
    assert load_config(tmp_path / "mine.yaml").data["model"] == {"type": "Detector"}


def test_messages_show_the_path_as_typed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "other").mkdir()
    (tmp_path / "here").mkdir()
    (tmp_path / "other" / "bad.yaml").write_text("_base_: yolov6n.yaml\ntrain: {epochs: [1\n")
    (tmp_path / "other" / "nobase.yaml").write_text("_base_: nothere.yaml\n")
    monkeypatch.chdir(tmp_path / "here")
    with pytest.raises(DetregError, match=r"^\.\./other/bad\.yaml:3: invalid YAML"):
        load_config(find_config("../other/bad.yaml"))
    with pytest.raises(DetregError, match=r"_base_ file not found: nothere\.yaml \(looked in \.\./other/"):
        load_config(find_config("../other/nobase.yaml"))
    with pytest.raises(
        DetregError, match=r"config not found: configs/yolov7\.yaml \(no such file in .*yolov6n"
    ):
        find_config("configs/yolov7.yaml")


def test_list_configs_prints_size_of_each(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "configs", "yolov6n"]) == 0
    out = capsys.readouterr().out
    # YOLOv6's table for YOLOv6-N (deploy, 640): 4.7 M params, 11.4 GFLOPs
    assert "yolov6n          4.65 M   11.32 GFLOPs  YOLOv6-N" in out
    assert "yolov6s" not in out


def _build_wheel(tmp_path: Path) -> Path:
    """A wheel built from a copy of the sources (the repo is left untouched)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("setup.py", "setup.cfg", "pyproject.toml", "MANIFEST.in", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "detreg", src / "detreg", ignore=ignore)
    shutil.copytree(ROOT / "configs", src / "configs", ignore=ignore)
    dist = tmp_path / "dist"
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(src), "-w"]
    subprocess.run([*cmd, str(dist)], check=True, capture_output=True, text=True)
    return next(dist.glob("detreg-*.whl"))


def test_a_wheel_install_ships_the_configs(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)]
    subprocess.run(pip, check=True, capture_output=True, text=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}

    def run(*argv: str) -> str:
        proc = subprocess.run([*argv], cwd=work, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    where = run(sys.executable, "-c", "import detreg.builtin_configs as b; print(b.builtin_config_dir())")
    assert Path(where.strip()) == site / "detreg" / "configs"
    assert (site / "detreg" / "configs" / "_base_" / "yolov6_runtime.yaml").is_file()
    bin_dir = site / "bin"
    run(str(bin_dir / "detreg"), "data", "synth", "shapes", "--train", "2", "--val", "1", "--size", "64")
    assert "OK" in run(str(bin_dir / "detreg-train"), "yolov6n", "--data", "shapes/data.yaml", "--check")
    assert "OK" in run(
        str(bin_dir / "detreg-train"), "configs/yolov6s.yaml", "--data", "shapes/data.yaml", "--check"
    )
    # bare detreg-train is the demo (a tiny synthetic set here)
    assert "OK" in run(str(bin_dir / "detreg-train"), "--check", "data.synth.train=2", "data.synth.val=1")
    assert "yolov6lite_s" in run(str(bin_dir / "detreg"), "list", "configs", "lite_s")
