"""No config key passes validation unless something reads it."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import detreg
from detreg.config import DATA_KEYS, TRAIN_HOOKS, TRAIN_KEYS, load_config, run_context, validate
from detreg.registry import HOOKS

PACKAGE = Path(detreg.__file__).parent


def _readers_text() -> str:
    """Every module's source except config.py (which lists the keys), plus ``run_context``
    (which hands ``nc``/``names`` and the train sizes to components)."""
    files = [p for p in PACKAGE.rglob("*.py") if p.name not in ("config.py", "_index.py")]
    return "\n".join(p.read_text() for p in files) + inspect.getsource(run_context)


def test_every_accepted_train_and_data_key_is_read_somewhere() -> None:
    text = _readers_text()
    unread = [f"train.{k}" for k in TRAIN_KEYS if k not in TRAIN_HOOKS and f'"{k}"' not in text]
    # a key that switches on a hook reaches it by parameter name (the run context)
    unread += [
        f"train.{k}"
        for k, (_, hook) in TRAIN_HOOKS.items()
        if k not in inspect.signature(HOOKS.get(hook)).parameters
    ]
    unread += [f"data.{k}" for k in DATA_KEYS if f'"{k}"' not in text]
    assert not unread, f"accepted but read nowhere: {unread}"


def test_unlabeled_data_without_a_semi_hook_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("_base_: yolov6n.yaml\ndata:\n  unlabeled: {type: UnlabeledDataset, img_path: x}\n")
    problems = validate(load_config(path))
    assert any(
        p.startswith(f"{path}:3: data.unlabeled: set, but no semi-supervised hook reads it") for p in problems
    ), problems


def test_unlabeled_data_and_semi_hooks_need_each_other(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("_base_: yolov6n.yaml\nhooks:\n  semi: {type: DenseTeacherHook}\n")
    problems = validate(load_config(path))
    assert any("hooks.semi: a semi-supervised hook needs data.unlabeled" in p for p in problems), problems
    path.write_text(
        "_base_: yolov6n.yaml\nhooks:\n  semi: {type: PseudoBoxHook, score_thr: 0.6}\n"
        "data:\n  unlabeled: {img_path: x, strong_transforms: [{type: ColorJitter}]}\n"
    )
    assert not [p for p in validate(load_config(path)) if "unlabeled" in p or "semi" in p]
    path.write_text("_base_: yolov6n.yaml\ndata:\n  unlabeled: {img_path: x, bogus: 1}\n")
    problems = validate(load_config(path))
    assert any("data.unlabeled" in p and "bogus" in p for p in problems), problems


@pytest.mark.parametrize("name", ["dense_teacher", "arsl", "pseudo_box"])
def test_semi_configs_validate_once_the_images_are_given(name: str, tiny_data: Path) -> None:
    from detreg.builtin_configs import find_config
    from detreg.config import apply_override

    cfg = load_config(find_config(f"configs/semi/{name}.yaml"))
    for split in ("train", "val"):
        apply_override(cfg.data, f"data.{split}.img_path={tiny_data.parent / 'images' / split}")
    apply_override(cfg.data, f"data.unlabeled.img_path={tiny_data.parent / 'images' / 'train'}")
    assert validate(cfg) == []
    assert cfg.data["hooks"].get("ema") is None and cfg.data["hooks"]["semi"]["type"].endswith("Hook")
