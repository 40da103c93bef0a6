"""Anchor points and ATSS anchor boxes."""

from __future__ import annotations

import torch

from detreg.ops.anchors import make_anchor_points, make_anchors


def test_anchor_points_level_by_level_row_major():
    feats = [torch.zeros(1, 3, 2, 3), torch.zeros(1, 3, 1, 1)]
    points, strides = make_anchor_points(feats, [8, 16])
    expected = torch.tensor(
        [[4, 4], [12, 4], [20, 4], [4, 12], [12, 12], [20, 12], [8, 8]], dtype=torch.float32
    )
    assert torch.equal(points, expected)
    assert torch.equal(strides[:, 0], torch.tensor([8.0] * 6 + [16.0]))


def test_anchor_points_accept_shapes_and_offset():
    points, _ = make_anchor_points([(1, 2)], [10], offset=0.0)
    assert torch.equal(points, torch.tensor([[0.0, 0.0], [10.0, 0.0]]))


def test_atss_boxes_are_grid_cell_size_strides_wide():
    anchors = make_anchors([(2, 2), (1, 1)], [8, 16], grid_cell_size=5.0)
    assert anchors.num_per_level == [4, 1]
    assert torch.equal(anchors.boxes[0], torch.tensor([4 - 20.0, 4 - 20.0, 24.0, 24.0]))
    assert torch.equal(anchors.boxes[4], torch.tensor([8 - 40.0, 8 - 40.0, 48.0, 48.0]))
    assert torch.equal(anchors.points_in_strides[4], torch.tensor([0.5, 0.5]))
