"""The command line: one sub-command per module in this package, each with `add_parser`."""

from __future__ import annotations

import argparse
import importlib
import sys

from skinml.errors import SkinmlError

# Sub-command modules: each keeps its heavy imports (Keras, TensorFlow) inside its `run`.
COMMANDS = ["data", "evaluate", "predict", "segment", "generate", "explain_eval", "bench"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m skinml",
        description="skinml: deep learning on dermoscopy images (ISIC). "
                    "A teaching and research tool, not a medical device.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"skinml.cli.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SkinmlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
