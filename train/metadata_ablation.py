"""The metadata ablation: metadata only, image only, image + metadata, on one split.

    python train/metadata_ablation.py --image-run runs/dx-image --meta-run runs/dx-meta

The two runs are finished training runs of one recipe on the same data and split, one with
an image-only model (e.g. skinml_resnet), one with an image + metadata model
(skinml_resnet_meta). The metadata-only model (scikit-learn, fitted here in a minute) uses
the image run's rows and split. Prints a Markdown table of validation and test figures;
--json FILE also writes them. Ship the combination only when validation says it helps.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _figure(m: dict, key: str) -> str:
    value, interval = m.get(key), (m.get("intervals") or {}).get(key)
    if value is None:
        return "n/a"
    return f"{value:.3f}" + (f" ({interval[0]:.3f}-{interval[1]:.3f})" if interval else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-run", required=True, help="finished run of an image-only model")
    parser.add_argument("--meta-run", required=True, help="finished run of an image + metadata model")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    from skinml.cnn.config import TrainConfig
    from skinml.cnn.metadata_only import evaluate_metadata_baseline
    from skinml.errors import SkinmlError
    from skinml.io import read_json

    rows = {}
    for name, run in (("image only", args.image_run), ("image + metadata", args.meta_run)):
        metrics, config = read_json(Path(run) / "metrics.json"), read_json(Path(run) / "config.json")
        if not (metrics and config):
            print(f"error: {run} is not a finished training run (metrics.json, config.json).", file=sys.stderr)
            return 2
        rows[name] = {"run": str(run), "model": config["model"], "task": config["task"],
                      "budget_s": config.get("time_budget"), "epochs_run": metrics.get("epochs_run"),
                      "train_seconds": metrics.get("train_seconds"), "val": metrics["val"], "test": metrics["test"]}
    image_config = TrainConfig.from_dict(read_json(Path(args.image_run) / "config.json"))
    try:
        rows = {"metadata only": {"model": "HistGradientBoosting (scikit-learn)", "task": image_config.task,
                                  **evaluate_metadata_baseline(image_config)}, **rows}
    except SkinmlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if len({r["task"] for r in rows.values()}) != 1:
        print("error: the runs were trained for different tasks.", file=sys.stderr)
        return 2
    diagnosis = image_config.task == "diagnosis"
    keys = ("balanced_accuracy", "macro_auc", "malignant_auc") if diagnosis else ("auc", "balanced_accuracy")
    print("| model | " + " | ".join(f"val {k}" for k in keys) + " | " + " | ".join(f"test {k}" for k in keys)
          + " | n val / test | training |")
    print("| --- " * (2 * len(keys) + 3) + "|")
    for name, r in rows.items():
        budget = f"{r['train_seconds']} s, {r['epochs_run']} epochs" if "train_seconds" in r else "seconds"
        print(f"| {name} ({r['model']}) | " + " | ".join(_figure(r["val"], k) for k in keys) + " | "
              + " | ".join(_figure(r["test"], k) for k in keys) + f" | {r['val']['n']} / {r['test']['n']} | {budget} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
