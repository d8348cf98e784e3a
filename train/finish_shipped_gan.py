"""Measure a trained generator against real images it never saw and package it with its card.

    python train/finish_shipped_gan.py --run-dir runs/gan --dest skinml/assets/gan

It reads the run's training data and held-out indices (a pack's lesion-grouped test split,
or the run's random hold-out), generates `--n` images, measures them with
skinml.quality.realism (PCA, KID/FID/precision/recall in the shipped classifier's feature
space, two two-sample judges, the memorisation check) and, when it is there, with the
project's yardstick `../shared/tools/c2st.py` (a 5-fold real-vs-fake CNN at 64 px), and
writes the generator folder, `realism.json` and `MODEL_CARD.md` to `--dest`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "skinml" / "assets"
C2ST = REPO.parent / "shared" / "tools" / "c2st.py"


def official_c2st(real: np.ndarray, fake: np.ndarray, tool: Path = C2ST) -> dict | None:
    """The project's yardstick on uint8-able float images: {"c2st_acc", "fold_acc", ...}, or
    None when the tool is not on this machine."""
    from PIL import Image

    if not tool.exists():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        for name, images in (("real", real), ("fake", fake)):
            (Path(tmp) / name).mkdir()
            for i, im in enumerate(images):
                pixels = (np.clip(im, 0, 1) * 255).round().astype("uint8")
                Image.fromarray(pixels).save(Path(tmp) / name / f"{i:05d}.png")
        out = subprocess.run([sys.executable, str(tool), str(Path(tmp) / "real"), str(Path(tmp) / "fake")],
                             capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def training_sentence(info: dict, state: dict) -> str:
    """Where and how long the generator trained, from gan.json and state.json."""
    epochs = info.get("epochs", state.get("epoch", 0))
    seconds = info.get("seconds", state.get("seconds"))
    where = ("a lent NVIDIA H100 GPU (Keras 3 on JAX, the whole image set on the device, "
             "`train/gpu_run.py`)" if str(info.get("device", "")).startswith("gpu")
             else f"this project's 2-core CPU ({info.get('backend', 'tensorflow')} backend, `train/train_gan.py`)")
    return (f"{epochs} epochs ({info.get('images_seen', 0):,} images seen, batch {info.get('batch_size')}) "
            f"in {seconds} s on {where}.")


def model_card(info: dict, config: dict, state: dict, report: dict, conditional: bool,
               losses: list[dict] | None = None) -> str:
    """The Markdown card: description, intended use and limitations, data, training, realism."""
    ts = report.get("two_sample", {})
    mem = report.get("memorisation", {})
    c2st = report.get("c2st_official") or {}
    fmt = lambda v: "n/a" if v is None else f"{v:.4f}"
    data = (f"The image pack `{config['data_pack']}` (the union of `../shared/data/isic-sample` and "
            "`../shared/data/ham10000`, joined on the ISIC id, 128 px): its lesion-grouped test split "
            f"({report['n_real']} images) is held out for the measures below; no image of a held-out lesion "
            "was trained on." if config.get("data_pack") else
            f"All usable images of `{config.get('data_npz') or config.get('data_dir')}`, "
            f"{int(round(config['holdout'] * 100))}% held out at random for the measures below.")
    return "\n".join([
        f"# Model card: {config['model']} generator", "",
        "## Description",
        f"A {'conditional ' if conditional else ''}GAN generator of {config['image_size']}x"
        f"{config['image_size']} px dermoscopy-like lesion images from a {info.get('latent_dim', 100)}-value "
        f"latent vector{' and a benign/malignant label' if conditional else ''}. Outputs float images in [0, 1].", "",
        "## Intended use and limitations",
        "Teaching: latent walks, vector arithmetic and honest realism measures in the dashboard. The images "
        "are synthetic and must never be used as medical evidence or to train a model used on patients. "
        "See the figures below for how far they are from real lesions.", "",
        "## Training data", data, "",
        "## Training procedure",
        f"{info.get('loss', 'nonsat')} loss, R1 {info.get('r1_gamma')}, DiffAugment `{info.get('diffaugment')}`, "
        f"Adam {info.get('g_lr')} (beta 1 {info.get('beta_1')}), generator moving average {info.get('ema_decay')}: "
        + training_sentence(info, state), "",
        "## Realism (generated against held-out real images)", "",
        "| measure | value |", "| --- | --- |",
        f"| real / generated images | {report['n_real']} / {report['n_fake']} |",
        f"| **two-sample accuracy, the project's yardstick** (`shared/tools/c2st.py`, 5-fold CNN at 64 px; "
        f"0.50 for two real sets, 0.81 for real vs 1-px-blurred real) | {fmt(c2st.get('c2st_acc'))} |",
        f"| two-sample accuracy, skinml's CNN on 64 px pixels (40 epochs) | {fmt(ts.get('accuracy'))} |",
        f"| two-sample accuracy, logistic regression on classifier features | "
        f"{fmt(report.get('two_sample_features', {}).get('accuracy'))} |",
        f"| KID (classifier features, x1000) | {fmt(report.get('kid', 0) * 1000)} "
        f"± {fmt(report.get('kid_std', 0) * 1000)} |",
        f"| FID (classifier features; biased at this n) | {fmt(report.get('fid'))} |",
        f"| precision / recall (k=3 manifolds) | {fmt(report.get('precision'))} / {fmt(report.get('recall'))} |",
        f"| nearest training image, min / median distance | {fmt(mem.get('min_distance'))} / "
        f"{fmt(mem.get('median_distance'))} |",
        f"| PCA of pixels, variance of the first plane | {sum(report.get('pca_pixels_explained', [])):.3f} |",
        "", f"Feature space: `{report.get('feature_space', 'n/a')}` of the shipped classifier.", "",
        *reading(report, losses), *augmentation(report.get("gan_augment"))])


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
        f"(sd {result['auc_difference_sd'] or 0:.3f}) on {result['n_test']} test images. (Measured with an "
        "earlier generator; rerun the command for this one.)", ""]


def discriminator_at_chance(losses: list[dict]) -> bool:
    """True when, over the second half of training, the discriminator told real from generated
    no better than chance (its mean logits on both within 0.01): the generator then learned
    from a judge that had stopped judging."""
    late = losses[len(losses) // 2:]
    return bool(late) and all(abs(r.get("d_real", 0) - r.get("d_fake", 0)) < 0.01 for r in late)


def reading(report: dict, losses: list[dict] | None = None) -> list[str]:
    """'Reading these figures': what the numbers say, in sentences, from the numbers."""
    official = (report.get("c2st_official") or {}).get("c2st_acc")
    features = report.get("two_sample_features", {}).get("accuracy", 1.0)
    recall = report.get("recall") or 0.0
    lines = ["## Reading these figures"]
    if official is not None:
        lines.append(
            f"- The project's yardstick tells {report['n_real']} held-out real lesions from generated ones "
            f"{official:.0%} of the time: " + ("it meets the target of at most 75%." if official <= 0.75 else
                                                "the target (at most 75%) is not met."))
    lines += [
        f"- The logistic regression on the shipped classifier's features is a far stronger judge ({features:.2f}): "
        "the classifier sees differences in lesion structure that a small pixel CNN at 64 px misses. Both "
        "judges stay near 0.5 on two random halves of real images.",
        f"- Recall {recall:.2f}: the share of real lesions whose neighbourhood the generated set reaches. "
        + ("Most of the variety of real lesions is missing." if recall < 0.5 else "Much of their variety is covered."),
        "- The memorisation distances are RMS pixel differences at 32 px: a copy of a training image scores near 0."]
    if losses and discriminator_at_chance(losses):
        lines.append("- Over the second half of training the discriminator scored real and generated images alike "
                     "(`losses.csv`: d_real and d_fake within 0.01, d_loss at 2 ln 2): it had stopped judging, so "
                     "longer training alone will not help much. A stronger discriminator (a lower R1 weight, "
                     "more channels, or a lighter DiffAugment) is the next thing to try on a GPU.")
    return lines + [""]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", type=Path, required=True)
    p.add_argument("--dest", type=Path, default=ASSETS / "gan")
    p.add_argument("--n", type=int, default=1000, help="generated images to measure")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--card-only", action="store_true", help="rewrite MODEL_CARD.md from --dest's realism.json")
    args = p.parse_args()

    from skinml.cnn.classifier import load_classifier
    from skinml.gan.latent import sample_latents
    from skinml.gan.models import load_generator
    from skinml.gan.train import GANConfig, load_training_data, read_losses, read_state
    from skinml.quality.realism import realism_report, save_report

    config = json.loads((args.run_dir / "config.json").read_text())
    state = read_state(args.run_dir)
    generator = load_generator(args.run_dir)
    conditional = bool(generator.spec.conditional)
    if args.card_only:
        report = json.loads((args.dest / "realism.json").read_text())
        (args.dest / "MODEL_CARD.md").write_text(model_card(generator.info, config, state, report, conditional,
                                                            read_losses(args.run_dir)))
        return
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
    report["c2st_official"] = official_c2st(real, fake)
    if (args.dest / "gan_augment.json").exists():  # written by `python -m skinml gan-augment --out`
        report["gan_augment"] = json.loads((args.dest / "gan_augment.json").read_text())

    args.dest.mkdir(parents=True, exist_ok=True)
    folder = args.run_dir / "generator"
    for name in ("generator.keras", "gan.json"):
        shutil.copy(folder / name, args.dest / name)
    save_report(report, args.dest / "realism.json")
    (args.dest / "MODEL_CARD.md").write_text(model_card(generator.info, config, state, report, conditional,
                                                        read_losses(args.run_dir)))
    print(json.dumps(report, indent=2, default=float))


if __name__ == "__main__":
    main()
