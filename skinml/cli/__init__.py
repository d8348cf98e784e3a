"""The command line: one sub-command per module in this package, each with `add_parser`."""

from __future__ import annotations

import argparse
import importlib
import sys

from skinml.errors import SkinmlError, shown

# Sub-command modules: each keeps its heavy imports (Keras, TensorFlow) inside its `run`.
COMMANDS = ["data", "train", "finish", "ship", "make", "evaluate", "predict", "segment", "generate", "explain_eval",
            "bench"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m skinml",
        description="skinml: deep learning on dermoscopy images (ISIC). "
                    "A teaching and research tool, not a medical device.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"skinml.cli.{name}").add_parser(sub)
    return parser


def file_answer(path: str, answer) -> dict:
    """`answer()`, the JSON object of one file of a command's list, or {"file", "ok": false,
    "error"}: a SkinmlError's sentence, or, for a bug, its traceback on stderr and a sentence
    asking for a report. Either way the other files still get their answers."""
    import traceback

    try:
        return answer()
    except SkinmlError as exc:
        return {"file": path, "ok": False, "error": str(exc)}
    except Exception as exc:  # a bug: this file's answer is lost, not the others'
        traceback.print_exc(file=sys.stderr)
        return {"file": path, "ok": False, "error": f"Unexpected error while reading it ({type(exc).__name__}): "
                                                    "please report it with the file."}


def quiet_tensorflow() -> None:
    """Import TensorFlow and Keras with the process's stderr (file descriptor 2) sent to /dev/null:
    TensorFlow's C++ start-up lines ("All log messages before absl::InitializeLog() ...", "oneDNN
    custom operations are on ...") are printed at import and TF_CPP_MIN_LOG_LEVEL does not hide them.
    Anything after the import reaches stderr as usual. Without TensorFlow installed: nothing."""
    import os

    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        try:
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
        except ImportError:
            pass
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command != "data":  # every other command runs a model
        quiet_tensorflow()
    try:
        return int(args.func(args) or 0)
    except SkinmlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file the command was pointed at: a sentence too, never a traceback
        where = f" '{shown(exc.filename)}'" if exc.filename else ""
        print(f"error: cannot use{where}: {exc.strerror or type(exc).__name__}.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
