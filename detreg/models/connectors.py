"""Learned 1x1 connectors that map a student's feature levels to a teacher's widths."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn


class FeatureConnectors(nn.Module):
    """Per level a 1x1 conv (no bias) from the student's to the teacher's channels, then a
    BatchNorm, as MMYOLO's RTMDet distillation connects and normalises features
    (``ConvModuleConnector``: conv + BN, no activation).

    Trained with the student, never part of it: the distillation hook owns them.
    """

    def __init__(self, student_channels: Sequence[int], teacher_channels: Sequence[int]) -> None:
        super().__init__()
        if len(student_channels) != len(teacher_channels):
            raise ValueError(
                f"{len(student_channels)} student feature levels but {len(teacher_channels)} teacher levels"
            )
        self.levels = nn.ModuleList(
            nn.Sequential(nn.Conv2d(int(s), int(t), 1, bias=False), nn.BatchNorm2d(int(t)))
            for s, t in zip(student_channels, teacher_channels)
        )

    def forward(self, feats: Sequence[Tensor]) -> list[Tensor]:
        """The student's levels mapped to the teacher's widths."""
        return [m(f) for m, f in zip(self.levels, feats)]
