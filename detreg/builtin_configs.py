"""The built-in configs (YOLOv6 variants, the demo): where they live and how a name finds one.

The repository's ``configs/`` is their source. A wheel ships a copy as package data,
``detreg/configs/`` (``setup.py`` copies it at build time), found through
:mod:`importlib.resources`; a source checkout (editable install, ``PYTHONPATH``) has no such
copy and reads ``configs/`` beside the package.

A relative config path resolves against the working folder first, then against the
built-in configs, so ``yolov6n``, ``yolov6n.yaml`` and ``configs/yolov6n.yaml`` all name the
built-in YOLOv6-N from any folder, and a user's config can ``_base_: yolov6n.yaml``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from detreg.errors import DetregError

#: The built-in config a bare ``detreg-train`` runs.
DEFAULT_NAME = "demo"


def builtin_config_dir() -> Path:
    """The folder holding the built-in configs (package data, else the source checkout's)."""
    packaged = resources.files("detreg") / "configs"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[1] / "configs"


def builtin_config_names() -> list[str]:
    """Names of the built-in configs a user can pass (``demo``, ``yolov6n``, ...), sorted."""
    folder = builtin_config_dir()
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def find_builtin(name: str | Path) -> Path | None:
    """The built-in config ``name`` names (``yolov6n``, ``yolov6n.yaml``, ``configs/yolov6n.yaml``,
    ``_base_/yolov6_data.yaml``), or None."""
    path = Path(name)
    if path.is_absolute():
        return None
    folder = builtin_config_dir()
    parts = path.parts[1:] if path.parts[:1] == ("configs",) else path.parts
    if not parts:
        return None
    rel = Path(*parts)
    candidates = [folder / rel]
    if rel.suffix not in (".yaml", ".yml"):
        candidates.append(folder / rel.with_name(rel.name + ".yaml"))
    return next((c for c in candidates if c.is_file()), None)


def find_config(name: str | Path | None) -> Path:
    """The config file a command-line argument means: a file (relative to the working folder,
    kept as typed) or else a built-in config; ``None`` is the demo."""
    if name is None:
        return builtin_config_dir() / f"{DEFAULT_NAME}.yaml"
    path = Path(name)
    if path.is_file():
        return path
    found = find_builtin(name)
    if found is not None:
        return found
    known = ", ".join(builtin_config_names()) or "none"
    where = "" if path.is_absolute() else f" in {Path.cwd()}"
    raise DetregError(f"config not found: {name} (no such file{where}; built-in configs: {known})")
