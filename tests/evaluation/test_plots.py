"""Plots are written as valid PNGs; the confusion matrix counts what it should."""

from __future__ import annotations

import numpy as np
import pytest

from detreg.evaluation import COCOEvaluator, ConfusionMatrix

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path) -> bool:
    import matplotlib.image as mpimg

    data = path.read_bytes()
    return data[:8] == PNG_MAGIC and mpimg.imread(path).ndim == 3


def test_confusion_matrix_counts():
    cm = ConfusionMatrix(num_classes=2, conf=0.25, iou_thres=0.45)
    gt_boxes = np.array(
        [[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60], [100, 100, 120, 120]], dtype=float
    )
    gt_cls = np.array([0, 1, 1, 0])
    dets = np.array(
        [
            [0, 0, 10, 10, 0.9, 0],  # gt 0, right class
            [20, 20, 30, 31, 0.8, 0],  # IoU 0.91 with gt 1, but the det below (IoU 1) wins: FP
            [20, 20, 30, 30, 0.7, 1],  # gt 1, right class
            [80, 80, 90, 90, 0.6, 1],  # nothing there: FP
            [50, 50, 60, 60, 0.1, 1],  # below conf: dropped, so gt 2 is missed
            [100, 100, 120, 121, 0.5, 1],  # gt 3 with the wrong class (true 0, predicted 1)
        ]
    )
    cm.process_batch(dets, gt_boxes, gt_cls)
    # rows: predicted 0, 1, background; columns: true 0, 1, background
    expected = np.array([[1, 0, 1], [1, 1, 1], [0, 1, 0]])
    np.testing.assert_array_equal(cm.matrix, expected)
    np.testing.assert_allclose(cm.normalized()[:, :2], [[0.5, 0], [0.5, 0.5], [0, 0.5]])
    tp, fp = cm.tp_fp()
    np.testing.assert_array_equal(tp, [1, 1])
    np.testing.assert_array_equal(fp, [1, 2])


def test_confusion_matrix_accepts_tensors_and_empty():
    torch = pytest.importorskip("torch")
    cm = ConfusionMatrix(3)
    cm.process_batch(torch.zeros(0, 6), torch.zeros(0, 4), torch.zeros(0))
    cm.process_batch(torch.tensor([[0, 0, 5, 5, 0.9, 2]]), torch.zeros(0, 4), torch.zeros(0))
    assert cm.matrix[2, 3] == 1 and cm.matrix.sum() == 1


def test_save_plots_writes_pngs(helpers, tmp_path):
    gt = {1: [(10, 20, 110, 140, 0), (200, 200, 300, 260, 1)], 2: [(5, 5, 405, 305, 2)], 3: []}
    ds = helpers.make_dataset(gt)
    preds = {
        1: [(10, 20, 110, 140, 0.9, 0), (200, 200, 300, 260, 0.8, 2)],
        2: [(5, 5, 300, 305, 0.6, 2)],
        3: [],
    }
    ev = COCOEvaluator(backend="pycocotools")
    ev.reset(ds)
    ev.process([helpers.det(preds[i]) for i in (1, 2, 3)], helpers.make_batch(ds, [1, 2, 3]))
    paths = ev.save_plots(tmp_path / "plots")
    assert [p.name for p in paths] == ["pr_curve.png", "confusion_matrix.png"]
    assert all(_is_png(p) for p in paths)
    cm = ev.confusion_matrix()
    assert cm.matrix[0, 0] == 1 and cm.matrix[2, 1] == 1 and cm.matrix[2, 2] == 1


def test_save_plots_without_predictions(helpers, tmp_path):
    ds = helpers.make_dataset({1: [(10, 20, 110, 140, 0)]})
    ev = COCOEvaluator(backend="pycocotools")
    ev.reset(ds)
    ev.process([helpers.det([])], helpers.make_batch(ds, [1]))
    assert all(_is_png(p) for p in ev.save_plots(tmp_path))
