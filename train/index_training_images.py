"""Write a classifier's training index (`training_images.npz`: ISIC ids and perceptual hashes
of its train and val images), so that the dashboard says when a photo is one it learned from.

    python train/index_training_images.py skinml/assets/classifier --data ../shared/data/isic-sample

The model's split is replayed from its model.json (data rules, seed, balance) and checked
against the fingerprint of its training ids saved there (a model trained from an image pack
that is still here takes the pack's split and finds each image's file in the --data folders);
new runs write the index when they finish (`skinml.cnn.finish.finish_run`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="classifier folder (model.json with data.train_ids_sha1)")
    parser.add_argument("--data", required=True, help="the dataset folder the model was trained on (several joined "
                        "with ':'; for a model trained from an image pack, the folders the pack was made from)")
    args = parser.parse_args(argv)

    from skinml.cnn.classifier import read_info
    from skinml.cnn.config import TrainConfig
    from skinml.cnn.seen import write_index
    from skinml.cnn.splits import load_splits
    from skinml.data.policy import split_fingerprint

    info, _ = read_info(args.model)
    saved = info.get("config", {})
    if saved.get("pack") and Path(saved["pack"]).is_dir():  # trained from an image pack: its split, the folders' files
        from skinml.data.readers import load_datasets

        table = load_splits(TrainConfig.from_dict(saved))
        files = load_datasets(args.data.split(os.pathsep)).set_index("isic_id")["image_path"]
        table = table.assign(image_path=table["isic_id"].map(files).fillna(""))
    else:
        table = load_splits(TrainConfig.from_dict({**saved, "data": args.data, "pack": ""}))
    if split_fingerprint(table, "train") != info.get("data", {}).get("train_ids_sha1"):
        print(f"error: {args.data} with the model's rules does not give its training split "
              "(the fingerprint of the training ids differs)", file=sys.stderr)
        return 2
    path = write_index(args.model, table, lambda f, logs: print(f"\r{f:.0%}", end="", flush=True))
    print(f"\n{path}: {path.stat().st_size / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
