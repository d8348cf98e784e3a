"""Model cards generated from the files of a model folder: every figure is read from a file
there (model.json, metrics.json, explanations.json, training_images.npz, gan.json, realism.json,
gan_augment.json, the run record config.json / state.json / losses.csv, and shipped.json: the
recipe, the command and the runs that made it). Nothing is typed by hand: a card rewritten
from the same files is the same card, and a file that is not there is named as not recorded.
"""

from __future__ import annotations

from pathlib import Path

from skinml.io import read_json, read_table

FILES = {  # what each file of a folder records, for the "not recorded" list
    "metrics.json": "held-out figures", "explanations.json": "explanation measures",
    "training_images.npz": "training-photo index", "realism.json": "realism measures",
    "config.json": "the training run's config", "state.json": "the training run's state",
    "losses.csv": "the training losses", "gan_augment.json": "the GAN-as-training-data experiment",
}


def write_card(folder: str | Path) -> str:
    """The card of a model folder (`CARDS`: a generator's gan.json, a classifier's model.json),
    written to its MODEL_CARD.md; returns the text."""
    from skinml.io import write_atomic

    folder = Path(folder)
    build = next((card for marker, card in CARDS.items() if (folder / marker).exists()), classifier_card)
    card = build(folder)
    write_atomic(folder / "MODEL_CARD.md", card)
    return card


def _fmt(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def provenance(folder: Path, expected: tuple[str, ...]) -> list[str]:
    """'How it was made': the recipe, the command, the runs and the device run (shipped.json),
    and which of the `expected` files are not recorded in the folder."""
    shipped = read_json(folder / "shipped.json", {}) or {}
    lines = ["## How it was made"]
    if shipped.get("recipe"):
        lines.append(f"- Recipe: `{shipped['recipe']}`; this folder was written by `{shipped.get('command', 'n/a')}`.")
        if shipped.get("remake") and shipped["remake"] != shipped.get("command"):
            lines.append(f"- To remake it from its recipe: `{shipped['remake']}`.")
    else:
        lines.append("- Recipe: not recorded.")
    if shipped.get("source"):
        lines.append(f"- Shipped from `{shipped['source']}` on {shipped.get('shipped', 'n/a')} "
                     f"(skinml {shipped.get('skinml_version', 'n/a')}).")
    for run in shipped.get("runs", []):
        lines.append(f"- Run `{run}`.")
    device = shipped.get("device") or {}
    if device:
        lines.append(f"- Trained on a lent accelerator: `{device.get('run', 'n/a')}`, "
                     f"job `{device.get('job', 'n/a')}`.")
    for note in shipped.get("notes", []):
        lines.append(f"- {note}")
    missing = [f"{FILES[name]} (`{name}`)" for name in expected if not (folder / name).exists()]
    if missing:
        lines.append(f"- Not recorded in this folder: {', '.join(missing)}.")
    return lines + [""]


def classifier_card(folder: str | Path) -> str:
    """A binary or diagnosis classifier's card from its folder's files."""
    import numpy as np

    from skinml.cnn.config import TrainConfig
    from skinml.cnn.finish import build_model_card
    from skinml.cnn.finish_multiclass import build_multiclass_card
    from skinml.cnn.splits import uses_metadata

    folder = Path(folder)
    info, metrics = read_json(folder / "model.json", {}) or {}, read_json(folder / "metrics.json", {}) or {}
    config = TrainConfig.from_dict(info.get("config", {}))
    build = build_multiclass_card if info.get("task") == "diagnosis" else build_model_card
    lines = [build(config, info, metrics).rstrip(), ""]
    if (folder / "training_images.npz").exists():
        with np.load(folder / "training_images.npz") as index:
            splits = index["split"] if "split" in index.files else np.array([])
        counts = {s: int((splits == s).sum()) for s in sorted(set(splits.tolist()))}
        lines += ["## The photos it learned from",
                  "`training_images.npz` indexes " + ", ".join(f"{n} {s}" for s, n in counts.items())
                  + " images (ISIC id and a perceptual hash each): the dashboard says when a photo is one of them.", ""]
    report = read_json(folder / "explanations.json")
    if report:
        lines += ["## How far its heatmaps can be trusted",
                  f"`explanations.json`: {report.get('n')} held-out images with lesion masks "
                  f"(`{report.get('data', 'n/a')}`); 95% bootstrap intervals.", "",
                  "| method | pointing game | share inside the lesion | deletion AUC |", "| --- | --- | --- | --- |"]
        shown = lambda m: (f"{_fmt(m.get('mean'), 2)} ({_fmt(m.get('low'), 2)} to {_fmt(m.get('high'), 2)})"
                           if m else "n/a")
        for measures in report.get("methods", {}).values():
            lines.append(f"| {measures.get('label')} | {shown(measures.get('pointing_game'))} | "
                         f"{shown(measures.get('share_inside'))} | {shown(measures.get('deletion_auc'))} |")
        centre = report.get("centre", {})
        lines += [f"| centre Gaussian (baseline) | {shown(centre.get('pointing_game'))} | "
                  f"{shown(centre.get('share_inside'))} | |", ""]
    lines += bias_section(read_json(folder / "bias.json"))
    lines += patient_data_section(read_json(folder / "patient_data.json"))
    image_only = not uses_metadata(config)  # heatmaps (and their trust measures) explain image-only models
    expected = ("metrics.json", "training_images.npz") + (("explanations.json",) if image_only else ())
    return "\n".join(lines + provenance(folder, expected))


def bias_section(bias: dict | None) -> list[str]:
    """The card's bias test (`bias.json`, `skinml.explain.bias`): AUC on the photos, with the lesion
    removed and with only the lesion, on held-out lesions."""
    if not bias:
        return []
    auc = bias.get("auc", {})
    shown = lambda f: f"{_fmt(f.get('auc'), 3)} ({_fmt(f.get('low'), 3)} to {_fmt(f.get('high'), 3)})" if f else "n/a"
    return ["## Does it look at the lesion? (bias test)",
            f"`bias.json`: {bias.get('n')} held-out lesions ({bias.get('n_malignant')} malignant) with a "
            f"dermatologist's outline, AUC of {bias.get('score', 'p(malignant)')} with 95% intervals "
            f"({bias.get('intervals', 'bootstrap over lesions')}).", "",
            "| input | AUC |", "| --- | --- |",
            f"| the photos | {shown(auc.get('photo'))} |",
            f"| the lesion removed ({bias.get('fill', {}).get('lesion_removed', 'filled from the skin around it')}) | "
            f"{shown(auc.get('lesion_removed'))} |",
            f"| only the lesion ({bias.get('fill', {}).get('lesion_only', 'the rest one colour')}) | "
            f"{shown(auc.get('lesion_only'))} |", "",
            "A model that looked only at the lesion would fall to 0.5 with the lesion removed; what it keeps "
            "there it reads from the skin, rulers, ink and frames around the lesion.", ""]


def patient_data_section(report: dict | None) -> list[str]:
    """The card's figures with and without the patient's age, sex and site (`patient_data.json`)."""
    if not report:
        return []
    lines = ["## With and without the patient's age, sex and site",
             f"`patient_data.json`: the test split ({report.get('n_test')} images), most probable class.", "",
             "| patient data | balanced accuracy | macro AUC |", "| --- | --- | --- |"]
    for key, label in (("with_patient_data", "given"), ("without_patient_data", "left empty")):
        test = (report.get(key) or {}).get("test") or {}
        lines.append(f"| {label} | {_fmt(test.get('balanced_accuracy'), 3)} | {_fmt(test.get('macro_auc'), 3)} |")
    return lines + ["", "A clinician may leave the fields empty: the second row is what the model then gives.", ""]


def generator_card(folder: str | Path) -> str:
    """A generator's card from gan.json, realism.json, gan_augment.json and its run record."""
    folder = Path(folder)
    info = read_json(folder / "gan.json", {}) or {}
    config = read_json(folder / "config.json", {}) or {}
    state = read_json(folder / "state.json", {}) or {}
    report = read_json(folder / "realism.json", {}) or {}
    shipped = read_json(folder / "shipped.json", {}) or {}
    conditional = bool(info.get("conditional"))
    size = info.get("image_size")
    if config.get("data_pack"):
        data = (f"The image pack `{config['data_pack']}`: its lesion-grouped test split is held out for the "
                "measures below; no photo of a held-out lesion was trained on.")
    elif config.get("data_npz") or config.get("data_dir"):
        data = (f"The usable images of `{config.get('data_npz') or config.get('data_dir')}`; whole lesions "
                f"({config.get('holdout')} of the images) are held out for the measures below.")
    else:
        data = "Not recorded in this folder (no `config.json` of the training run)."
    where = f"{info.get('backend', 'n/a')} backend" + (f" on device `{info['device']}`" if info.get("device") else "")
    lines = [
        f"# Model card: {info.get('name', 'generator')} generator", "",
        "## Description",
        f"A {'conditional ' if conditional else ''}GAN generator of {size}x{size} px dermoscopy-like lesion images "
        f"from a {info.get('latent_dim')}-value latent vector{' and a benign/malignant label' if conditional else ''}. "
        "Outputs float images in [0, 1].", "",
        "## Intended use and limitations",
        "Teaching: latent walks, vector arithmetic and honest realism measures in the dashboard. The images are "
        "synthetic and must never be used as medical evidence or to train a model used on patients.", "",
        "## Training data", data, "",
        "## Training procedure",
        f"{info.get('loss')} loss, R1 {info.get('r1_gamma')}, spectral norm {info.get('spectral_norm')}, DiffAugment "
        f"`{info.get('diffaugment')}`, Adam {info.get('g_lr')} (beta 1 {info.get('beta_1')}), generator moving "
        f"average {info.get('ema_decay')}, batch {info.get('batch_size')}: {info.get('epochs')} epochs "
        f"({info.get('images_seen')} images seen of {info.get('training_images')}) in "
        f"{info.get('seconds', state.get('seconds', 'n/a'))} s ({where}; `gan.json`).", "",
    ]
    if report:
        ts, mem = report.get("two_sample", {}), report.get("memorisation", {})
        c2st = report.get("c2st_official") or {}
        lines += [
            "## Realism (generated against held-out real images, `realism.json`)", "",
            "| measure | value |", "| --- | --- |",
            f"| real / generated images | {report.get('n_real')} / {report.get('n_fake')} |",
            f"| two-sample accuracy, the project's yardstick (`shared/tools/c2st.py`) | "
            f"{_fmt(c2st.get('c2st_acc'), 4)} |",
            f"| two-sample accuracy, skinml's CNN on pixels | {_fmt(ts.get('accuracy'), 4)} |",
            f"| two-sample accuracy, logistic regression on classifier features | "
            f"{_fmt(report.get('two_sample_features', {}).get('accuracy'), 4)} |",
            f"| KID (classifier features, x1000) | {_fmt(_times(report.get('kid'), 1000), 4)} "
            f"± {_fmt(_times(report.get('kid_std'), 1000), 4)} |",
            f"| FID (classifier features; biased at this n) | {_fmt(report.get('fid'), 4)} |",
            f"| precision / recall (k=3 manifolds) | {_fmt(report.get('precision'), 4)} / "
            f"{_fmt(report.get('recall'), 4)} |",
            f"| nearest training image, min / median RMS distance at 32 px | {_fmt(mem.get('min_distance'), 4)} / "
            f"{_fmt(mem.get('median_distance'), 4)} |",
            f"| PCA of pixels, variance of the first plane | {_fmt(sum(report.get('pca_pixels_explained', [])))} |",
            "", f"Feature space: `{report.get('feature_space', 'n/a')}`.", ""]
        target = (shipped.get("targets") or {}).get("c2st_acc")
        if c2st.get("c2st_acc") is not None and target is not None:
            met = "meets" if c2st["c2st_acc"] <= target else "does not meet"
            lines += [f"The yardstick tells held-out real lesions from generated ones {c2st['c2st_acc']:.0%} of the "
                      f"time: it {met} the recipe's target of at most {target:.0%}.", ""]
    losses = read_table(folder / "losses.csv")
    if {"d_real", "d_fake"} <= set(losses.columns) and len(losses) > 1:
        late = losses.iloc[len(losses) // 2:]
        gap = float((late["d_real"] - late["d_fake"]).abs().max())
        lines += [f"Over the second half of training the discriminator's mean logits on real and generated images "
                  f"differed by at most {gap:.3f} (`losses.csv`).", ""]
    result = read_json(folder / "gan_augment.json")
    if result:
        lines += [
            "## As training data for a classifier (`gan_augment.json`)",
            f"{result['classifier']} at {result['image_size']} px trained on {result['n_real_train']} real images "
            f"reached test AUC {result['auc_real_only']:.3f} (mean of {result['repeats']} seeds), and with "
            f"{result['n_generated']} generated images added {result['auc_with_generated']:.3f}: a difference of "
            f"{result['auc_difference']:+.3f} (sd {result['auc_difference_sd'] or 0:.3f}) on {result['n_test']} test "
            f"images, measured with the generator in `{result.get('generator', 'n/a')}`.", ""]
    return "\n".join(lines + provenance(folder, ("realism.json", "config.json", "state.json", "losses.csv")))


def _times(value, factor):
    return None if value is None else value * factor


# Which card a folder gets, by the record file that tells its kind (a new kind adds its own).
CARDS = {"gan.json": generator_card, "model.json": classifier_card}
