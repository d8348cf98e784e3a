"""Train a GAN into a run directory (resumable): `python train/train_gan.py --help`.

Examples:
    python train/train_gan.py --data-dir ../shared/data/isic-sample --model thesis_dcgan --epochs 5
    python train/train_gan.py --data-dir ../shared/data/isic-sample --export-npz isic128.npz --jpeg-quality 95
    KERAS_BACKEND=jax python train/train_gan.py --data-npz isic128.npz --model skinml_gan \\
        --epochs 1000 --run-dir runs/gan --time-budget 480
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skinml.gan.train import GANConfig  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Train a GAN (thesis_dcgan, skinml_gan, skinml_cgan).")
    for f in fields(GANConfig):
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default,
                            help=f"default: {f.default!r}")
    parser.add_argument("--export-npz", default="", help="only write --data-dir's images to this .npz")
    parser.add_argument("--jpeg-quality", type=int, default=0,
                        help="with --export-npz: pack the images as JPEG of this quality (smaller file)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from skinml.errors import SkinmlError
    from skinml.gan.train import export_npz, fit_gan
    from skinml.runs import exit_with_parent, new_run_dir, stop_on_sigterm

    stop_on_sigterm()  # the dashboard's Stop button ends the run as "stopped", like Ctrl+C
    exit_with_parent()  # started by the dashboard: end with it

    try:
        if args.export_npz:
            print(export_npz(args.data_dir, args.export_npz, args.image_size, args.jpeg_quality))
            return 0
        config = GANConfig(**{f.name: getattr(args, f.name) for f in fields(GANConfig)})
        if not config.run_dir:
            config = GANConfig(**{**config.__dict__, "run_dir": str(new_run_dir(config.model))})
        on_progress, close = (None, lambda: None)
        if not args.quiet:
            from skinml.progress import tqdm_progress
            on_progress, close = tqdm_progress(desc=config.model)
        try:
            fit_gan(config, on_progress)
        finally:
            close()
        print(f"run directory: {config.run_dir}")
        return 0
    except KeyboardInterrupt:
        print("stopped; start the same command again to resume", file=sys.stderr)
        return 130
    except SkinmlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
