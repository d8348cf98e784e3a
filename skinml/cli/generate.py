"""`python -m skinml generate` (PNG lesions from a GAN) and `gan-augment` (does GAN data help?)."""

from __future__ import annotations

import json
from pathlib import Path


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("generate", help="write N generated lesion images as PNG files")
    p.add_argument("--n", type=int, default=16, help="how many images")
    p.add_argument("--out", required=True, help="folder for the PNG files")
    p.add_argument("--model", default=None, help="generator folder or GAN run directory (default: shipped)")
    p.add_argument("--label", choices=["benign", "malignant"], default=None,
                   help="class to generate (needs a conditional GAN; default shipped: skinml/assets/cgan)")
    p.add_argument("--seed", type=int, default=0, help="image i uses latent seed S + i")
    p.set_defaults(func=run_generate)

    a = subparsers.add_parser("gan-augment", help="train a classifier with and without N generated "
                              "images and report the test AUC difference")
    a.add_argument("--data-dir", required=True, help="an ISIC folder (benign/malignant labels)")
    a.add_argument("--generator", default=None, help="conditional generator folder (default: shipped cGAN)")
    a.add_argument("--n", type=int, default=1000, help="generated images added (half of each class)")
    a.add_argument("--classifier", default="thesis_l2_dropout", help="skinml.cnn.models architecture")
    a.add_argument("--image-size", type=int, default=64)
    a.add_argument("--epochs", type=int, default=5)
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--repeats", type=int, default=3, help="seeds to train both with (the difference is noisy)")
    a.add_argument("--max-images", type=int, default=0, help="use at most this many real images (0: all)")
    a.add_argument("--json", action="store_true", help="print only the JSON object (as the other commands)")
    a.add_argument("--out", default="", help="also write the JSON object to this file")
    a.set_defaults(func=run_gan_augment)


def run_generate(args) -> int:
    import io

    from skinml.settings import check_output_file

    out = Path(args.out)
    tag = f"{args.label}_" if args.label else ""
    files = [out / f"{tag}seed{args.seed + i:06d}.png" for i in range(args.n)]
    for file in files:  # before any work: no input, data file, folder or device is ever replaced
        check_output_file(file, [args.model] if args.model else [])

    from PIL import Image

    from skinml.data.readers import LABELS
    from skinml.gan.latent import sample_latents
    from skinml.gan.models import load_generator
    from skinml.io import write_atomic

    gen = load_generator(args.model, conditional=args.label is not None)
    labels = None
    if args.label is not None:
        if not gen.spec.conditional:
            from skinml.errors import ModelError
            raise ModelError(f"The generator at {gen.path} is not conditional: it cannot generate "
                             f"a chosen class. Leave out --label or pass a conditional GAN with --model.")
        labels = [LABELS.index(args.label)] * args.n
    images = gen.generate(sample_latents(range(args.seed, args.seed + args.n), gen.spec.latent_dim), labels)
    out.mkdir(parents=True, exist_ok=True)
    for file, im in zip(files, images):
        png = io.BytesIO()
        Image.fromarray((im * 255).round().astype("uint8")).save(png, format="PNG")
        write_atomic(file, png.getvalue())
    print(f"wrote {len(images)} images to {out}")
    return 0


def run_gan_augment(args) -> int:
    from skinml.errors import SkinmlError
    from skinml.settings import check_output_file

    if args.repeats < 1:
        raise SkinmlError("--repeats must be at least 1.")
    if args.out:  # before any work: no input, data file, folder or device is ever replaced
        check_output_file(args.out, [args.data_dir, *([args.generator] if args.generator else [])])

    from skinml.io import write_atomic
    from skinml.progress import tqdm_progress  # TensorFlow and Keras: after the checks
    from skinml.quality.gan_augment import gan_augment_experiment
    on_progress, close = tqdm_progress(desc="gan-augment")
    try:
        result = gan_augment_experiment(args.data_dir, generator=args.generator, n_generated=args.n,
                                        classifier=args.classifier, image_size=args.image_size,
                                        epochs=args.epochs, seed=args.seed, max_images=args.max_images,
                                        repeats=args.repeats, on_progress=on_progress)
    finally:
        close()
    text = json.dumps(result, indent=2)
    if args.out:
        write_atomic(args.out, text)
    if args.json:
        print(text)
        return 0
    spread = f" ± {result['auc_difference_sd']:.3f} (SD over {result['repeats']} seeds)" \
        if result["auc_difference_sd"] is not None else ""
    print(f"{result['classifier']} at {result['image_size']} px, {result['epochs']} epochs, "
          f"{result['n_real_train']:,} real training images, {result['n_test']:,} test images\n"
          f"  test AUC, real images only:         {result['auc_real_only']:.3f}\n"
          f"  test AUC, with {result['n_generated']:,} generated images: {result['auc_with_generated']:.3f}\n"
          f"  difference:                         {result['auc_difference']:+.3f}{spread}")
    return 0
