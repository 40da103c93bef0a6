"""``detreg info``: a component's signature and docstring, or a model config's size."""

from __future__ import annotations

import argparse
import inspect
import re

from detreg.apps.common import add_common
from detreg.errors import DetregError

DESCRIPTION = "signature and docstring of a component, or a model config's size"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``name``, ``--img-size``, ``--nc``, ``--no-fuse``."""
    p.add_argument("name", help="component name (EMAHook) or model config (yolov6n)")
    p.add_argument("--img-size", type=int, default=640)
    p.add_argument("--nc", type=int, default=80)
    p.add_argument("--no-fuse", dest="fuse", action="store_false", help="count the training-time model")
    add_common(p)


def run(args: argparse.Namespace) -> int:
    """Signature and docstring of a component; model summary for a model config."""
    from detreg.launch import CONFIG_DIR
    from detreg.registry import REGISTRIES, find

    if (CONFIG_DIR / f"{args.name}.yaml").is_file() or args.name.endswith((".yaml", ".yml")):
        return _model_summary(args)
    hits = find(args.name)
    if not hits:
        import difflib

        every = sorted({n for r in REGISTRIES.values() for n in r.names()})
        close = difflib.get_close_matches(args.name, every, n=3, cutoff=0.6)
        hint = (" Did you mean " + " or ".join(f"'{c}'" for c in close) + "?") if close else ""
        raise DetregError(f"unknown component '{args.name}'.{hint} List them with `detreg list`.")
    for kind, entry in hits:
        obj = REGISTRIES[kind].get(args.name)
        sig = _signature(obj)
        print(f"{entry.name}{sig}")
        print(f"  kind: {kind}   from: {entry.origin}   defined in: {obj.__module__}")
        inherited = _inherited(obj)
        if inherited:
            print(f"  also accepts (through **kwargs): {', '.join(inherited)}")
        doc = inspect.getdoc(obj)
        if doc:
            print("\n".join("  " + line for line in doc.splitlines()))
    return 0


def _inherited(obj: object) -> list[str]:
    """Arguments ``obj`` accepts through ``**kwargs`` (its bases' or forwarded ones)."""
    from detreg.registry import parameters

    try:
        own = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return []
    if not any(p.kind is p.VAR_KEYWORD for p in own.values()):
        return []
    return [name for name in parameters(obj) or {} if name not in own]


def _signature(obj: object) -> str:
    """``(a: int = 1, ...)`` with annotations as written, without the ``-> None``."""
    try:
        sig = inspect.signature(obj, eval_str=True)
    except Exception:  # noqa: BLE001 - unresolvable annotations: show them as strings
        try:
            sig = inspect.signature(obj)
        except (TypeError, ValueError):
            return "(...)"
    sig = sig.replace(return_annotation=inspect.Signature.empty)
    text = str(sig).replace("typing.", "").replace("collections.abc.", "")
    text = text.replace("torch.nn.modules.module.Module", "nn.Module").replace("torch.optim.optimizer.", "")
    # Annotated[T, Registry('backbones')] -> T (a 'backbones' config)
    return re.sub(r"Annotated\[(.+?), Registry\('(\w+)'\)\]", r"\1 (a '\2' config)", text)


def _model_summary(args: argparse.Namespace) -> int:
    from detreg.launch import prepare_config
    from detreg.models.summary import model_summary
    from detreg.registry import MODELS

    cfg = prepare_config(args.name, validate=False)
    ctx = {"num_classes": args.nc}
    model = MODELS.build(cfg.data["model"], "model", ctx)
    if args.fuse and hasattr(model, "fuse"):
        model.eval()
        model.fuse()
    s = model_summary(model, img_size=args.img_size)
    state = "fused" if args.fuse else "unfused"
    print(
        f"{args.name}: {s['params'] / 1e6:.2f} M params, {s['gflops']:.2f} GFLOPs "
        f"at {args.img_size}x{args.img_size}, nc={args.nc}, {state}"
    )
    return 0
