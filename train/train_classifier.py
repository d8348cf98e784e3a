"""Train a benign/malignant classifier into a run directory; arguments come from TrainConfig.

    python train/train_classifier.py --data DIR --model thesis_base --epochs 3 --run-dir runs/x

Started again with the same --run-dir, a run resumes after its last complete epoch (its
saved config wins). --thesis-settings applies the thesis's recipe (256 px, RMSprop, batch
64, no schedule) before the other arguments. The dashboard starts this same script.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import typing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from skinml.cnn.config import THESIS_SETTINGS, TrainConfig  # noqa: E402


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not '{text}'")


def build_parser() -> argparse.ArgumentParser:
    """One --option per TrainConfig field (underscores become dashes), default None = unset."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="TrainConfig's docstring in skinml/cnn/config.py explains each setting.")
    hints = typing.get_type_hints(TrainConfig)
    for field in dataclasses.fields(TrainConfig):
        kind = hints[field.name]
        flag = "--" + field.name.replace("_", "-")
        help_text = f"default: {field.default!r}"
        if kind is bool:
            parser.add_argument(flag, type=_bool, metavar="BOOL", help=help_text)
        elif typing.get_origin(kind) is tuple:
            parser.add_argument(flag, nargs="*", metavar="COLUMN=VALUE", help=help_text)
        else:
            parser.add_argument(flag, type=kind, help=help_text)
    parser.add_argument("--thesis-settings", action="store_true", help="start from the thesis's recipe")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    values = dict(THESIS_SETTINGS) if args.thesis_settings else {}
    for field in dataclasses.fields(TrainConfig):
        value = getattr(args, field.name)
        if value is not None:
            values[field.name] = tuple(value) if isinstance(value, list) else value
    return TrainConfig(**values)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from skinml.cnn.train import fit_classifier
    from skinml.runs import exit_with_parent, stop_on_sigterm

    stop_on_sigterm()  # the dashboard's Stop button ends the run as "stopped", like Ctrl+C
    exit_with_parent()  # started by the dashboard: end with it
    from skinml.errors import SkinmlError
    from skinml.progress import tqdm_progress

    on_progress, close = (None, lambda: None) if args.quiet else tqdm_progress(desc="training")
    try:
        run_dir = fit_classifier(config_from_args(args), on_progress)
    except SkinmlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130
    finally:
        close()
    print(run_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
