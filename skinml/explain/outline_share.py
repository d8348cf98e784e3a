"""How much of the CNN's heatmap falls inside the lesion's outline: a teaching measure.

For a sample of held-out images, the heatmap the clinician's page draws (the method measured
best for the classifier, `best_method`, else Grad-CAM; the class it predicts at its threshold)
is compared with the lesion's outline: the dataset's mask when it has one, else the
segmenter's prediction (counted as "predicted"). The measure is `share_inside` of
`skinml.explain.measures`, the share of the map's positive mass inside the outline. Beside it
stands a baseline that knows nothing of the image: the same share for a centred blob of the
same area as that image's lesion (the most central pixels by `centre_gaussian`). Means come
with 95% bootstrap intervals (`summarise`), and so does the per-image difference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from skinml.explain.abcd_rule import outline_of
from skinml.explain.measures import centre_gaussian, share_inside, summarise
from skinml.explain.trust import CENTRE_SIGMA, METHODS, best_method, method_maps
from skinml.images.decode import load_image, read_photo
from skinml.progress import OnProgress
from skinml.segment.predict import mask_as_input, no_lesion


def centred_blob(shape: tuple[int, int], pixels: int) -> np.ndarray:
    """bool (H, W): the `pixels` most central pixels (highest `centre_gaussian`), an ellipse of the
    image's aspect on its centre with exactly that area."""
    order = np.argsort(-centre_gaussian(shape, CENTRE_SIGMA), axis=None, kind="stable")
    blob = np.zeros(shape[0] * shape[1], bool)
    blob[order[:int(pixels)]] = True
    return blob.reshape(shape)


def heatmap_in_outline(classifier, table: pd.DataFrame, mask_dirs: list[str | Path] = (), segmenter=None,
                       method: str | None = None, n: int = 40, seed: int = 0, n_boot: int = 1000,
                       on_progress: OnProgress | None = None) -> dict:
    """The share of the classifier's heatmap inside each lesion's outline, on a seeded sample of `n` rows
    of `table` (isic_id, image_path: held-out images), beside a centred blob of the same area.

    Returns {"method", "label", "n", "masks": {"given", "predicted", "none"}, "share_inside",
    "centred_blob", "difference" (each `summarise`'s dict), "per_image" (a table)}. Images whose
    outline marks no lesion are counted under "none" and left out.
    """
    rows = table[table["image_path"] != ""]
    if n and len(rows) > n:
        rows = rows.sample(n=n, random_state=seed)
    method = method or best_method(classifier) or "gradcam"
    size, resize = int(classifier.image_size), getattr(classifier, "resize", "squash")
    counts, records = {"given": 0, "predicted": 0, "none": 0}, []
    for i, row in enumerate(rows.itertuples()):
        photo = read_photo(row.image_path)
        mask, source = outline_of(photo, row.isic_id, mask_dirs, segmenter)
        if mask is None or mask.shape != photo.shape[:2] or no_lesion(mask):
            counts["none"] += 1
        else:
            counts[source] += 1
            x, inside = load_image(photo, size, resize), mask_as_input(mask, size, resize)
            try:
                heat = method_maps(classifier, x, None, [method])[METHODS[method][0]]
            except ValueError:  # the measured method does not fit this architecture: the page draws Grad-CAM
                method = "gradcam"
                heat = method_maps(classifier, x, None, [method])[METHODS[method][0]]
            records.append({"isic_id": str(row.isic_id), "mask": source, "lesion_share": float(inside.mean()),
                            "share_inside": share_inside(heat, inside),
                            "centred_blob": share_inside(heat, centred_blob(inside.shape, inside.sum()))})
        if on_progress:
            on_progress((i + 1) / len(rows), {})
    per_image = pd.DataFrame(records, columns=["isic_id", "mask", "lesion_share", "share_inside", "centred_blob"])
    s = lambda values: summarise(values, n_boot, seed)
    return {"method": method, "label": METHODS[method][0], "n": int(len(per_image)), "masks": counts,
            "share_inside": s(per_image["share_inside"]), "centred_blob": s(per_image["centred_blob"]),
            "difference": s(per_image["share_inside"] - per_image["centred_blob"]), "per_image": per_image}


def outline_share_sentence(out: dict, segmenter_jaccard: float | None = None) -> str:
    """One plain sentence for `heatmap_in_outline`'s result, saying which outlines were predicted."""
    if not out["n"]:
        return "No image of the sample had a lesion outline, so nothing was measured."
    share, blob, diff = out["share_inside"], out["centred_blob"], out["difference"]
    masks = out["masks"]
    where = (f"{masks['given']} outlines drawn by dermatologists, {masks['predicted']} predicted by the segmenter"
             + (f" (mean Jaccard {segmenter_jaccard:.2f} against dermatologists' outlines on held-out HAM10000 "
                "lesions)" if masks["predicted"] and segmenter_jaccard is not None else ""))
    verdict = ("more than" if diff["low"] > 0 else "less than" if diff["high"] < 0 else
               "no clearly different share from")
    return (f"On {out['n']} held-out images, {share['mean']:.0%} of the {out['label']} heatmap fell inside the "
            f"lesion's outline (95% interval {share['low']:.0%} to {share['high']:.0%}), {verdict} a centred blob "
            f"of the same area, which knows nothing of the image ({blob['mean']:.0%}, {blob['low']:.0%} to "
            f"{blob['high']:.0%}); {where}. A heatmap shows what moved the model, not where the lesion is.")
