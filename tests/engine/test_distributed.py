"""Distributed training: ``torchrun -m detreg.train`` with 2 CPU processes (Gloo).

One 2-process run is checked for: identical replicas (DDP broadcast at wrap, same
updates), a DistributedSampler split that follows ``set_epoch``, per-process batch
``batch_size // world_size``, the loss averaged over ranks for logging, rank 0's metrics
on every rank, and that its ``last.pt`` gives the same weights as a 1-process run on the
same total batch (DDP's gradient mean x ``world_size`` with YOLOv6's lr scaling) and
resumes in 1 process. A second run fails on one rank and must end quickly, with
``after_run`` fired on the ranks and a non-zero exit.
"""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest
import torch
from torchrun_helpers import torchrun

from detreg.engine import dist
from detreg.engine.checkpoint import load_checkpoint
from detreg.engine.runner import Runner
from detreg.launch import prepare_config

HERE = Path(__file__).resolve().parent

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")


def _config(path: Path, data: Path, work_dir: Path, probe: str, epochs: int = 2) -> Path:
    path.write_text(
        textwrap.dedent(
            f"""\
            model: {{type: dist_helpers.FlatToy, width: 4}}
            data:
              source: {data}
              train: {{transforms: [{{type: Letterbox}}]}}
              val: {{transforms: [{{type: Letterbox}}]}}
            optimizer: {{type: SGD, lr: 0.05, weight_decay: 0.0}}
            train: {{epochs: {epochs}, batch_size: 4, img_size: 64, workers: 0, amp: false, device: cpu}}
            work_dir: {work_dir}
            hooks:
              metrics: {{type: MetricsFileHook, plots: false}}
              tensorboard: null
              images: null
              eval: {{type: EvalHook, interval: 1}}
              probe: {probe}
            """
        )
    )
    return path


def _probes(work_dir: Path) -> list[dict]:
    return [json.loads((work_dir / f"probe_rank{r}.json").read_text()) for r in range(2)]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path) -> tuple[Path, Path]:
    """One 2-process, 2-epoch run; returns (config, work_dir)."""
    root = tmp_path_factory.mktemp("ddp")
    cfg = _config(root / "cfg.yaml", tiny_data, root / "run", "{type: dist_helpers.RankProbe}")
    proc = torchrun(cfg, HERE, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return cfg, root / "run"


def test_replicas_stay_identical_and_data_is_split(ddp_run: tuple[Path, Path]) -> None:
    _, work_dir = ddp_run
    r0, r1 = _probes(work_dir)
    assert (r0["rank"], r1["rank"], r0["world_size"]) == (0, 1, 2)
    assert r0["wrapped"] == "DistributedDataParallel"
    assert r0["sampler"] == "DistributedSampler" and r0["batch_size"] == 2  # 4 // 2 processes
    # seed + rank gives different initial weights; DDP broadcasts rank 0's when it wraps
    assert r0["init_hash"] != r1["init_hash"]
    assert r0["start_hash"] == r1["start_hash"] == r0["init_hash"]
    assert r0["end_hash"] == r1["end_hash"] != r0["start_hash"]
    # each epoch: the ranks see disjoint halves of the 12 images, in an epoch-dependent order
    for epoch in ("0", "1"):
        a, b = r0["ids"][epoch], r1["ids"][epoch]
        assert len(a) == len(b) == 6 and not set(a) & set(b) and len(set(a) | set(b)) == 12
    assert r0["ids"]["0"] != r0["ids"]["1"]
    # hooks see the loss averaged over ranks, the same number on every rank
    assert len(r0["outputs"]) == 6
    assert r0["outputs"] == r1["outputs"]
    # only rank 0 evaluates; its metrics reach rank 1; `after_run` ran before cleanup()
    assert "mAP50_95" in r0["metrics"] and r1["metrics"] == r0["metrics"]
    assert r0["events"] == r1["events"] == ["after_run"] and r0["pg_alive"] and r1["pg_alive"]
    records = [json.loads(line) for line in (work_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]  # rank 0 alone writes the log
    assert (work_dir / "config.yaml").is_file() and not (work_dir / "probe_rank2.json").exists()


def test_two_processes_match_one_process_on_the_same_total_batch(ddp_run: tuple[Path, Path]) -> None:
    """DDP averages gradients, the step multiplies the loss by world_size and the optimizer
    divides lr by world_size (YOLOv6): the update equals one process on batch 4."""
    cfg, work_dir = ddp_run
    single = Runner(prepare_config(cfg, [f"work_dir={work_dir.parent / 'single'}", "hooks.eval=null"]))
    single.train()
    ddp = load_checkpoint(work_dir / "last.pt")["model"]
    ref = single.unwrapped_model.state_dict()
    assert set(ddp) == set(ref)
    for k in ref:
        torch.testing.assert_close(ddp[k], ref[k], rtol=1e-5, atol=1e-6, msg=k)


def test_two_process_checkpoint_resumes_in_one_process(ddp_run: tuple[Path, Path]) -> None:
    cfg, work_dir = ddp_run
    ckpt = load_checkpoint(work_dir / "last.pt")
    assert ckpt["epoch"] == 2 and ckpt["iter"] == 6
    assert not any(k.startswith("module.") for k in ckpt["model"])
    runner = Runner(
        prepare_config(cfg, ["train.epochs=3", f"work_dir={work_dir.parent / 'resumed'}"]),
        resume=work_dir / "last.pt",
    )
    runner.train()
    assert runner.world_size == 1 and runner.iter == 9 and runner.epoch == 2
    after = runner.unwrapped_model.state_dict()
    assert any(not torch.equal(after[k], ckpt["model"][k]) for k in after)


def test_a_failing_rank_ends_the_run(tmp_path: Path, tiny_data: Path) -> None:
    cfg = _config(
        tmp_path / "cfg.yaml", tiny_data, tmp_path / "run", "{type: dist_helpers.RankProbe, fail_rank: 1}"
    )
    start = time.monotonic()
    proc = torchrun(cfg, HERE, timeout=600, env_extra={"DETREG_DIST_TIMEOUT": "300"})
    assert proc.returncode != 0
    # the other rank is told at once, not after the 300 s collective timeout (start-up on a
    # loaded 2-core machine alone can take a minute, so no tighter bound)
    assert time.monotonic() - start < 300
    assert "probe failure on rank 1" in proc.stdout + proc.stderr
    failed = json.loads((tmp_path / "run" / "probe_rank1.json").read_text())
    assert failed["events"] == ["on_exception: RuntimeError: probe failure on rank 1", "after_run"]


def test_helpers_are_no_ops_in_one_process(tmp_path: Path) -> None:
    values = {"loss": 1.5, "note": "x"}
    assert dist.setup("cpu") == (0, 1, -1)
    assert dist.reduce_dict(values) is values and dist.all_true(False) is False
    assert dist.broadcast_object(tmp_path) == tmp_path
    dist.barrier()
    # a process group made by someone else is used, and left alone by cleanup()
    torch.distributed.init_process_group(
        "gloo", init_method=(tmp_path / "store").as_uri(), rank=0, world_size=1
    )
    try:
        assert dist.setup("cpu") == (0, 1, 0)
        dist.cleanup()
        assert torch.distributed.is_initialized()
    finally:
        torch.distributed.destroy_process_group()
