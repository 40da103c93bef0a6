"""Shared helpers for evaluation tests: a tiny in-memory dataset and batch builder."""

from __future__ import annotations

from typing import Any

import pytest
import torch


class FakeDataset:
    """The parts of the dataset contract an evaluator uses."""

    def __init__(self, images: list[dict], anns: list[dict], class_names: list[str], cat_ids: list[int]):
        self.images, self.anns = images, anns
        self.class_names, self.cat_ids = class_names, cat_ids
        self.num_classes = len(class_names)

    def coco_gt(self) -> dict[str, Any]:
        cats = [{"id": c, "name": n} for c, n in zip(self.cat_ids, self.class_names)]
        return {"images": self.images, "annotations": self.anns, "categories": cats}


def make_dataset(
    boxes: dict[int, list[tuple[float, float, float, float, int]]],
    sizes: dict[int, tuple[int, int]] | None = None,
    class_names: tuple[str, ...] = ("a", "b", "c"),
    cat_ids: tuple[int, ...] = (1, 3, 7),
) -> FakeDataset:
    """``boxes``: image id -> list of (x1, y1, x2, y2, class index) in original pixels."""
    sizes = sizes or {}
    images, anns = [], []
    for img_id, items in boxes.items():
        h, w = sizes.get(img_id, (480, 640))
        images.append({"id": img_id, "width": w, "height": h, "file_name": f"{img_id}.jpg"})
        for x1, y1, x2, y2, k in items:
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": img_id,
                    "category_id": cat_ids[k],
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
    return FakeDataset(images, anns, list(class_names), list(cat_ids))


def make_batch(dataset: FakeDataset, img_ids: list[int], ratio_pad=None, size: int = 640) -> dict[str, Any]:
    """A loader batch for ``img_ids`` (identity ``ratio_pad`` unless given)."""
    shapes = {im["id"]: (im["height"], im["width"]) for im in dataset.images}
    return {
        "img": torch.zeros(len(img_ids), 3, size, size, dtype=torch.uint8),
        "targets": torch.zeros(0, 6),
        "paths": [f"{i}.jpg" for i in img_ids],
        "image_ids": list(img_ids),
        "ori_shapes": [shapes[i] for i in img_ids],
        "ratio_pad": ratio_pad or [((1.0, 1.0), (0.0, 0.0)) for _ in img_ids],
    }


def det(rows: list[tuple[float, float, float, float, float, int]]) -> torch.Tensor:
    """Predictions ``[n,6]`` from rows (x1, y1, x2, y2, score, class index)."""
    return torch.tensor(rows, dtype=torch.float32).reshape(-1, 6)


@pytest.fixture(params=["pycocotools", "faster_coco_eval"])
def backend(request) -> str:
    """Every test using it runs once per installed backend."""
    if request.param == "faster_coco_eval":
        pytest.importorskip("faster_coco_eval")
    return request.param


@pytest.fixture
def helpers():
    """Access to the builders above without importing conftest."""

    class H:
        make_dataset = staticmethod(make_dataset)
        make_batch = staticmethod(make_batch)
        det = staticmethod(det)

    return H
