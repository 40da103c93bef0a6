"""CLI: list, info, hooks, check, train --check, friendly errors, lazy imports."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from detreg.cli import export_main, infer_main, main, train_main


def test_list_shows_names_and_origins(capsys) -> None:
    assert main(["list", "hooks"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("hooks:")
    assert "EMAHook" in out and "detreg" in out
    assert main(["list", "evaluators", "COCO*"]) == 0
    out = capsys.readouterr().out
    assert "COCOMetric" in out and "(alias of COCOEvaluator)" in out
    assert main(["list", "checkpoint"]) == 0  # a bare pattern filters every kind
    out = capsys.readouterr().out
    assert "CheckpointHook" in out and "BestCheckpointHook" in out and "models:" not in out


def test_list_imports_no_torch() -> None:
    code = "import sys; from detreg.cli import main; main(['list']); assert 'torch' not in sys.modules"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_info_prints_signature_and_doc(capsys) -> None:
    assert main(["info", "StopAugHook"]) == 0
    out = capsys.readouterr().out
    assert "StopAugHook(stop_aug_epochs: int = 15" in out
    assert "kind: hooks" in out and "Level-triggered" in out
    assert main(["info", "StopAugHok"]) == 2
    assert "Did you mean 'StopAugHook'?" in capsys.readouterr().err


def test_check_reports_all_problems_without_traceback(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(
        textwrap.dedent(
            """\
            model: {type: torch.nn.Identity}
            optimizer: {type: SGD, lr: 0.01, momentun: 0.9}
            hooks:
              ema: {type: EMAHook, decai: 0.99}
              stop: {type: StopAugHok}
            """
        )
    )
    assert main(["check", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "3 problem(s) in config" in err
    assert "bad.yaml:2: optimizer.momentun: SGD has no argument 'momentun'. Did you mean 'momentum'?" in err
    assert "bad.yaml:4: hooks.ema.decai: EMAHook has no argument 'decai'. Did you mean 'decay'?" in err
    assert "bad.yaml:5: hooks.stop.type: unknown hook 'StopAugHok'. Did you mean 'StopAugHook'?" in err
    assert train_main([str(cfg), "--check"]) == 2


def test_check_ok_and_overrides(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "ok.yaml"
    cfg.write_text(
        "model: {type: torch.nn.Identity}\noptimizer: {type: SGD}\nhooks: {ema: {type: EMAHook}}\n"
    )
    assert main(["check", str(cfg), "hooks.ema.decay=0.99"]) == 0
    assert "OK" in capsys.readouterr().out
    assert main(["check", str(cfg), "hooks.ema.decay"]) == 2
    assert "must look like key.sub=value" in capsys.readouterr().err


def test_missing_config_is_one_line(capsys) -> None:
    assert train_main(["no_such_config.yaml"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("detreg: error: config not found: no_such_config.yaml") and "\n" not in err


def test_hooks_table_orders_by_priority(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "h.yaml"
    cfg.write_text(
        "model: {type: torch.nn.Identity}\noptimizer: {type: SGD}\n"
        "hooks:\n  ema: {type: EMAHook}\n  warm: {type: WarmupHook}\n  last: {type: CheckpointHook}\n"
        "  late_ema: {type: EMAHook, priority: 95}\n"
    )
    assert main(["hooks", str(cfg)]) == 0
    out = capsys.readouterr().out
    block = out.split("after_optimizer_step:")[1].split("after_step:")[0]
    assert block.index("ema (EMAHook)") < block.index("late_ema (EMAHook)")
    assert "  30  ema (EMAHook)" in block and "  95  late_ema (EMAHook)" in block
    assert (
        "after_epoch:\n" in out and "60  last (CheckpointHook)" in out.split("after_epoch:")[1].split(":")[0]
    )


@pytest.mark.parametrize("entry", [infer_main, export_main])
def test_apps_give_one_line_errors(entry, capsys) -> None:
    argv = ["--weights", "x.pt", "--source", "."] if entry is infer_main else ["--weights", "x.pt"]
    assert entry(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == "detreg: error: weights not found: x.pt"


def test_train_then_eval_and_resume_from_weights_only(toy_config, tmp_path, monkeypatch, capsys) -> None:
    import json

    from detreg.cli import eval_main
    from detreg.engine.checkpoint import load_checkpoint

    monkeypatch.chdir(tmp_path)
    path = toy_config("logger: null\n", epochs=1)
    assert train_main([str(path)]) == 0
    work = Path(load_checkpoint(path.parent / "run" / "last.pt")["config"]["work_dir"])
    assert (work / "config.yaml").is_file()
    capsys.readouterr()
    assert eval_main(["--weights", str(work / "last.pt")]) == 2  # the stored config names local code
    assert "model.type: toy_components.ToyDetector" in capsys.readouterr().err
    # config from the checkpoint, trusted explicitly; output folders are numbered like detreg-infer's
    assert eval_main(["--weights", str(work / "last.pt"), "--trust-imports"]) == 0
    out = capsys.readouterr().out
    first = tmp_path / "runs" / "eval" / "exp"
    assert "mAP50-95" in out and (first / "metrics.json").is_file()
    preds = json.loads((first / "predictions.json").read_text())
    assert preds and set(preds[0]) == {"image_id", "category_id", "bbox", "score"}
    assert eval_main([str(path), "--weights", str(work / "last.pt")]) == 0  # the config file given
    assert (tmp_path / "runs" / "eval" / "exp2" / "predictions.json").is_file()
    assert train_main(["--resume", str(work / "last.pt"), "--trust-imports", "train.epochs=2"]) == 0
    ckpt = load_checkpoint(work / "last.pt")
    assert ckpt["epoch"] == 2 and ckpt["iter"] == 6
    assert eval_main(["--weights", str(work / "nothere.pt")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("entry", "argv", "hint"),
    [
        (train_main, ["yolov6n", "epochs=3"], "epochs=3: detreg spells it train.epochs=3"),
        (train_main, ["yolov6n", "imgsz=96"], "imgsz=96: detreg spells it train.img_size=96"),
        (train_main, ["yolov6n", "data=x.yaml"], "data=x.yaml: detreg spells it --data x.yaml"),
        (train_main, ["yolov6n", "batch=8"], "batch=8: detreg spells it train.batch_size=8"),
        (train_main, ["yolov6n", "device=cpu"], "device=cpu: detreg spells it train.device=cpu"),
        (
            train_main,
            ["yolov6n", "--epochs", "3"],
            "--epochs is not a detreg option; detreg spells it train.epochs=3",
        ),
        (
            train_main,
            ["yolov6n", "--device=cpu"],
            "--device is not a detreg option; detreg spells it train.device=cpu",
        ),
        (
            train_main,
            ["yolov6n", "--imgsz", "96"],
            "--imgsz is not a detreg option; detreg spells it train.img_size=96",
        ),
        (
            main,
            ["train", "yolov6n", "--batch", "8"],
            "--batch is not a detreg option; detreg spells it train.batch_size=8",
        ),
        (infer_main, ["--imgsz", "96"], "--imgsz is not a detreg option; detreg spells it --img-size 96"),
    ],
)
def test_ultralytics_spellings_get_the_detreg_one(entry, argv, hint, capsys) -> None:
    assert entry(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"detreg: error: {hint}"


def test_hooks_table_needs_no_dataset(capsys) -> None:
    assert main(["hooks", "yolov6n"]) == 0  # no --data, and the config's own data is not read
    out = capsys.readouterr().out
    assert "30  ema (EMAHook)" in out.split("after_optimizer_step:")[1].split("after_step:")[0]


def test_every_command_is_an_app_with_the_same_shape() -> None:
    import importlib

    from detreg.cli import COMMANDS

    for name, (module, _) in COMMANDS.items():
        app = importlib.import_module(module)
        assert callable(app.add_arguments) and callable(app.run) and app.DESCRIPTION, name
    for path in (Path(__file__).parents[1] / "detreg" / "apps").glob("*.py"):
        text = path.read_text()
        assert "from detreg.cli import" not in text, f"{path.name} imports the CLI layer"
        assert "import _" not in text and "runner import _" not in text, f"{path.name} imports privates"
