"""DenseTeacherHook under DDP (``torchrun``, 2 CPU processes, Gloo): the student's second
forward in ``after_forward`` goes through the DDP wrapper before the one backward; the run
must neither hang nor fail, the replicas and teachers must stay identical, and each rank
must read its own share of the unlabeled images."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import torch
from torchrun_helpers import torchrun

HERE = Path(__file__).resolve().parent

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")


def test_dense_teacher_under_ddp_keeps_replicas_identical(tmp_path: Path, tiny_data: Path) -> None:
    images = tiny_data.parent / "images" / "train"
    tiny = "{width_multiple: 0.0625, depth_multiple: 0.01}"
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        textwrap.dedent(
            f"""\
            _base_: yolov6n.yaml
            model:
              backbone: {tiny}
              neck: {tiny}
              head: {{width_multiple: 0.0625}}
            data:
              source: {tiny_data}
              unlabeled:
                img_path: {images}
                transforms: [{{type: RandomFlip}}]
                strong_transforms: [{{type: ColorJitter, prob: 1.0}}, {{type: RandomErasing, prob: 1.0}}]
            train: {{epochs: 2, batch_size: 4, img_size: 64, workers: 0, amp: false, device: cpu,
                     nominal_batch_size: 4}}
            work_dir: {tmp_path / "run"}
            hooks:
              warmup: {{type: WarmupHook, min_warmup_iters: 1}}
              ema: null
              eval: null
              best: null
              tensorboard: null
              images: null
              progress: {{type: ProgressHook, bar: false}}
              semi: {{type: DenseTeacherHook, ema_start: 1, semi_start: 1, ramp_iters: 0, ratio: 0.05}}
              probe: {{type: semi_ddp_helpers.SemiProbe}}
            """
        )
    )
    proc = torchrun(cfg, HERE, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r0, r1 = (json.loads((tmp_path / "run" / f"semi_rank{r}.json").read_text()) for r in range(2))
    assert r0["wrapped"] == "DistributedDataParallel"
    assert r0["student"] == r1["student"] and r0["teacher"] == r1["teacher"]
    assert r0["updates"] == r1["updates"] == 6 - 1  # 12 images / (2 x 2) = 3 steps x 2 epochs
    assert len(r0["unlabeled"]) == len(r1["unlabeled"]) == 5 and r0["unsup"][1:] == r1["unsup"][1:]
    assert all(v > 0 for v in r0["unsup"][1:])  # the term was trained on from semi_start
    # one unlabeled pass = 12 images = 3 steps of 2 per rank x 2 ranks: disjoint halves
    first0 = {p for b in r0["unlabeled"][:3] for p in b}
    first1 = {p for b in r1["unlabeled"][:3] for p in b}
    assert len(first0) == len(first1) == 6 and not first0 & first1
