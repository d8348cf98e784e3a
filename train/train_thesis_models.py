"""Retrain the thesis's five CNNs with its recipe and write its comparison table for them.

    python train/train_thesis_models.py --data ../shared/data/isic-sample --epochs 100 --out runs/thesis

Each model trains into OUT/<model> with the thesis's settings (256 px, RMSprop 1e-3, batch
64, no schedule, best epoch on validation accuracy) on skinml's grouped split, and is then
measured like every run (metrics.json, model card). A run already finished is kept; one that
was stopped resumes. The table (`OUT/comparison.csv` and `.md`) has the thesis's columns
(validation accuracy, sensitivity at 0.5, best epoch) plus validation and test AUC, next to
the figures THESIS.md reports.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# THESIS.md's table: validation accuracy %, sensitivity %, best epoch.
THESIS_TABLE = {
    "thesis_base": (69, 74, 11),
    "thesis_dropout": (73, 78, 27),
    "thesis_l2": (70, 78, 36),
    "thesis_l2_dropout": (73, 81, 46),
    "thesis_l2_dropout_aug": (71, 68, 47),
}


def comparison(out: Path):
    """The comparison table of the runs under `out` (a DataFrame, one row per thesis model)."""
    import pandas as pd

    from skinml.io import read_json

    rows = []
    for model, (acc, sens, epoch) in THESIS_TABLE.items():
        metrics = read_json(out / model / "metrics.json", {})
        val, test = metrics.get("val", {}), metrics.get("test", {})
        rows.append({"model": model, "thesis_val_accuracy": acc / 100, "thesis_sensitivity": sens / 100,
                     "thesis_best_epoch": epoch, "val_accuracy": val.get("accuracy"),
                     "val_sensitivity": val.get("sensitivity"), "best_epoch": metrics.get("best_epoch"),
                     "epochs_run": metrics.get("epochs_run"), "val_auc": val.get("auc"),
                     "test_accuracy": test.get("accuracy"), "test_auc": test.get("auc"),
                     "train_seconds": metrics.get("train_seconds")})
    return pd.DataFrame(rows).astype({"best_epoch": "Int64", "epochs_run": "Int64"})


def markdown_table(table) -> str:
    """`table` as a Markdown table, floats with 3 decimals, missing values blank."""
    import pandas as pd

    def cell(v):
        return "" if v is None or v is pd.NA or v != v else f"{v:.3f}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(table.columns) + " |", "|" + " --- |" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="", help="dataset folder (default: skinml's default data)")
    parser.add_argument("--epochs", type=int, default=100, help="epochs per model (the thesis: up to 100)")
    parser.add_argument("--out", default="runs/thesis", help="folder of the five run directories")
    parser.add_argument("--models", nargs="*", default=list(THESIS_TABLE), help="a subset of the five")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    from skinml.cnn.config import THESIS_SETTINGS, TrainConfig
    from skinml.errors import SkinmlError
    from skinml.progress import tqdm_progress
    from skinml.runs import run_status
    from skinml.runs.train import fit_classifier

    out = Path(args.out)
    for model in args.models:
        if model not in THESIS_TABLE:
            print(f"error: '{model}' is not one of the thesis's models: {', '.join(THESIS_TABLE)}", file=sys.stderr)
            return 2
        run_dir = out / model
        if run_status(run_dir) == "finished":
            print(f"{model}: already finished, kept")
            continue
        config = TrainConfig(**{**THESIS_SETTINGS, "epochs": args.epochs, "monitor": "val_accuracy",
                                "calibrate": False, "data": args.data, "model": model,
                                "run_dir": str(run_dir)})
        on_progress, close = (None, lambda: None) if args.quiet else tqdm_progress(desc=model)
        try:
            fit_classifier(config, on_progress)
        except SkinmlError as exc:
            print(f"error: {model}: {exc}", file=sys.stderr)
            return 2
        finally:
            close()
        table = comparison(out)
        table.to_csv(out / "comparison.csv", index=False)
        (out / "comparison.md").write_text(markdown_table(table))
        print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
