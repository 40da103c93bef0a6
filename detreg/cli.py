"""Command-line entry points: ``detreg``, ``detreg-train``, ``detreg-eval``, ``detreg-infer``,
``detreg-export``.

User mistakes (:class:`~detreg.errors.DetregError`) print one clear message and exit 2,
with no traceback unless ``--debug`` is given. Heavy modules load only when needed, so
``detreg list`` answers fast.
"""

from __future__ import annotations

import argparse
import fnmatch
import inspect
import os
import re
import sys
from collections.abc import Callable, Sequence

from detreg import __version__
from detreg.errors import DetregError

EXIT_USER_ERROR = 2


def _guard(fn: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run ``fn``; turn user errors into one message and an exit code."""
    if getattr(args, "debug", False) or os.environ.get("DETREG_DEBUG"):
        return fn(args)
    try:
        return fn(args)
    except DetregError as exc:
        notes = getattr(exc, "__notes__", [])
        msg = str(exc) + "".join(f" ({n})" for n in notes)
        print(f"detreg: error: {msg}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("detreg: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `detreg list | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", action="store_true", help="show full tracebacks")


def _trust_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--trust-imports",
        action="store_true",
        help="allow the config stored in the checkpoint to import code (imports:, dotted type paths)",
    )


def _config_args(p: argparse.ArgumentParser, required: bool = False) -> None:
    p.add_argument(
        "config", nargs=None if required else "?", help="config file or built-in name (e.g. yolov6n)"
    )
    p.add_argument("overrides", nargs="*", help="key.sub=value overrides (values parsed as YAML)")
    p.add_argument("--data", help="a YOLOv6/Ultralytics-style data yaml (path, train, val, nc, names)")


def _parse(p: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv`` letting ``key=value`` overrides stand anywhere (before or after flags).

    argparse cannot interleave positionals with options, so overrides are pulled out first.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    overrides = [a for a in argv if not a.startswith("-") and "=" in a and not os.path.exists(a)]
    args = p.parse_args([a for a in argv if a not in overrides])
    if overrides:
        if not hasattr(args, "overrides"):
            p.error(f"unexpected overrides: {' '.join(overrides)}")
        args.overrides = [*(args.overrides or []), *overrides]
    return args


# ---------------------------------------------------------------------- detreg list/info
def cmd_list(args: argparse.Namespace) -> int:
    """Print registered names with their origin (detreg or a plugin distribution)."""
    from detreg.registry import KINDS, REGISTRIES, plugin_failures

    if args.kind == "configs":
        return _list_configs(args.pattern)
    kinds = list(KINDS)
    pattern = args.pattern
    if args.kind and args.kind not in REGISTRIES:
        singular = {k[:-1]: k for k in KINDS} | {"loss": "losses"}
        if args.kind in singular:
            kinds = [singular[args.kind]]
        elif pattern is None:  # `detreg list EMA*` filters every kind
            pattern = args.kind
        else:
            raise DetregError(f"unknown kind '{args.kind}'; kinds: {', '.join(KINDS)}")
    elif args.kind:
        kinds = [args.kind]
    for kind in kinds:
        rows = []
        for e in REGISTRIES[kind].entries():
            if pattern and not _match(e.name, pattern):
                continue
            alias = f"  (alias of {e.canonical})" if e.canonical else ""
            rows.append(f"  {e.name:<28} {e.origin}{alias}")
        if rows or not pattern:
            print(f"{kind}:")
            print("\n".join(rows) if rows else "  (none)")
    for f in plugin_failures():
        print(f"failed plugin: {f}")
    return 0


def _list_configs(pattern: str | None) -> int:
    """The built-in configs with their size (80 classes, fused, 640x640) and first comment line."""
    from detreg.builtin_configs import builtin_config_dir, builtin_config_names, find_builtin
    from detreg.config import load_config
    from detreg.models.summary import config_summary

    print(f"built-in configs (in {builtin_config_dir()}; params and GFLOPs: fused, 80 classes, 640x640):")
    for name in builtin_config_names():
        if pattern and not _match(name, pattern):
            continue
        path = find_builtin(name)
        s = config_summary(load_config(path).data["model"])
        first = (path.read_text().splitlines() or [""])[0]
        about = first.lstrip("# ").split(": ")[0].strip() if first.startswith("#") else ""
        print(f"  {name:<14} {s['params'] / 1e6:6.2f} M {s['gflops']:7.2f} GFLOPs  {about}", flush=True)
    return 0


def _match(name: str, pattern: str) -> bool:
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatch(name.lower(), pattern.lower())
    return pattern.lower() in name.lower()


def cmd_info(args: argparse.Namespace) -> int:
    """Signature and docstring of a component; model summary for a model config."""
    from detreg.launch import CONFIG_DIR
    from detreg.registry import find

    if (CONFIG_DIR / f"{args.name}.yaml").is_file() or args.name.endswith((".yaml", ".yml")):
        return _model_summary(args)
    hits = find(args.name)
    if not hits:
        import difflib

        from detreg.registry import REGISTRIES

        every = sorted({n for r in REGISTRIES.values() for n in r.names()})
        close = difflib.get_close_matches(args.name, every, n=3, cutoff=0.6)
        hint = (" Did you mean " + " or ".join(f"'{c}'" for c in close) + "?") if close else ""
        raise DetregError(f"unknown component '{args.name}'.{hint} List them with `detreg list`.")
    for kind, entry in hits:
        obj = __import__("detreg.registry", fromlist=["REGISTRIES"]).REGISTRIES[kind].get(args.name)
        sig = _signature(obj)
        print(f"{entry.name}{sig}")
        print(f"  kind: {kind}   from: {entry.origin}   defined in: {obj.__module__}")
        doc = inspect.getdoc(obj)
        if doc:
            print("\n".join("  " + line for line in doc.splitlines()))
    return 0


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


# ---------------------------------------------------------------------- detreg hooks/check
def cmd_hooks(args: argparse.Namespace) -> int:
    """Print, per event, the hooks that run and their order."""
    from detreg.events import ALL_EVENTS
    from detreg.launch import prepare_config
    from detreg.registry import HOOKS

    cfg = prepare_config(args.config, args.overrides, args.data)
    from detreg.engine.runner import hook_priority, overridden_events

    hooks = []
    for index, (name, hcfg) in enumerate((cfg.data.get("hooks") or {}).items()):
        if hcfg is None:
            continue
        cls = HOOKS.get(hcfg["type"])
        hooks.append((hook_priority(hcfg), index, name, cls))
    hooks.sort(key=lambda t: (t[0], t[1]))
    print(f"hooks of {cfg.path} (lower priority runs first; ties keep config order)")
    for event in ALL_EVENTS:
        rows = [
            f"{pr:>4}  {name} ({cls.__name__})"
            for pr, _, name, cls in hooks
            if event in overridden_events(cls)
        ]
        print(f"{event}:")
        print("\n".join("  " + r for r in rows) if rows else "  -")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Validate a config fully; exit non-zero listing every problem."""
    from detreg.config import check
    from detreg.launch import prepare_config
    from detreg.registry import code_references

    cfg = prepare_config(args.config, args.overrides, args.data, validate=False)
    refs = code_references(cfg.data)
    if refs:
        print(f"{cfg.path}: imports user code: {'; '.join(refs)}")
    check(cfg)
    n_hooks = sum(1 for v in (cfg.data.get("hooks") or {}).values() if v is not None)
    print(f"{cfg.path}: OK (model {cfg.data['model'].get('type')}, {n_hooks} hooks)")
    return 0


# ---------------------------------------------------------------------- detreg-train
def cmd_train(args: argparse.Namespace) -> int:
    """Validate the config, write it to the work dir, run training."""
    from detreg.launch import prepare_config

    resume = args.resume
    if resume not in (None, "auto") and args.config is None:  # `--resume path/last.pt` alone
        cfg = _stored_config(resume, args.overrides, args.data, trust_imports=args.trust_imports)
        args.work_dir = args.work_dir or os.path.dirname(resume)
    else:
        cfg = prepare_config(args.config, args.overrides, args.data)
    if args.check:
        print(f"{cfg.path}: OK")
        return 0
    from detreg.config import dump
    from detreg.engine.runner import Runner

    work_dir = args.work_dir or cfg.data.get("work_dir")
    if resume == "auto":
        if not work_dir:
            raise DetregError(
                "--resume without a path needs a work dir (--work-dir or work_dir: in the config)"
            )
        resume = os.path.join(work_dir, "last.pt")
        if not os.path.isfile(resume):
            raise DetregError(f"--resume: no checkpoint at {resume}")
    runner = Runner(cfg, work_dir=work_dir, resume=resume)
    if runner.is_main:
        dump(cfg, runner.work_dir / "config.yaml")
    runner.train()
    return 0


def _stored_config(
    weights: str,
    overrides: Sequence[str],
    data: str | None,
    need_data: bool = True,
    trust_imports: bool = False,
):
    """The config stored in checkpoint ``weights``, with overrides and ``--data`` applied.

    A checkpoint is data: its config may only name registered components. Dotted import
    paths and ``imports:`` in it are refused unless ``trust_imports`` (``--trust-imports``).
    """
    import tempfile
    from pathlib import Path

    from detreg.config import dump
    from detreg.engine.checkpoint import load_checkpoint
    from detreg.launch import prepare_config
    from detreg.registry import code_references

    stored = load_checkpoint(weights).get("config")
    if not isinstance(stored, dict):
        raise DetregError(f"{weights}: the checkpoint holds no config; pass the config file too")
    refs = code_references(stored)
    if refs and not trust_imports:
        raise DetregError(
            f"{weights}: the config stored in this checkpoint would import code ({'; '.join(refs)}); "
            "code named in a checkpoint is never imported. Pass the config file it was trained with "
            "(its path first on the command line), or add --trust-imports if you trust this file"
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        dump(stored, path)
        cfg = prepare_config(path, list(overrides), data, need_data=need_data)
    cfg.path = Path(weights)
    return cfg


# ---------------------------------------------------------------------- parsers
def build_parser(with_data: bool = True) -> argparse.ArgumentParser:
    """The ``detreg`` parser with its subcommands (``data`` imports cv2: only when asked)."""
    p = argparse.ArgumentParser(prog="detreg", description="detreg: plugin-registry object detection toolbox")
    p.add_argument("--version", action="version", version=f"detreg {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser(
        "list", help="list registered components (detreg list [kind] [pattern]) or built-in configs"
    )
    s.add_argument("kind", nargs="?", help="hooks, models, losses, ..., configs (or a pattern)")
    s.add_argument("pattern", nargs="?", help="substring or glob (EMA*)")
    _common(s)
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("info", help="signature and docstring of a component, or a model config's size")
    s.add_argument("name", help="component name (EMAHook) or model config (yolov6n)")
    s.add_argument("--img-size", type=int, default=640)
    s.add_argument("--nc", type=int, default=80)
    s.add_argument("--no-fuse", dest="fuse", action="store_false", help="count the training-time model")
    _common(s)
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("hooks", help="print the per-event hook table of a config")
    _config_args(s, required=True)
    _common(s)
    s.set_defaults(func=cmd_hooks)

    s = sub.add_parser("check", help="validate a config (every type, every argument)")
    _config_args(s, required=True)
    _common(s)
    s.set_defaults(func=cmd_check)

    s = sub.add_parser("train", help="same as detreg-train")
    _train_args(s)
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("data", help="dataset tools: synth, check, convert, show-batch")
    if with_data:
        from detreg.data.cli import add_parsers

        add_parsers(s.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND"))
    _common(s)
    return p


def _train_args(p: argparse.ArgumentParser) -> None:
    _config_args(p)
    p.add_argument("--work-dir", help="output folder (default: runs/train/expN)")
    p.add_argument(
        "--resume", nargs="?", const="auto", default=None, help="continue from work_dir/last.pt or PATH"
    )
    p.add_argument("--check", action="store_true", help="validate the config and exit")
    _trust_arg(p)
    _common(p)


def main(argv: Sequence[str] | None = None) -> int:
    """``detreg`` entry point."""
    argv = list(sys.argv[1:] if argv is None else argv)
    wants_data = bool(argv) and argv[0] == "data" or any(a in ("-h", "--help") for a in argv[:1])
    parser = build_parser(with_data=wants_data)
    args = _parse(parser, argv)
    return _guard(args.func, args)


def train_main(argv: Sequence[str] | None = None) -> int:
    """``detreg-train cfg.yaml [key=value ...] [--data D] [--work-dir W] [--resume [PATH]]``."""
    p = argparse.ArgumentParser(prog="detreg-train", description="train a detector from a config")
    _train_args(p)
    return _guard(cmd_train, _parse(p, argv))


def cmd_eval(args: argparse.Namespace) -> int:
    """Evaluate a checkpoint on the config's validation set."""
    from pathlib import Path

    from detreg.apps.evaluate import evaluate_checkpoint

    cfg = _config_for_weights(args)
    out = Path(args.work_dir) if args.work_dir else Path(args.weights).parent / "eval"
    evaluate_checkpoint(cfg, args.weights, out, args.conf, args.iou, args.batch_size, args.device)
    return 0


def _config_for_weights(args: argparse.Namespace, need_data: bool = True):
    """The config given, or (with only ``--weights``) the one stored in the checkpoint."""
    from detreg.launch import prepare_config

    if args.config is not None:
        return prepare_config(args.config, args.overrides, args.data, need_data=need_data)
    trust = getattr(args, "trust_imports", False)
    return _stored_config(args.weights, args.overrides, args.data, need_data, trust)


def eval_main(argv: Sequence[str] | None = None) -> int:
    """``detreg-eval [cfg.yaml] --weights best.pt [key=value ...] [--data D]``."""
    p = argparse.ArgumentParser(prog="detreg-eval", description="evaluate a checkpoint (COCO mAP)")
    _config_args(p)
    p.add_argument("--weights", required=True, help="checkpoint to evaluate (EMA weights preferred)")
    p.add_argument("--conf", type=float, default=None, help="score threshold (default: the EvalHook's, 0.03)")
    p.add_argument("--iou", type=float, default=None, help="NMS IoU (default: the EvalHook's, 0.65)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--work-dir", help="where plots and metrics.json go (default: next to the weights, eval/)")
    _trust_arg(p)
    _common(p)
    return _guard(cmd_eval, _parse(p, argv))


def infer_main(argv: Sequence[str] | None = None) -> int:
    """``detreg-infer [cfg.yaml] --weights best.pt --source DIR|IMAGE`` (see detreg.apps.infer)."""
    from detreg.apps.infer import main as infer

    return infer(argv)


def export_main(argv: Sequence[str] | None = None) -> int:
    """``detreg-export [cfg.yaml] --weights best.pt --format onnx`` (see detreg.apps.export)."""
    from detreg.apps.export import main as export

    return export(argv)


if __name__ == "__main__":
    sys.exit(main())
