"""A toy detector for engine tests: tiny, fast, and follows the model contract.

Configs reach it by dotted path (``type: toy_components.ToyDetector``); pytest puts
``tests/`` on ``sys.path``.
"""

from __future__ import annotations

import torch
from torch import nn

from detreg.engine import Hook
from detreg.events import ALL_EVENTS


class ToyDetector(nn.Module):
    """Predicts one box and class scores per image from globally pooled conv features."""

    def __init__(self, num_classes: int, width: int = 8, loss_scale: float = 1.0) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.loss_scale = loss_scale
        self.net = nn.Sequential(
            nn.Conv2d(3, width, 3, 2, 1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, 4 + num_classes, 1),
        )

    def forward(self, images: torch.Tensor, targets: torch.Tensor | None = None, epoch: int = 0):
        pooled = self.net(images).mean((2, 3))
        box, logits = pooled[:, :4].sigmoid(), pooled[:, 4:]
        if targets is None:
            h, w = images.shape[2:]
            xyxy = torch.cat(
                [box[:, :2] - box[:, 2:] / 2, box[:, :2] + box[:, 2:] / 2], 1
            ) * images.new_tensor([w, h, w, h])
            return torch.cat([xyxy[:, None], logits.sigmoid()[:, None]], 2)
        b = images.shape[0]
        goal_box = torch.full((b, 4), 0.5, device=images.device)
        goal_cls = torch.zeros(b, self.num_classes, device=images.device)
        for img_idx, cls, *xywh in targets.tolist():
            goal_box[int(img_idx)] = torch.tensor(xywh)
            goal_cls[int(img_idx), int(cls)] = 1.0
        box_loss = (box - goal_box).abs().mean()
        cls_loss = nn.functional.binary_cross_entropy_with_logits(logits, goal_cls)
        return {
            "loss": (box_loss + cls_loss) * self.loss_scale,
            "box": box_loss.detach(),
            "cls": cls_loss.detach(),
        }

    @torch.no_grad()
    def predict(
        self, images: torch.Tensor, conf_thres: float = 0.0, iou_thres: float = 0.65, max_det: int = 300
    ):
        out = self(images)[:, 0]
        score, cls = out[:, 4:].max(1)
        return [torch.cat([o[:4], s[None], c[None].float()])[None] for o, s, c in zip(out, score, cls)]


CALLS: list[tuple[str, str]] = []


class RecordingHook(Hook):
    """Appends ``(label, event)`` to :data:`CALLS` for every event."""

    def __init__(self, label: str = "", fail_on: str | None = None) -> None:
        self.label = label
        self.fail_on = fail_on
        self.count = 0

    def state_dict(self) -> dict:
        return {"count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.count = state["count"]


def _recorder(event: str):
    def method(self: RecordingHook, runner, *args) -> None:
        CALLS.append((self.label, event))
        if event == "after_step":
            self.count += 1
        if self.fail_on == event:
            raise RuntimeError(f"boom in {event}")

    method.__name__ = event
    return method


for _event in ALL_EVENTS:
    setattr(RecordingHook, _event, _recorder(_event))


class ValidateEveryEpochHook(Hook):
    """Runs a trivial validation through ``runner.validate`` and saves last.pt."""

    priority = 60

    def after_epoch(self, runner) -> None:
        runner.validate(lambda: {"mAP50_95": 0.0, "epoch": runner.epoch})
        runner.save_checkpoint(runner.work_dir / "last.pt")
