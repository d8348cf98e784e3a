"""Measure a trained generator against real images it never saw and package it with its card.

    python train/finish_shipped_gan.py --run-dir runs/gan --dest skinml/assets/gan

It reads the run's training data and held-out indices, generates `--n` images, measures
them with skinml.quality (PCA, KID/FID/precision/recall in the shipped classifier's feature
space, the two-sample test, the memorisation check), and writes the generator folder,
`realism.json` and `MODEL_CARD.md` to `--dest`.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

ASSETS = Path(__file__).resolve().parents[1] / "skinml" / "assets"


def model_card(info: dict, config: dict, state: dict, report: dict, conditional: bool) -> str:
    """The Markdown card: description, intended use and limitations, data, training, realism."""
    ts = report.get("two_sample", {})
    mem = report.get("memorisation", {})
    fmt = lambda v: "n/a" if v is None else f"{v:.4f}"
    return "\n".join([
        f"# Model card: {config['model']} generator", "",
        "## Description",
        f"A {'conditional ' if conditional else ''}GAN generator of {config['image_size']}x"
        f"{config['image_size']} px dermoscopy-like lesion images from a {info.get('latent_dim', 100)}-value "
        f"latent vector{' and a benign/malignant label' if conditional else ''}. Outputs float images in [0, 1].", "",
        "## Intended use and limitations",
        "Teaching: latent walks, vector arithmetic and honest realism measures in the dashboard. The images "
        "are synthetic and must never be used as medical evidence or to train a model used on patients. "
        "The training below was short (a CPU budget), so the images are far from real: see the figures.", "",
        "## Training data",
        f"All usable images of `{config.get('data_npz') or config.get('data_dir')}` (ISIC sample, benign, "
        f"malignant and unlabelled), {int(round(config['holdout'] * 100))}% held out for the measures below.", "",
        "## Training procedure",
        f"`python train/train_gan.py --data-npz ... --model {config['model']} --batch-size "
        f"{config.get('batch_size')} --time-budget {config.get('time_budget')}`: {state.get('epoch', 0)} epochs, "
        f"{state.get('seconds', 'n/a')} s on this project's 2-core CPU (TensorFlow backend).", "",
        "## Realism (generated against held-out real images)", "",
        "| measure | value |", "| --- | --- |",
        f"| real / generated images | {report['n_real']} / {report['n_fake']} |",
        f"| KID (classifier features, x1000) | {fmt(report.get('kid', 0) * 1000)} ± {fmt(report.get('kid_std', 0) * 1000)} |",
        f"| FID (classifier features; biased at this n) | {fmt(report.get('fid'))} |",
        f"| precision / recall (k=3 manifolds) | {fmt(report.get('precision'))} / {fmt(report.get('recall'))} |",
        f"| two-sample accuracy, CNN on 64 px pixels (0.5 = indistinguishable) | {fmt(ts.get('accuracy'))} |",
        f"| two-sample accuracy, logistic regression on classifier features | "
        f"{fmt(report.get('two_sample_features', {}).get('accuracy'))} |",
        f"| nearest training image, min / median distance | {fmt(mem.get('min_distance'))} / {fmt(mem.get('median_distance'))} |",
        f"| PCA of pixels, variance of the first plane | {sum(report.get('pca_pixels_explained', [])):.3f} |",
        "", f"Feature space: `{report.get('feature_space', 'n/a')}` of the shipped classifier.", "",
        *reading(report, state), *augmentation(report.get("gan_augment"))])


def augmentation(result: dict | None) -> list[str]:
    """The GAN-as-augmentation figures (`gan_augment.json` next to the card), if measured."""
    if not result:
        return []
    return [
        "## As training data for a classifier",
        f"`python -m skinml gan-augment --n {result['n_generated']} --epochs {result['epochs']} --repeats "
        f"{result['repeats']}`: {result['classifier']} at {result['image_size']} px trained on the "
        f"{result['n_real_train']} real training images alone reached test AUC {result['auc_real_only']:.3f} "
        f"(mean of {result['repeats']} seeds), and with {result['n_generated']} generated images added "
        f"{result['auc_with_generated']:.3f}: a difference of {result['auc_difference']:+.3f} "
        f"(sd {result['auc_difference_sd'] or 0:.3f}) on {result['n_test']} test images.", ""]


def reading(report: dict, state: dict) -> list[str]:
    """'Reading these figures': what the numbers say, in sentences, from the numbers."""
    pixels = report.get("two_sample", {}).get("accuracy", 1.0)
    features = report.get("two_sample_features", {}).get("accuracy", 1.0)
    best = max(pixels, features)
    recall = report.get("recall") or 0.0
    return [
        "## Reading these figures",
        f"- Two judges try to tell the {report['n_real']} held-out real images from generated ones: a small "
        f"CNN on 64 px pixels ({pixels:.2f}) and a logistic regression on the shipped classifier's features "
        f"({features:.2f}); on two random halves of real images both stay near 0.5. The stronger judge, "
        f"{best:.2f}, is the figure to quote: "
        + ("it meets the target of at most 0.75." if best <= 0.75 else
           "the target (at most 0.75, against real ISIC images the generator never saw) is not met."),
        f"- Recall {recall:.2f}: the share of real lesions whose neighbourhood the generated set reaches. "
        + ("Most of the variety of real lesions is missing." if recall < 0.5 else "Much of their variety is covered."),
        f"- Trained {state.get('epoch', 0)} epochs on a 2-core CPU: look at the sample grid before trusting any "
        "figure. Retrain with `train/train_gan.py` on a GPU (`KERAS_BACKEND=jax`) for better images.",
        "- The memorisation distances are RMS pixel differences at 32 px: a copy of a training image scores near 0.",
        ""]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", type=Path, required=True)
    p.add_argument("--dest", type=Path, default=ASSETS / "gan")
    p.add_argument("--n", type=int, default=500, help="generated images to measure")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    from skinml.cnn.classifier import load_classifier
    from skinml.gan.latent import sample_latents
    from skinml.gan.models import load_generator
    from skinml.gan.train import GANConfig, load_training_data, read_state
    from skinml.quality.realism import realism_report, save_report

    config = json.loads((args.run_dir / "config.json").read_text())
    state = read_state(args.run_dir)
    generator = load_generator(args.run_dir)
    conditional = bool(generator.spec.conditional)
    images, labels = load_training_data(GANConfig.from_dict(config))
    holdout = np.load(args.run_dir / "holdout.npy")
    train = np.setdiff1d(np.arange(len(images)), holdout)
    real = images[holdout].astype("float32") / 255.0
    latents = sample_latents(range(args.seed, args.seed + args.n), generator.spec.latent_dim)
    fake_labels = np.arange(args.n) % 2 if conditional else None
    fake = generator.generate(latents, fake_labels)
    rng = np.random.default_rng(args.seed)
    train_sample = images[rng.choice(train, size=min(1000, len(train)), replace=False)].astype("float32") / 255.0
    classifier = load_classifier()
    if classifier.image_size != real.shape[1]:
        raise SystemExit("The shipped classifier's input size differs from the generator's output.")
    report = realism_report(real, fake, train=train_sample, feature_model=classifier.model, seed=args.seed)
    if (args.dest / "gan_augment.json").exists():  # written by `python -m skinml gan-augment --json`
        report["gan_augment"] = json.loads((args.dest / "gan_augment.json").read_text())

    args.dest.mkdir(parents=True, exist_ok=True)
    folder = args.run_dir / "generator"
    for name in ("generator.keras", "gan.json"):
        shutil.copy(folder / name, args.dest / name)
    save_report(report, args.dest / "realism.json")
    (args.dest / "MODEL_CARD.md").write_text(model_card(generator.info, config, state, report, conditional))
    print(json.dumps(report, indent=2, default=float))


if __name__ == "__main__":
    main()
