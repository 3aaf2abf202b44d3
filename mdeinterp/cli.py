"""Command line: ``python -m mdeinterp {train, eval, make-data, dissect, rerun} ...``.

Flags share their names with the config fields (dashes for underscores), so
``--batch-size 4`` overrides ``TrainConfig.batch_size`` of the chosen preset. A problem the user
can fix (the package's own :class:`~mdeinterp.errors.MdeinterpError` and file-system errors) is
printed as one line ``error: ...`` on stderr with exit status 2; ``--debug`` shows the traceback
instead. Any other exception is a bug in the package: it keeps its traceback and exit status 1.
``rerun`` exits with status 3 when the new run differs from the old one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Collection
from typing import Any, NoReturn, Sequence

from .errors import MdeinterpError

EXIT_USER_ERROR = 2
EXIT_RUNS_DIFFER = 3
# Errors a user can fix at the command line: printed as one line instead of a traceback. A plain
# ValueError (or anything else) raised inside the package is a bug and must show where it came from.
USER_ERRORS = (MdeinterpError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)


class OneLineParser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line, like every other error of the CLI."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``mdeinterp`` command."""
    parser = OneLineParser(prog="mdeinterp", description="Depth selectivity of units in monocular depth networks.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser)

    # Every subcommand also accepts --debug after its name; SUPPRESS keeps a global --debug intact.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument(
        "--threads", type=int, default=None,
        help="CPU threads for torch (default: torch's choice; use 1 when other processes share the cores)",
    )

    def data_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--preset", default=None, help="named configuration (default: tiny, or the checkpoint's)")
        p.add_argument("--data", default=None, help="data file (real data) or cache folder (synthetic)")
        p.add_argument(
            "--data-format", dest="format", default=None,
            help="a name of mdeinterp.data.DATASET_BUILDERS (default: inferred from --data)"
        )
        p.add_argument("--device", default=None, help="auto (default), cpu, cuda or cuda:N")
        p.add_argument("--batch-size", type=int, default=None)

    train = commands.add_parser("train", parents=[common], help="train a model (baseline or with the selectivity term)")
    train.add_argument("--preset", default=None, help="named configuration (default: tiny)")
    config_flags(train)
    train.add_argument("--out", default="runs", help="folder of run directories (default: runs)")
    train.add_argument("--name", default=None, help="run directory name (default derived from the config)")
    train.add_argument("--resume", action="store_true", help="continue the run directory's last checkpoint")
    train.add_argument("--fresh", action="store_true", help="remove the run directory's training files and train anew")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(func=cmd_train)

    ev = commands.add_parser("eval", parents=[common], help="evaluate a checkpoint on the test split")
    ev.add_argument("--checkpoint", required=True)
    data_flags(ev)
    ev.set_defaults(func=cmd_eval)

    make = commands.add_parser("make-data", parents=[common], help="render synthetic scenes to an HDF5 file")
    make.add_argument("--kind", default="indoor", help="indoor (NYUv2-like) or outdoor (KITTI-like)")
    make.add_argument("--n", type=int, default=2000, help="number of images")
    make.add_argument("--seed", type=int, default=0)
    make.add_argument("--out", required=True, help="output file")
    make.add_argument("--height", type=int, default=None)
    make.add_argument("--width", type=int, default=None)
    make.add_argument("--split", default="train", help="train or test (disjoint random streams)")
    make.add_argument("--renderer", type=int, default=None, help="renderer version, 5 (default) or 4")
    make.set_defaults(func=cmd_make_data)

    dis = commands.add_parser("dissect", parents=[common], help="dissect layers of a checkpoint (depth responses)")
    dis.add_argument("--checkpoint", required=True)
    dis.add_argument("--layers", required=True, help="comma-separated layer names, e.g. D,MFF")
    dis.add_argument("--split", default="train", help="split to dissect (the reference uses train)")
    dis.add_argument("--max-images", type=int, default=None)
    dis.add_argument("--num-bins", type=int, default=None, help="depth bins K (default: the run's, else min(units, 64))")
    dis.add_argument("--out", required=True, help="output file of the dissection")
    data_flags(dis)
    dis.set_defaults(func=cmd_dissect)

    rerun = commands.add_parser(
        "rerun", parents=[common],
        help="train a finished run again from its config.json and compare the two bit for bit",
        description="Train RUN_DIR's config.json again from scratch and list every difference of config, weights "
                    "and per-epoch metrics (timings aside). Same seed, same machine and the same --threads "
                    "(default 1, as make reproduce's workers) should give none; exit status 3 when they differ.")
    rerun.add_argument("run_dir", help="a finished run directory (config.json, checkpoint.pt, done)")
    rerun.add_argument("--out", default=None, help="folder for the new run (default: a temporary folder, removed)")
    rerun.add_argument("--quiet", action="store_true", help="no progress bars")
    rerun.set_defaults(func=cmd_rerun)
    return parser


# ---- commands ----------------------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> None:
    """Train the preset with the given overrides and print the run directory and final metrics."""
    from .config import build_config
    from .rundir import read_done
    from .train import resolve_config, train

    overrides = _overrides(args, *(name for name, _ in flag_fields()))
    config = build_config(args.preset or "tiny", **overrides)
    _check_alpha_and_layers(args, config)
    resolved = resolve_config(config)
    if not args.quiet or resolved.data.format != "synthetic":  # real data: always say which range it is binned in
        print(depth_range_line(args, resolved))
    run_dir = train(config, out=args.out, name=args.name, resume=args.resume, progress=not args.quiet,
                    fresh=args.fresh)
    print(f"run: {run_dir}")
    metrics = read_done(run_dir)
    if metrics is not None:
        from .metrics import METRIC_KEYS

        print(format_metrics({k: v for k, v in metrics.items() if k in METRIC_KEYS}))


def cmd_eval(args: argparse.Namespace) -> None:
    """Print the test metrics of a checkpoint as a table."""
    from .data import make_dataset
    from .inference import evaluate
    from .train import resolve_device

    config, model = _load_model(args)
    dataset = make_dataset(config.data, "test")
    device = resolve_device(config.device)
    metrics = evaluate(
        model.to(device), dataset, config.data.d_max, config.batch_size, device,
        garg_crop=config.data.garg_crop, progress=True,
    )
    print(format_metrics(metrics))


def cmd_make_data(args: argparse.Namespace) -> None:
    """Render synthetic scenes to a file."""
    from .config import get_preset
    from .data.synthetic import write_synthetic

    # Default size: the matching tiny preset's, so the file fits `train --preset tiny[_outdoor]`.
    preset = get_preset("tiny_outdoor" if args.kind == "outdoor" else "tiny").data
    height = args.height if args.height is not None else preset.height
    width = args.width if args.width is not None else preset.width
    version = args.renderer if args.renderer is not None else preset.renderer
    path = write_synthetic(args.kind, args.n, args.seed, args.out, height, width, split=args.split, version=version)
    print(f"wrote {path}")


def cmd_dissect(args: argparse.Namespace) -> None:
    """Dissect layers of a checkpoint over a split (not augmented) and save the depth responses."""
    from pathlib import Path

    from .config import parse_layers
    from .dissection import dissect
    from .io import ensure_writable_dir
    from .run import dissection_data
    from .train import resolve_device

    config, model = _load_model(args)
    layers = parse_layers(args.layers)
    if not layers:
        raise MdeinterpError("--layers is empty; expected comma-separated layer names, e.g. D,MFF")
    if args.max_images is not None and args.max_images < 1:
        raise MdeinterpError(f"--max-images must be a positive number of images, got {args.max_images}")
    if not args.out.strip():
        raise MdeinterpError("--out is empty; expected the path of the dissection file to write, e.g. dissection.h5")
    num_bins = args.num_bins if args.num_bins is not None else config.num_bins  # 0 is refused, not the default
    if num_bins is not None and num_bins < 2:
        raise MdeinterpError(f"--num-bins must be at least 2 (DS compares a unit's best bin with the others), "
                             f"got {num_bins}")
    check_dissection_size(num_bins, len(layers), config.data.height * config.data.width)
    dataset = dissection_data(config, args.split)
    ensure_writable_dir(Path(args.out).resolve().parent)
    dissection = dissect(
        model, dataset, layers, num_bins=num_bins, d_min=config.data.d_min,
        d_max=config.data.d_max, batch_size=config.batch_size, device=resolve_device(config.device),
        max_images=args.max_images,
    )
    print(f"wrote {dissection.save(args.out)}")


# ---- helpers -----------------------------------------------------------------------------------------

#: Config fields whose flag has another name (``--data`` is the path, ``--model`` the architecture).
FLAG_NAMES = {"path": "data", "format": "format", "arch": "model"}
#: Config fields that are not flags: the sections themselves.
NOT_FLAGS = ("data", "model")


def cmd_rerun(args: argparse.Namespace) -> int:
    """Train a finished run's config again and print how the two runs differ; return 0 or EXIT_RUNS_DIFFER."""
    import tempfile
    from pathlib import Path

    from .config import load_config
    from .rundir import machine_differences, read_done, run_differences
    from .train import train

    old = Path(args.run_dir)
    if read_done(old) is None or not (old / "config.json").is_file():
        raise MdeinterpError(f"{old} is not a finished run directory (expected config.json, checkpoint.pt and done)")
    if args.out is not None and (Path(args.out) / old.name).exists():
        raise MdeinterpError(f"{Path(args.out) / old.name} exists; rerun trains into a new folder (choose another --out)")
    if args.threads is None:
        _set_threads(1)  # make reproduce's workers train with one thread each; results can depend on the count
    config = load_config(str(old / "config.json"))
    with tempfile.TemporaryDirectory(prefix="mdeinterp-rerun-") as scratch:
        new = train(config, out=args.out or scratch, name=old.name, progress=not args.quiet)
        found, machine = run_differences(old, new), machine_differences(old, new)
    if not found:
        print(f"{old} reproduced bit for bit: same config, weights and per-epoch metrics (timings aside)")
        return 0
    print(f"{old} and its rerun differ in {len(found)} places:")
    for line in found[:20]:
        print(f"  {line}")
    if len(found) > 20:
        print(f"  ... and {len(found) - 20} more")
    if machine:  # another CPU's kernels can round differently, and training grows that
        print("trained on another machine or software (meta.json): " + "; ".join(machine))
    return EXIT_RUNS_DIFFER


def flag_fields() -> list[tuple[str, Any]]:
    """Return (override name, dataclass field) of every config field that is a ``train`` flag, in declaration order.

    The override name is the field's name (a key of :func:`mdeinterp.config.build_config`), or its
    alias in :data:`FLAG_NAMES`. A field added to a config dataclass becomes a flag with no CLI edit.
    """
    from dataclasses import fields

    from .config import DataConfig, ModelConfig, TrainConfig

    found = []
    for cls in (DataConfig, ModelConfig, TrainConfig):
        for f in fields(cls):
            if f.name not in NOT_FLAGS:
                found.append((FLAG_NAMES.get(f.name, f.name), f))
    return found


def config_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup, skip: Collection[str] = ()) -> list[str]:
    """Add one flag per config field to ``parser``: name, type and help from the dataclass field (its ``help`` metadata).

    Fields named in ``skip`` (flags the caller defines itself) are left out. Returns the override names added:
    each flag's ``dest``, a key of :func:`mdeinterp.config.build_config`.
    """
    import typing

    from .config import DataConfig, ModelConfig, TrainConfig

    hints = {**typing.get_type_hints(DataConfig), **typing.get_type_hints(ModelConfig),
             **typing.get_type_hints(TrainConfig)}
    added = []
    for name, f in flag_fields():
        if name in skip:
            continue
        added.append(name)
        flag = "--data-format" if name == "format" else "--" + name.replace("_", "-")
        help_text = f.metadata.get("help", "")
        kind = hints[f.name]
        args = typing.get_args(kind)
        base = next((a for a in args if a is not type(None)), kind) if args and type(None) in args else kind
        if base is bool:
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif base in (int, float):
            parser.add_argument(flag, dest=name, type=base, default=None, help=help_text)
        else:  # str, and tuples given comma-separated (parsed by build_config)
            parser.add_argument(flag, dest=name, default=None, help=help_text)
    return added


#: Bytes a dissection keeps per unit and bin (float64 sums, and the batch's per-bin work), for a lower bound of memory.
DISSECTION_BYTES_PER_UNIT_BIN = 8 * 4
DISSECTION_UNITS_BOUND = 64  # units assumed per layer in that bound (the tiny models' layers have 32-64)


def check_dissection_size(num_bins: int | None, num_layers: int, pixels: int) -> None:
    """Refuse a number of bins K with more bins than pixels of an image, or whose sums exceed the memory."""
    from .io import check_memory

    if num_bins is None:
        return
    if num_bins < 1:
        raise MdeinterpError(f"--num-bins must be a positive integer, got {num_bins}")
    if num_bins > pixels:
        raise MdeinterpError(f"--num-bins {num_bins} exceeds the {pixels} pixels of an image: most bins would stay "
                             "empty; use at most the units of the layer (the paper: min(units, 64))")
    check_memory(num_bins * num_layers * DISSECTION_UNITS_BOUND * DISSECTION_BYTES_PER_UNIT_BIN,
                 f"dissecting {num_layers} layer(s) into {num_bins} bins", "lower --num-bins")


def _check_alpha_and_layers(args: argparse.Namespace, config: Any) -> None:
    """Refuse ``--layers`` without a non-zero α and a non-zero ``--alpha`` without ``--layers``: one is useless alone."""
    if args.layers is not None and config.alpha == 0:
        raise MdeinterpError(
            f"--layers {args.layers} needs a non-zero selectivity weight to train them: add --alpha 0.1 (the paper's)"
        )
    if args.alpha and args.layers is None:
        raise MdeinterpError(
            f"--alpha {args.alpha} needs the layers it applies to: add --layers, e.g. --layers {','.join(config.layers)}"
        )


def depth_range_line(args: argparse.Namespace, config: Any) -> str:
    """Return the line that says which SID range (metres) a run uses and where it comes from."""
    from .config import DEPTH_RANGES

    data = config.data
    line = f"depth range (SID bins and evaluation cap): {data.d_min:g}-{data.d_max:g} m"
    if args.d_min is not None or args.d_max is not None:
        return line + " (given by --d-min/--d-max)"
    line += f" (the {args.preset or 'tiny'} preset's)"
    own = DEPTH_RANGES.get(data.kind if data.format == "synthetic" else data.format)
    if own is not None and own != (data.d_min, data.d_max):
        line += f"; {data.format} data usually span {own[0]:g}-{own[1]:g} m: pass --d-min/--d-max to use that"
    return line


def format_metrics(metrics: dict[str, float]) -> str:
    """Return ``metrics`` as a two-row Markdown table in the paper's column order."""
    from .metrics import METRIC_KEYS

    keys = [k for k in METRIC_KEYS if k in metrics] + [k for k in metrics if k not in METRIC_KEYS]
    header = "| " + " | ".join(keys) + " |"
    rule = "|" + "|".join("---:" for _ in keys) + "|"
    values = "| " + " | ".join(f"{metrics[k]:.4f}" for k in keys) + " |"
    return "\n".join((header, rule, values))


def _overrides(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def _load_model(args: argparse.Namespace):
    """Return (config, model) for ``--checkpoint``: the checkpoint's own config unless ``--preset`` is given."""
    from pathlib import Path

    from .config import build_config, from_dict
    from .errors import CheckpointError, ConfigError
    from .models import create_model
    from .models.checkpoint import load_checkpoint, read_checkpoint
    from .train import resolve_config

    path = Path(args.checkpoint)
    if path.is_dir():
        hint = f" (it holds {path / 'checkpoint.pt'}: pass that)" if (path / "checkpoint.pt").is_file() else ""
        raise CheckpointError(f"--checkpoint {path} is a folder; expected a checkpoint file{hint}")
    stored = read_checkpoint(path)
    if args.preset is None and isinstance(stored, dict) and isinstance(stored.get("config"), dict):
        try:
            base = from_dict(stored["config"])
        except ConfigError as exc:
            raise CheckpointError(f"checkpoint {path} has an invalid config: {exc}; pass --preset to use a "
                                  "preset's config with its weights") from None
    else:
        base = args.preset or "tiny"
    config = build_config(base, data=args.data, **_overrides(args, "format", "device", "batch_size"))
    config = resolve_config(config)  # data format "auto" -> the path's format (garg_crop reads it)
    # weights come from the checkpoint, never downloaded; the options (e.g. max_depth) from the config
    model = create_model(config.model.arch, **{**config.model.options(), "pretrained": None})
    load_checkpoint(args.checkpoint, model)
    return config, model


def _set_threads(threads: int) -> None:
    # On a busy 2-core machine torch's default (one thread per core) can be ~10x slower than 1 thread,
    # because its threads wait on each other at every operation; the choice never changes results' meaning.
    if threads < 1:
        raise MdeinterpError(f"--threads must be a positive integer, got {threads}")
    import torch

    torch.set_num_threads(threads)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status (0 ok, 2 for an error the user can fix)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.threads is not None:
            _set_threads(args.threads)
        status = args.func(args)
    except USER_ERRORS as exc:
        if args.debug:
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:
        from .io import disk_full

        if args.debug or not disk_full(exc):
            raise
        print(f"error: no space left on the device ({' '.join(str(exc).split())[:200]})", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("error: interrupted", file=sys.stderr)
        return 130
    return status or 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
