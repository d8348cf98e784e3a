"""The diagnosis model's p(malignant) against the binary classifier, on the same test images.

    python train/diagnosis_vs_binary.py --run runs/dx64 [--binary skinml/assets/classifier] [--json FILE]

Reads a finished diagnosis run's test predictions (`predictions.csv`: p(malignant) is the sum
of mel, bcc and akiec), predicts the same images with the binary classifier (from the run's
image pack, at the binary model's size, with its eight views when its model.json says so) and
prints the AUC of each with a 95% bootstrap interval: on every test image, and on the test
images whose lesion the binary model never trained or tuned on (its `training_images.npz`;
the two models were split differently, so the binary one has seen some of the diagnosis
run's test lesions, and its figure there is no test).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="finished diagnosis run (trained from an image pack)")
    parser.add_argument("--binary", type=Path, help="binary classifier folder (default: the shipped one)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    import numpy as np
    import pandas as pd
    from PIL import Image

    from skinml.cnn.classifier import load_classifier
    from skinml.cnn.seen import read_index as read_training_index
    from skinml.data.diagnoses import MALIGNANT_DIAGNOSES
    from skinml.images.decode import load_image
    from skinml.images.pack import pack_images, read_index
    from skinml.io import read_json
    from skinml.metrics.binary import bootstrap_intervals, headline

    config = read_json(args.run / "config.json") or {}
    if not config.get("pack") or config.get("task") != "diagnosis" or not (args.run / "predictions.csv").exists():
        print(f"error: {args.run} is not a finished diagnosis run trained from an image pack.", file=sys.stderr)
        return 2
    test = pd.read_csv(args.run / "predictions.csv").query("split == 'test'").reset_index(drop=True)
    classes = read_json(args.run / "model" / "model.json")["classes"]
    truth = test["y"].isin([classes.index(c) for c in MALIGNANT_DIAGNOSES]).to_numpy().astype(int)
    p_diagnosis = test[[f"p_{c}" for c in MALIGNANT_DIAGNOSES]].sum(axis=1).to_numpy()

    binary = load_classifier(args.binary, task="binary")
    index = read_index(config["pack"])
    rows = index.reset_index().set_index("isic_id").loc[test["isic_id"], "index"].to_numpy()
    images = np.stack([load_image(Image.fromarray(a), binary.image_size, binary.resize)
                       for a in pack_images(config["pack"])[rows]]).astype("float32") / 255.0
    p_binary = binary.p_malignant(binary.predict_proba(images, tta=bool(binary.info.get("tta", True))))

    seen_ids = set((read_training_index(binary.path) or {}).get("isic_id", []))
    lesions = index.set_index("isic_id")["lesion_id"]
    seen_lesions = {lesions.get(i, "") for i in seen_ids} - {""}
    test_lesions = lesions.reindex(test["isic_id"]).fillna("").to_numpy()
    unseen = np.array([i not in seen_ids and (not les or les not in seen_lesions)
                       for i, les in zip(test["isic_id"], test_lesions)])

    figures = {}
    subsets = (("every test image", np.ones(len(test), bool)), ("lesions the binary model never saw", unseen))
    for subset, keep in subsets:
        y = truth[keep]
        figures[subset] = {"n": int(keep.sum()), "n_malignant": int(y.sum())}
        for name, p in (("diagnosis model", p_diagnosis[keep]), ("binary model", p_binary[keep])):
            interval = bootstrap_intervals(y, p)["auc"]
            figures[subset][name] = {"auc": headline(y, p)["auc"], "auc_interval": interval}
    print(f"AUC of p(malignant) on the test split of {args.run} (95% bootstrap intervals):")
    print("| test images | n (malignant) | diagnosis model (summed) | binary model |")
    print("| --- | --- | --- | --- |")
    for subset, f in figures.items():
        cells = [f"{f[m]['auc']:.3f} ({f[m]['auc_interval'][0]:.3f}-{f[m]['auc_interval'][1]:.3f})"
                 for m in ("diagnosis model", "binary model")]
        print(f"| {subset} | {f['n']} ({f['n_malignant']}) | {cells[0]} | {cells[1]} |")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
