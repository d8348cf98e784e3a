"""Which explanation to trust, measured: every method on held-out images with lesion masks.

The masks are the dataset's (`<data>-segmentations` beside it, `masks/` inside it, or a folder
given) where it has them; any other held-out image is outlined by the shipped segmenter
(`skinml.segment.predict.shipped_mask`) and left out when it finds no lesion there. The report
says which ("masks": "given", "predicted" or "mixed", with `masks_given`, `masks_predicted`)
and, beside predicted ones, the segmenter's own held-out Jaccard from its metrics.json.

`evaluate_explanations` runs each method of `METHODS` on images the classifier never trained
on, explains the class it predicted, and measures the maps (`skinml.explain.measures`)
against dermatologists' lesion masks, against a centred Gaussian, against random pixel
orders and against cascading weight randomisation (`skinml.explain.randomisation`). The
report is one JSON-ready dict; a classifier folder keeps it as `explanations.json`, which
`explanations_table` and `best_method` read for the dashboard. `method_maps` gives every
method's map of one image in one call.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from skinml.data.masks import attach_masks, find_mask_folder, load_mask, mask_size
from skinml.errors import DataError
from skinml.explain.gradcam import grad_cam
from skinml.explain.hirescam import earlier_layers, hires_cam
from skinml.explain.integrated_gradients import integrated_gradients
from skinml.explain.measures import (
    blurred,
    centre_gaussian,
    curve_area,
    perturbation_curve,
    pointing_game,
    rank_correlation,
    salience_order,
    share_inside,
    summarise,
)
from skinml.explain.occlusion import occlusion
from skinml.explain.randomisation import cascading_randomisation
from skinml.explain.scores import class_probability, predicted_class
from skinml.io import load_report, save_report

EXPLANATIONS_FILE = "explanations.json"
# id -> (what the dashboard calls it, function(model, image, class_index) -> heatmap (H, W) in [0, 1])
METHODS: dict[str, tuple[str, Callable]] = {
    "gradcam": ("Grad-CAM", lambda m, x, c: grad_cam(m, x, class_index=c)),
    "gradcam_early": ("Grad-CAM, earlier layer",
                      lambda m, x, c: grad_cam(m, x, class_index=c, layer=earlier_layers(m))),
    "hirescam": ("HiResCAM, earlier layer", lambda m, x, c: hires_cam(m, x, class_index=c)),
    "occlusion": ("occlusion", lambda m, x, c: occlusion(m, x, class_index=c)),
    "integrated_gradients": ("integrated gradients", lambda m, x, c: integrated_gradients(m, x, class_index=c)),
}
CENTRE_SIGMA = 0.25  # the centre baseline's spread, as a share of the side


def _model_and_threshold(classifier) -> tuple[object, float]:
    """A Classifier's model and threshold, or a bare Keras model with 0.5."""
    return getattr(classifier, "model", classifier), float(getattr(classifier, "threshold", 0.5))


def method_maps(classifier, image: np.ndarray, class_index: int | None = None,
                methods: list[str] | None = None) -> dict[str, np.ndarray]:
    """{method label: heatmap float32 (H, W) in [0, 1]} of one image (uint8 or float (H, W, 3) at
    any size), for `class_index` (default: the class the model predicts at its threshold).

    `classifier` is a `Classifier` (its `with_model`, so the dashboard may share it) or a Keras model.
    """
    threshold = _model_and_threshold(classifier)[1]

    def maps(model):
        index = predicted_class(model, image, threshold) if class_index is None else int(class_index)
        return {METHODS[m][0]: METHODS[m][1](model, image, index) for m in (methods or METHODS)}
    return _with_model(classifier, maps)


def randomisation_maps(classifier, image: np.ndarray, method: str = "gradcam",
                       class_index: int | None = None, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """[("trained", map), (block, map with that block and all above it randomised), ...]: the
    strip of the sanity check for one image, top block first."""
    threshold = _model_and_threshold(classifier)[1]
    explain = METHODS[method][1]

    def strip(model):
        index = predicted_class(model, image, threshold) if class_index is None else int(class_index)
        trained = [("trained", explain(model, image, index))]
        return trained + [(block, explain(copy, image, index)) for block, copy in cascading_randomisation(model, seed)]
    return _with_model(classifier, strip)


def _with_model(classifier, fn):
    """`fn(Keras model)`: through a Classifier's `with_model` (its explanation copy, under that
    copy's lock), or on a bare Keras model."""
    run = getattr(classifier, "with_model", None)
    return run(fn) if run is not None else fn(classifier)


# ---------------------------------------------------------------- held-out images with masks

def training_rows(classifier) -> tuple[pd.DataFrame | None, bool]:
    """The rows of the classifier's train and val splits (replayed from model.json), and whether
    the replay matches the training ids it saved; (None, False) when its data is not here."""
    from skinml.data.policy import DataPolicy, prepare

    data = (getattr(classifier, "info", None) or {}).get("data") or {}
    root = data.get("root")
    if not root or not Path(root).is_dir():
        return None, False
    config = classifier.info.get("config") or {}
    if config.get("max_images"):  # the run subsampled: replay it exactly
        from skinml.cnn.train import TrainConfig, load_splits

        table = load_splits(TrainConfig.from_dict({**config, "data": root}))
    else:
        exclude = tuple(tuple(r.split("=", 1)) if isinstance(r, str) else tuple(r) for r in data.get("exclude", ()))
        table = prepare(root, DataPolicy(exclude=exclude), balance=bool(data.get("balanced", True)),
                        seed=int(data.get("seed", 0)))
    train_ids = "\n".join(sorted(table.loc[table["split"] == "train", "isic_id"].astype(str)))
    verified = hashlib.sha1(train_ids.encode()).hexdigest() == data.get("train_ids_sha1")
    return table[table["split"].isin(["train", "val"])], verified


def held_out_images(classifier, data_dir: str | Path, mask_dir: str | Path | None = None,
                    n: int | None = 200, seed: int = 0, predict_masks: bool | None = None) -> tuple[pd.DataFrame, dict]:
    """Labelled images of `data_dir` with neither their image nor their lesion in the classifier's
    train or val split: one image per lesion, a seeded draw of `n`, half benign and half malignant
    where the data allow. Returns (table with `mask_path` and `mask_source`, notes).

    `mask_source` is "given" for an image with a mask in `mask_dir` (default: the dataset's masks
    folder), "predicted" for one without, whose mask the shipped segmenter will draw;
    `predict_masks` (default: whether a segmenter is installed) False keeps the images with a mask only.
    """
    from skinml.data.policy import DataPolicy, apply_policy
    from skinml.data.readers import load_dataset
    from skinml.segment.predict import shipped_installed

    predict_masks = shipped_installed() if predict_masks is None else predict_masks
    if mask_dir and not Path(mask_dir).is_dir():
        raise DataError(f"The masks folder {mask_dir} does not exist.")
    mask_dir = Path(mask_dir) if mask_dir else find_mask_folder(data_dir)
    if mask_dir is None and not predict_masks:
        raise DataError(f"No lesion masks found for {data_dir}: expected a folder "
                        f"'{Path(data_dir).name}-segmentations' beside it or 'masks/' inside it; "
                        "pass the folder with --masks (or install the lesion segmenter, skinml/assets/segmenter, "
                        "to outline the lesions).")
    df, _ = apply_policy(load_dataset(data_dir), DataPolicy())
    notes = {"data": str(data_dir), "mask_folder": str(mask_dir) if mask_dir else None, "labelled": int(len(df))}
    train, verified = training_rows(classifier)
    if train is not None:
        seen = df["isic_id"].isin(set(train["isic_id"])) | \
            (df["lesion_id"].ne("") & df["lesion_id"].isin(set(train["lesion_id"]) - {""}))
        df = df[~seen]
        notes.update(left_out_as_trained_on=int(seen.sum()), training_replay_verified=verified)
    else:
        notes.update(left_out_as_trained_on=0, training_replay_verified=False,
                     warning="The classifier's training data is not on this machine: images it trained on "
                             "cannot be left out.")
    with_mask, missing = attach_masks(df, mask_dir) if mask_dir else (df.iloc[:0].assign(mask_path=""),
                                                                      df["isic_id"].astype(str).tolist())
    notes.update(without_mask=len(missing), without_mask_ids=missing[:20])
    if predict_masks:
        df = df.assign(mask_path="", mask_source="predicted")
        df.loc[with_mask.index, "mask_path"] = with_mask["mask_path"]
        df.loc[with_mask.index, "mask_source"] = "given"
    else:
        df = with_mask.assign(mask_source="given")
    if df.empty:
        raise DataError(f"None of the held-out images of {data_dir} has a mask in {mask_dir}.")
    df = df.sample(frac=1, random_state=seed)
    df = pd.concat([df[df["lesion_id"].eq("")], df[df["lesion_id"].ne("")].drop_duplicates("lesion_id")])
    if n and len(df) > n:
        half = {label: min(n // 2, int((df["benign_malignant"] == label).sum())) for label in ("benign", "malignant")}
        rest = n - sum(half.values())  # a label with too few images leaves its places to the other
        half = {k: v + (rest if v == n // 2 else 0) for k, v in half.items()} if rest else half
        df = pd.concat([df[df["benign_malignant"] == label].head(k) for label, k in half.items()])
    notes["held_out_lesions"] = int(len(df))
    df = df.reset_index(drop=True)
    notes["mask_warnings"] = misfit_masks(df[df["mask_source"] == "given"], mask_dir) if mask_dir else []
    return df, notes


def misfit_masks(table: pd.DataFrame, mask_dir: str | Path) -> list[str]:
    """Sentences about masks that cannot outline their image: another size than the image (a 7x3 px
    mask stretched over a 600x450 photo). Read from the headers; [] when every mask fits."""
    if not {"width", "height"} <= set(table.columns):
        return []
    misfits = []
    for row in table.itertuples():
        size = mask_size(mask_dir, row.isic_id)
        if row.width and size != (row.width, row.height):
            misfits.append(f"{row.isic_id} (mask {size[0]}x{size[1]} px, image {row.width}x{row.height} px)")
    if not misfits:
        return []
    return [f"{len(misfits)} of {len(table)} masks are not the size of their image, e.g. {misfits[0]}: they "
            "cannot outline it, and the figures that use them compare the heatmaps with a stretched outline."]


def empty_masks_warning(areas: list[float]) -> list[str]:
    """A sentence when some masks mark no lesion at all (all black) or nothing but lesion (all white):
    the pointing game and the share inside mean nothing on them."""
    empty, full = sum(a == 0 for a in areas), sum(a == 1 for a in areas)
    if not empty and not full:
        return []
    parts = [f"{empty} mark no lesion at all (all black)" if empty else "",
             f"{full} mark the whole image (all white)" if full else ""]
    return [f"Of {len(areas)} masks, {' and '.join(p for p in parts if p)}: the pointing game and the share inside "
            "the lesion mean nothing on those images."]


# ---------------------------------------------------------------- the evaluation

def evaluate_explanations(classifier, data_dir: str | Path, mask_dir: str | Path | None = None, n: int = 200,
                          n_randomise: int = 50, methods: list[str] | None = None, seed: int = 0,
                          steps: int = 16, n_boot: int = 1000, on_progress=None) -> dict:
    """Measure every method on `n` held-out images with masks; randomisation on the first
    `n_randomise` of them. Returns the JSON-ready report (see `explanations_table`)."""
    from skinml.images.decode import load_image, read_photo
    from skinml.segment.predict import mask_as_input, no_lesion, shipped_mask

    model, threshold = _model_and_threshold(classifier)
    methods = list(methods or METHODS)
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise DataError(f"Unknown method(s) {', '.join(unknown)}: choose from {', '.join(METHODS)}.")
    table, notes = held_out_images(classifier, data_dir, mask_dir, n, seed)
    n_randomise = min(n_randomise, len(table))
    size = int(model.input_shape[1])
    resize = getattr(classifier, "resize", "squash")
    groups = len(list(_blocks(model)))
    work, done = len(table) + n_randomise * groups, 0
    rng = np.random.default_rng(seed)
    centre = centre_gaussian((size, size), CENTRE_SIGMA)
    per_image: dict[str, dict[str, list]] = {m: {} for m in [*methods, "centre", "random"]}
    seconds = dict.fromkeys(methods, 0.0)
    kept = []  # (image, class, {method: map}) of the images the randomisation check uses

    def add(method, **values):
        for key, value in values.items():
            per_image[method].setdefault(key, []).append(value)

    sources, no_lesion_ids = [], []
    for k, row in table.iterrows():
        if row["mask_source"] == "given":
            mask = load_mask(notes["mask_folder"], row["isic_id"], size, resize)
        else:
            whole = shipped_mask(read_photo(row["image_path"]))
            if no_lesion(whole):  # nothing to measure a heatmap against
                no_lesion_ids.append(str(row["isic_id"]))
                done += 1
                continue
            mask = mask_as_input(whole, size, resize)
        sources.append(row["mask_source"])
        x = load_image(row["image_path"], size, resize)
        index = predicted_class(model, x, threshold)
        image, blank = x.astype("float32") / 255.0, blurred(x.astype("float32") / 255.0)
        predict = lambda batch, index=index: class_probability(model, batch, index)
        maps = {}
        for method in [*methods, "random"]:
            if method == "random":
                order = rng.permutation(size * size)
            else:
                start = time.perf_counter()
                maps[method] = METHODS[method][1](model, x, index)
                seconds[method] += time.perf_counter() - start
                order = salience_order(maps[method], rng)
                add(method, pointing_game=pointing_game(maps[method], mask),
                    share_inside=share_inside(maps[method], mask))
            deletion = perturbation_curve(predict, image, blank, order, steps)
            insertion = perturbation_curve(predict, blank, image, order, steps)
            add(method, deletion_auc=curve_area(deletion), insertion_auc=curve_area(insertion),
                deletion_curve=deletion, insertion_curve=insertion)
        add("centre", pointing_game=pointing_game(centre, mask), share_inside=share_inside(centre, mask),
            mask_area=float(mask.mean()))
        add("random", malignant=int(row["benign_malignant"] == "malignant"), predicted=index)
        if k < n_randomise:
            kept.append((x, index, maps))
        done += 1
        if on_progress:
            on_progress(done / work, {"stage": "measuring", "images": done})

    correlations: dict[str, dict[str, list]] = {m: {} for m in methods}
    for block, copy in cascading_randomisation(model, seed):
        for x, index, maps in kept:
            for method in methods:
                correlations[method].setdefault(block, []).append(
                    rank_correlation(maps[method], METHODS[method][1](copy, x, index)))
            done += 1
            if on_progress:
                on_progress(done / work, {"stage": "randomising " + block, "images": done})
        del copy

    if not sources:
        raise DataError(f"The segmenter found no lesion on any of the {len(table)} held-out images without a mask.")
    notes.update(mask_origin(sources), no_lesion_found=len(no_lesion_ids), no_lesion_found_ids=no_lesion_ids[:20])
    notes["mask_warnings"] = [*notes.get("mask_warnings", []), *empty_masks_warning(per_image["centre"]["mask_area"])]
    return _report(classifier, per_image, correlations, seconds, notes, len(sources), min(n_randomise, len(kept)),
                   steps, n_boot, seed)


def mask_origin(sources: list[str]) -> dict:
    """{"masks": "given" | "predicted" | "mixed", "masks_given", "masks_predicted", "segmenter_jaccard"}
    of the measured images' mask sources; the Jaccard (the shipped segmenter's on its held-out
    HAM10000 lesions, read from its metrics.json) only when some masks were predicted, else None."""
    from skinml.segment.predict import shipped_jaccard

    given, predicted = sources.count("given"), sources.count("predicted")
    kind = "mixed" if given and predicted else "predicted" if predicted else "given"
    return {"masks": kind, "masks_given": given, "masks_predicted": predicted,
            "segmenter_jaccard": shipped_jaccard() if predicted else None}


def masks_sentence(report: dict) -> str:
    """Which outlines a report measured against, in words (a report from before `mask_origin`: given)."""
    given = report.get("masks_given", report.get("n", 0))
    predicted = report.get("masks_predicted", 0)
    if not predicted:
        return f"All {given} outlines were drawn by dermatologists (the dataset's masks)."
    jaccard = report.get("segmenter_jaccard")
    quality = (f" (its mean Jaccard against dermatologists' outlines on held-out HAM10000 lesions: {jaccard:.2f})"
               if jaccard is not None else "")
    return (f"{predicted} of the {given + predicted} outlines were predicted by the lesion segmenter{quality}, "
            f"{given} drawn by dermatologists: against a predicted outline the figures measure the heatmap "
            "against the segmenter's idea of the lesion.")


def _blocks(model):
    from skinml.explain.randomisation import weight_groups

    return (block for block, _ in weight_groups(model))


def _report(classifier, per_image, correlations, seconds, notes, n, n_randomise, steps, n_boot, seed) -> dict:
    s = lambda values: summarise(values, n_boot, seed)
    centre, random = per_image["centre"], per_image["random"]
    report = {
        "model": (getattr(classifier, "info", None) or {}).get("name") or getattr(classifier, "name", "model"),
        "model_version": str((getattr(classifier, "info", None) or {}).get("version", "")),
        "n": n, "n_randomised": n_randomise, "n_malignant": int(sum(random["malignant"])),
        "n_predicted_malignant": int(sum(random["predicted"])), **notes,
        "explained_class": "the class the model predicts at its threshold",
        "settings": {"deletion": f"pixels replaced by a Gaussian-blurred copy (sigma = side / 16), {steps} steps",
                     "centre_baseline": f"Gaussian on the centre, sigma = {CENTRE_SIGMA} x side",
                     "intervals": f"95% percentile bootstrap over images, {n_boot} resamples",
                     "randomisation": "kernels and biases re-initialised block by block from the output down; "
                                      "Spearman correlation with the trained model's map"},
        "centre": {"pointing_game": s(centre["pointing_game"]), "share_inside": s(centre["share_inside"]),
                   "mask_area": s(centre["mask_area"])},
        "random_order": {"deletion_auc": s(random["deletion_auc"]), "insertion_auc": s(random["insertion_auc"])},
        "curves": {"fraction": np.linspace(0, 1, steps + 1).round(4).tolist(),
                   "random": {"deletion": np.mean(random["deletion_curve"], 0).round(4).tolist(),
                              "insertion": np.mean(random["insertion_curve"], 0).round(4).tolist()}},
        "methods": {},
    }
    for method, values in per_image.items():
        if method in ("centre", "random"):
            continue
        diff = lambda a, b, values=values: np.asarray(values[a]) - np.asarray(b)
        report["methods"][method] = {
            "label": METHODS[method][0],
            "pointing_game": s(values["pointing_game"]), "share_inside": s(values["share_inside"]),
            "pointing_game_minus_centre": s(diff("pointing_game", centre["pointing_game"])),
            "share_inside_minus_centre": s(diff("share_inside", centre["share_inside"])),
            "deletion_auc": s(values["deletion_auc"]), "insertion_auc": s(values["insertion_auc"]),
            "deletion_auc_minus_random": s(diff("deletion_auc", random["deletion_auc"])),
            "insertion_auc_minus_random": s(diff("insertion_auc", random["insertion_auc"])),
            "randomisation": {block: s(r) for block, r in correlations.get(method, {}).items()},
            "seconds_per_image": round(seconds[method] / max(1, n), 4),
        }
        report["curves"][method] = {"deletion": np.mean(values["deletion_curve"], 0).round(4).tolist(),
                                    "insertion": np.mean(values["insertion_curve"], 0).round(4).tolist()}
    return report


# ---------------------------------------------------------------- for the dashboard

def save_explanations(report: dict, folder: str | Path) -> Path:
    """Write the report as `explanations.json` in a classifier folder."""
    return save_report(report, folder, EXPLANATIONS_FILE)


def load_explanations(classifier) -> dict | None:
    """The saved report of a classifier folder (a `Classifier` or a path), or None."""
    return load_report(classifier, EXPLANATIONS_FILE)


def explanations_table(classifier) -> pd.DataFrame | None:
    """One row per method plus the centre baseline: mean and 95% interval of each measure, as text
    ("0.62 (0.55 to 0.69)"), with the method as index; None when the classifier has no report."""
    report = load_explanations(classifier)
    if report is None:
        return None
    shown = lambda f: f"{f['mean']:.2f} ({f['low']:.2f} to {f['high']:.2f})"
    rows = {}
    for method in report["methods"].values():
        row = {"pointing game": shown(method["pointing_game"]), "share inside lesion": shown(method["share_inside"]),
               "deletion area (lower is better)": shown(method["deletion_auc"]),
               "insertion area (higher is better)": shown(method["insertion_auc"])}
        if method["randomisation"]:
            blocks = list(method["randomisation"].items())
            top, bottom = blocks[0], blocks[-1]
            row[f"rank corr., {top[0]} randomised"] = shown(top[1])
            row["rank corr., all randomised"] = shown(bottom[1])
        rows[method["label"]] = row
    rows["centre baseline (no model)"] = {"pointing game": shown(report["centre"]["pointing_game"]),
                                          "share inside lesion": shown(report["centre"]["share_inside"])}
    order = report["random_order"]
    rows["random order (no model)"] = {"deletion area (lower is better)": shown(order["deletion_auc"]),
                                       "insertion area (higher is better)": shown(order["insertion_auc"])}
    return pd.DataFrame.from_dict(rows, orient="index").fillna("")


def best_method(classifier, measure: str = "pointing_game") -> str | None:
    """The id (a key of METHODS) of the method with the highest mean `measure` in the classifier's
    saved report (the lowest for `deletion_auc`), or None when it has none."""
    report = load_explanations(classifier)
    if not report:
        return None
    sign = -1 if measure == "deletion_auc" else 1
    return max(report["methods"], key=lambda m: sign * report["methods"][m][measure]["mean"])


def trust_sentence(classifier, method: str | None = None) -> str | None:
    """One sentence for the clinician's page: how often `method` (default: `best_method`) pointed
    inside the lesion on held-out images, beside the centre baseline; None without a report."""
    report = load_explanations(classifier)
    method = method or best_method(classifier)
    if not report or method not in report["methods"]:
        return None
    m, centre = report["methods"][method], report["centre"]["pointing_game"]
    hit = m["pointing_game"]
    predicted = report.get("masks_predicted", 0)
    outlines = ("with a dermatologist's lesion outline" if not predicted else
                f"with a lesion outline ({predicted} of them predicted by the lesion segmenter, not drawn by a "
                "dermatologist)")
    return (f"On {report['n']} held-out images {outlines}, the peak of this heatmap "
            f"({m['label']}) fell inside the lesion on {hit['mean']:.0%} of them (95% interval {hit['low']:.0%} to "
            f"{hit['high']:.0%}); the centre of the image, which knows nothing of the model, did on "
            f"{centre['mean']:.0%}. A heatmap shows what moved the model, not where the lesion is.")

