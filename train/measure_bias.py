"""Write a classifier's bias test (`bias.json`): its AUC on held-out photos, with the lesion removed
and with only the lesion, each with a 95% interval resampled by lesion (`skinml.explain.bias`).

    python train/measure_bias.py skinml/assets/classifier --trained-on ../shared/data/isic-sample
    python train/measure_bias.py skinml/assets/diagnosis --trained-on ../shared/data/isic-sample ../shared/data/ham10000

The photos are HAM10000 images with a dermatologist's outline whose image and lesion the model
never learned from or was tuned on (its training_images.npz, by ISIC id, lesion and pixels),
one per lesion, a seeded draw (--n, the malignant first). A model that reads age, sex and site
is measured with them and again without them (`image_only`). Inference only; runs niced.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    from skinml import SHARED_DATA

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="classifier folder with training_images.npz")
    parser.add_argument("--data", default=str(SHARED_DATA / "ham10000"), help="HAM10000-style folder with masks")
    parser.add_argument("--masks", help="folder of <isic_id>_segmentation.png (default: beside --data)")
    parser.add_argument("--trained-on", nargs="*", default=[], metavar="DIR",
                        help="the folders the model was trained on (their lesion ids name the images it saw)")
    parser.add_argument("--n", type=int, default=1200, help="held-out lesions at most (0: all)")
    parser.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                        help="average the eight flips and turns (default: as the model predicts)")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.nice(10)

    from skinml.runs.measures import measure_bias

    progress = lambda f, logs: print(f"\r{f:.0%}", end="", file=sys.stderr, flush=True)
    command = "python train/measure_bias.py " + " ".join(argv if argv is not None else sys.argv[1:])
    report = measure_bias(Path(args.model), args.data, args.masks, args.trained_on, n=args.n, tta=args.tta,
                          n_boot=args.bootstrap, seed=args.seed, on_progress=progress,
                          command=command)
    print(f"\nwritten to {Path(args.model) / 'bias.json'}", file=sys.stderr)
    for name, r in report["auc"].items():
        print(f"{name:<16}{r['auc']:.3f} ({r['low']:.3f} to {r['high']:.3f})")
    print(f"n = {report['n']} images ({report['n_malignant']} malignant), {report['n_lesions']} lesions; "
          f"{report['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
