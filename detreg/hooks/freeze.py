"""FreezeHook: keep parts of the model fixed while fine-tuning (``train.freeze: [backbone]``)."""

from __future__ import annotations

from torch import nn

from detreg.engine.hook import Hook, RunnerContract
from detreg.errors import DetregError
from detreg.registry import HOOKS


def modules_under(model: nn.Module, prefixes: list[str]) -> dict[str, list[str]]:
    """For each prefix, the names of the modules it covers (the module itself and everything
    below it: ``backbone`` covers ``backbone.stem`` but not ``backbone2``)."""
    names = [n for n, _ in model.named_modules() if n]
    return {p: [n for n in names if n == p or n.startswith(p + ".")] for p in prefixes}


@HOOKS.register()
class FreezeHook(Hook):
    """Freeze the modules named by ``train.freeze`` (module-name prefixes; priority 6).

    Their parameters stop requiring gradients in ``configure_model`` (before the optimizer,
    EMA and DDP exist), so the optimizer never changes them; their BatchNorm layers are
    kept in eval mode before every step (the runner's ``model.train()`` at each epoch
    start and evaluation's mode restore would otherwise switch them back), so the running
    statistics stay those of the pretrained weights. A frozen part is bit-identical after
    training. A prefix that names no module is an error listing the top-level modules.

    Args:
        freeze: module-name prefixes, e.g. ``[backbone]`` or ``[backbone, neck.reduce_layer0]``
            (from ``train.freeze``).
    """

    priority = 6

    def __init__(self, freeze: list[str]) -> None:
        self.freeze = [str(p).strip(".") for p in freeze]
        self._norms: list[nn.Module] = []

    def configure_model(self, runner: RunnerContract) -> None:
        """Stop gradients of the frozen parameters and collect their norm layers."""
        model = runner.unwrapped_model
        covered = modules_under(model, self.freeze)
        unknown = [p for p, names in covered.items() if not names]
        if unknown:
            top = [n for n, _ in model.named_children()]
            second = [f"{t}.{n}" for t in top[:1] for n, _ in getattr(model, t).named_children()][:3]
            raise DetregError(
                f"train.freeze: {', '.join(unknown)} names no module of the model (module-name "
                f"prefixes: {', '.join(top)}, or deeper such as {', '.join(second)})"
            )
        names = sorted({n for ns in covered.values() for n in ns})
        modules = dict(model.named_modules())
        count = 0
        for name in names:
            for p in modules[name].parameters(recurse=False):
                p.requires_grad_(False)
                count += p.numel()
        self._norms = [modules[n] for n in names if isinstance(modules[n], nn.modules.batchnorm._BatchNorm)]
        total = sum(p.numel() for p in model.parameters())
        runner.logger.info(
            "freeze %s: %d of %d parameters frozen, %d BatchNorm layers in eval mode",
            ", ".join(self.freeze),
            count,
            total,
            len(self._norms),
        )

    def before_step(self, runner: RunnerContract) -> None:
        """Frozen BatchNorm layers use and keep their running statistics."""
        for m in self._norms:
            m.eval()
