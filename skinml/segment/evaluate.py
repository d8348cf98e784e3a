"""A segmenter measured as ISIC 2018 Task 1 measures: predicted masks at the photo's size against
the dermatologist's, on held-out lesions, with intervals, per source and per diagnosis."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from skinml.data.masks import load_mask
from skinml.errors import DataError
from skinml.images.decode import read_photo
from skinml.metrics.segmentation import score_masks, segmentation_report
from skinml.progress import OnProgress
from skinml.segment.data import load_table
from skinml.segment.predict import segment_photos, touches_border


def evaluate_table(model, table: pd.DataFrame, n_boot: int = 1000, seed: int = 0, batch_size: int = 32,
                   on_progress: OnProgress | None = None) -> tuple[dict, pd.DataFrame]:
    """Segment every row's photo (table columns: isic_id, image_path, mask_path, and optionally
    lesion_id, attribution, dx) and score it against its mask at the photo's size.

    Returns (report, scores): `skinml.metrics.segmentation.segmentation_report` per source
    (attribution) and diagnosis class (dx), intervals resampling lesions; and one row per image
    (isic_id and the measures).
    """
    if table.empty:
        raise DataError("There are no images with masks to evaluate.")
    scores = []
    rows = list(table.itertuples())
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        photos = [read_photo(r.image_path) for r in chunk]
        truths = [load_mask(Path(r.mask_path).parent, r.isic_id) for r in chunk]
        preds = segment_photos(model, photos, batch_size)
        part = score_masks(truths, preds, [r.isic_id for r in chunk])
        part["lesion_share"] = [t.mean() for t in truths]  # how much of the photo the true lesion covers
        part["touches_border"] = [touches_border(t) for t in truths]
        part["width"], part["height"] = [p.shape[1] for p in photos], [p.shape[0] for p in photos]
        scores.append(part)
        if on_progress:
            on_progress(min(1.0, (start + len(chunk)) / len(rows)), {})
    scores = pd.concat(scores)
    report = segmentation_report(scores, table, n_boot=n_boot, seed=seed)
    return report, scores.rename_axis("isic_id").reset_index()


def held_out(table: pd.DataFrame, seen: pd.DataFrame | None) -> tuple[pd.DataFrame, int]:
    """The rows of `table` whose image and lesion the segmenter never saw in training or
    validation (`seen`: its split table), and how many were left out."""
    if seen is None or seen.empty:
        return table, 0
    used = seen[seen["split"] != "test"]
    lesions = set(used["lesion_id"].astype(str)) - {""}
    out = ~table["isic_id"].astype(str).isin(set(used["isic_id"].astype(str)))
    if "lesion_id" in table:
        out &= ~table["lesion_id"].astype(str).isin(lesions)
    return table[out], int((~out).sum())


def evaluate_folder(model, data: str | Path, masks: str | Path | None = None, seen: pd.DataFrame | None = None,
                    n_boot: int = 1000, on_progress: OnProgress | None = None) -> tuple[dict, pd.DataFrame]:
    """`evaluate_table` on every image of a dataset folder that has a mask and that the segmenter
    did not train or validate on; the report says how many were left out (`left_out_seen`)."""
    table, left_out = held_out(load_table(data, masks), seen)
    report, scores = evaluate_table(model, table, n_boot=n_boot, on_progress=on_progress)
    report["left_out_seen"] = left_out
    return report, scores
