"""Fixtures of the data tests (helpers live in ``data_helpers.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from data_helpers import write_data_yaml, write_yolo


@pytest.fixture
def yolo_root(tmp_path: Path) -> Path:
    """A YOLO dataset: 12 train + 6 val images, 3 classes."""
    write_yolo(tmp_path, "train", 12, seed=1)
    write_yolo(tmp_path, "val", 6, seed=2)
    write_data_yaml(tmp_path)
    return tmp_path
