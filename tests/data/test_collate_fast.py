"""The cv2-based image stacking of ``collate`` equals the plain transpose-and-pad reference."""

from __future__ import annotations

import numpy as np
import torch

from detreg.data.collate import _stack
from detreg.data.transforms.functional import PAD_VALUE


def _reference(imgs: list[np.ndarray], h: int, w: int) -> torch.Tensor:
    out = torch.full((len(imgs), 3, h, w), PAD_VALUE, dtype=torch.uint8)
    for i, img in enumerate(imgs):
        ih, iw = img.shape[:2]
        out[i, :, :ih, :iw] = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
    return out


def test_stack_matches_reference_same_and_mixed_shapes() -> None:
    rng = np.random.default_rng(0)
    same = [rng.integers(0, 256, (24, 40, 3), dtype=np.uint8) for _ in range(3)]
    assert torch.equal(_stack(same, 24, 40), _reference(same, 24, 40))
    mixed = [rng.integers(0, 256, s, dtype=np.uint8) for s in [(24, 40, 3), (20, 40, 3), (24, 33, 3)]]
    mixed.append(mixed[0][:, ::-1])  # a non-contiguous view
    assert torch.equal(_stack(mixed, 24, 40), _reference(mixed, 24, 40))
