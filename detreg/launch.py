"""Turn command-line inputs (config, overrides, ``--data``) into a validated config.

Shared by ``detreg-train``, ``detreg check``, ``detreg hooks``, ``detreg-eval``... so every
command reads configs the same way. Nothing heavy happens here: no dataset is opened,
no model is built (the built-in synthetic data is generated once if missing, a few
seconds, so the demo runs from a fresh clone).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from detreg.builtin_configs import builtin_config_dir, find_config
from detreg.config import Config, apply_override, check, load_config, merge
from detreg.errors import DetregError

CONFIG_DIR = builtin_config_dir()
DEFAULT_CONFIG = CONFIG_DIR / "demo.yaml"


def prepare_config(
    path: str | Path | None,
    overrides: list[str] = (),
    data: str | Path | None = None,
    validate: bool = True,
    need_data: bool = True,
) -> Config:
    """Load, apply overrides and the data yaml, import ``imports:``, validate in full.

    Raises one :class:`~detreg.errors.ConfigError` listing every problem. ``need_data=False``
    skips the datasets' checks (export and inference need none).
    """
    cfg = load_config(find_config(path), list(overrides))
    if data is not None:
        apply_override(cfg.data, f"data.source={Path(data)}", cfg.sources)
    resolve_data_source(cfg)
    if validate:
        check(cfg, need_data)
    return cfg


def resolve_data_source(cfg: Config) -> None:
    """Merge the dataset described by ``data.source`` (a data yaml) or ``data.synth``.

    ``data.synth: {root, train, val, size, seed}`` generates the built-in synthetic set
    into ``root`` once, then uses its data yaml.
    """
    data: dict[str, Any] = cfg.data.get("data") or {}
    if not isinstance(data, dict):
        return
    source = data.get("source")
    synth = data.get("synth")
    if source is None and synth is not None:
        source = _ensure_synth(synth, cfg)
    if source is None:
        return
    from detreg.data.data_yaml import data_section_from_yaml

    src = Path(str(source))
    if not src.is_absolute() and not src.exists() and cfg.path is not None:
        src = cfg.path.parent / src
    fragment = data_section_from_yaml(src)
    merged = merge(data, fragment)
    merged.pop("source", None)
    merged.pop("synth", None)
    cfg.data["data"] = merged
    for key in fragment:
        cfg.sources.setdefault(f"data.{key}", str(src))


def _ensure_synth(spec: Any, cfg: Config) -> Path:
    import json

    from detreg.data.synth import make_synth_dataset

    where = cfg.where("data.synth")
    if not isinstance(spec, dict):
        raise DetregError(f"{where}: data.synth must be a mapping (root, train, val, size, seed)")
    allowed = {"root", "train", "val", "size", "seed"}
    bad = sorted(set(spec) - allowed)
    if bad:
        raise DetregError(f"{where}: data.synth: unknown keys {bad}; allowed: {sorted(allowed)}")
    params = {
        "train": int(spec.get("train", 256)),
        "val": int(spec.get("val", 64)),
        "size": int(spec.get("size", 320)),
        "seed": int(spec.get("seed", 0)),
    }
    root = Path(spec.get("root", "runs/data/synth"))
    marker = root / "synth.json"
    if os.environ.get("LOCAL_RANK", "0") != "0":  # torchrun: local rank 0 generates, the rest wait
        _wait_for(marker, params, where)
        return root / "data.yaml"
    made = json.loads(marker.read_text()) if marker.is_file() else None
    if made != params or not (root / "data.yaml").is_file():
        make_synth_dataset(
            root, n_train=params["train"], n_val=params["val"], size=params["size"], seed=params["seed"]
        )
        marker.write_text(json.dumps(params))
    return root / "data.yaml"


def _wait_for(marker: Path, params: dict[str, int], where: str, timeout: float = 600.0) -> None:
    """Wait until another process has written the synthetic set described by ``params``."""
    import json
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if json.loads(marker.read_text()) == params:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.5)
    raise DetregError(f"{where}: data.synth: gave up waiting for local rank 0 to write {marker.parent}")
