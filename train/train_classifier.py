"""Train a classifier run: the same as `python -m skinml train` (its --help lists every setting).

    python train/train_classifier.py --data DIR --model thesis_base --epochs 3 --run-dir runs/x

Started again with the same --run-dir, a run resumes after its last complete epoch (its saved
config wins). With the package installed (`pip install -e .`).
"""

import sys

from skinml.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["train", *sys.argv[1:]]))
