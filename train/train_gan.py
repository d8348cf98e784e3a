"""Train a GAN run (resumable): the same as `python -m skinml train --kind gan`.

    python train/train_gan.py --data-dir ../shared/data/isic-sample --model thesis_dcgan --epochs 5
    KERAS_BACKEND=jax python train/train_gan.py --data-npz isic128.npz --model skinml_gan --epochs 1000 \\
        --run-dir runs/gan --time-budget 480
    python train/train_gan.py --data-dir ../shared/data/isic-sample --export-npz isic128.npz --jpeg-quality 95

--export-npz only writes --data-dir's images (and their lesion groups) to a .npz, for a machine
without the dataset. With the package installed (`pip install -e .`).
"""

import argparse
import sys

from skinml.cli import main


def export(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Write an ISIC folder's GAN images to a .npz.")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--export-npz", required=True)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--jpeg-quality", type=int, default=0, help="pack the images as JPEG of this quality")
    args = parser.parse_args(argv)
    from skinml.gan.train import export_npz

    print(export_npz(args.data_dir, args.export_npz, args.image_size, args.jpeg_quality))
    return 0


if __name__ == "__main__":
    argv = sys.argv[1:]
    raise SystemExit(export(argv) if "--export-npz" in argv else main(["train", "--kind", "gan", *argv]))
