"""Turn the output of train_shipped_classifier.py into the classifier folder that ships.

It goes through the same finishing step as every training run (skinml.finishing.finish_run):
temperature scaling and the threshold fitted on the validation split, figures with bootstrap
intervals on validation and test, a model card. Then it copies the folder into the package:

    python train/finish_shipped_classifier.py --trained out/ --data ../shared/data/isic-sample

With several `--trained` folders (the same recipe with different seeds) it ships their
ensemble (`skinml.models.ensemble`: the mean of their logits), calibrated and measured as one
model. The shipped weights are stored at half precision, compressed, to stay under 20 MB.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pandas as pd


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trained", type=Path, nargs="+", required=True,
                   help="--out folder(s) of train_shipped_classifier.py; several make an ensemble")
    p.add_argument("--data", required=True, help="the ISIC folder the pack was made from")
    p.add_argument("--run-dir", type=Path, default=Path("runs/shipped"))
    p.add_argument("--dest", type=Path, default=Path(__file__).resolve().parents[1] / "skinml/assets/classifier")
    p.add_argument("--target-sensitivity", type=float, default=0.85)
    args = p.parse_args()

    import keras

    from skinml.cnn.config import TrainConfig
    from skinml.cnn.ensemble import ensemble
    from skinml.cnn.finish import finish_run
    from skinml.data.policy import DataPolicy, prepare
    from skinml.runs import write_json

    runs = [json.loads((folder / "train.json").read_text()) for folder in args.trained]
    trained = runs[0]
    history = pd.read_csv(args.trained[0] / "history.csv")
    config = TrainConfig(
        data=args.data, model=trained["model"], image_size=trained["image_size"], resize="squash",
        epochs=int(trained["epochs"]), batch_size=trained["batch_size"], optimizer="adamw",
        learning_rate=trained["lr"], weight_decay=trained["weight_decay"], schedule="cosine",
        warmup_epochs=trained["warmup_epochs"], augment=trained["augment"],
        label_smoothing=trained["label_smoothing"], class_weight="none", monitor="val_auc",
        patience=int(trained["epochs"]), target_sensitivity=args.target_sensitivity, calibrate=True,
        tta=True, seed=trained["seed"], run_dir=str(args.run_dir))
    run_dir = args.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    members = [keras.saving.load_model(folder / "model.keras", compile=False) for folder in args.trained]
    (members[0] if len(members) == 1 else ensemble(members)).save(run_dir / "best.keras")
    # The first member's curves stand for the run; the time is all members' time.
    seconds = sum(run["train_seconds"] for run in runs) / max(1, len(history))
    history.assign(seconds=seconds).to_csv(run_dir / "history.csv", index=False)
    write_json(run_dir / "config.json", {**config.__dict__, "exclude": []})
    state = {"epoch": len(history), "best_epoch": trained["best_epoch"], "best_score": trained.get("best_val_score", trained.get("best_val_auc"))}
    write_json(run_dir / "state.json", state)
    name = trained["model"] if len(runs) == 1 else f"{trained['model']} x{len(runs)} ensemble"

    df = prepare(args.data, DataPolicy(), balance=True, seed=config.seed)
    finish_run(config, run_dir, df, state, name=name, compact=True)

    args.dest.mkdir(parents=True, exist_ok=True)
    for name in ("model.keras", "model.json", "metrics.json", "MODEL_CARD.md"):
        shutil.copy(run_dir / "model" / name, args.dest / name)
    shutil.copy(run_dir / "predictions.csv", args.dest / "predictions.csv")  # the evaluation page's curves
    print(f"shipped classifier written to {args.dest}")


if __name__ == "__main__":
    main()
