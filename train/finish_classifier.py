"""Join finished classifier runs into one ensemble, and ship a classifier with the package.

    python train/finish_classifier.py --runs runs/seed0 runs/seed1 --ship skinml/assets/classifier

Several --runs (one recipe, different seeds, the same split) become an ensemble run of their
own (`skinml.cnn.finish.finish_ensemble`: calibrated, thresholded and measured on the same
held-out images as a single run). --ship copies the finished model folder (weights at half
precision, compressed), its held-out predictions and its model card into the package.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=Path, nargs="+", required=True, help="finished run directories")
    p.add_argument("--out", type=Path, help="the ensemble's run directory (default: a new one under runs/)")
    p.add_argument("--ship", type=Path, help="copy the finished classifier folder here (e.g. skinml/assets/classifier)")
    args = p.parse_args(argv)

    from skinml.cnn.finish import finish_ensemble
    from skinml.errors import SkinmlError
    from skinml.runs import new_run_dir

    try:
        run = args.runs[0]
        if len(args.runs) > 1:
            run = finish_ensemble(args.runs, args.out or new_run_dir("ensemble"), compact=bool(args.ship))
        if args.ship:
            args.ship.mkdir(parents=True, exist_ok=True)
            for name in ("model.keras", "model.json", "metrics.json", "MODEL_CARD.md"):
                shutil.copy(run / "model" / name, args.ship / name)
            shutil.copy(run / "predictions.csv", args.ship / "predictions.csv")  # the evaluation page's curves
    except SkinmlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(run)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
