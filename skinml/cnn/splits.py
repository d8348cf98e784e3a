"""A training run's images and labels: the table with its split, the pixels, the targets.

The same for training and finishing: from dataset folder(s) through the data policy, or
from an image pack with its stored split.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from skinml.cnn.config import TrainConfig
from skinml.errors import DataError
from skinml.progress import OnProgress


def load_splits(config: TrainConfig, on_progress: OnProgress | None = None) -> pd.DataFrame:
    """The table of the run's images with a `split` column and the task's `label` (int).

    From the dataset folder(s) (policy, balance, grouped split), or from an image pack (its
    stored split; `pack_row` is each row's image in the pack). binary: label 1 = malignant;
    diagnosis: the index of the row's class in DIAGNOSIS_CLASSES (rows of other diagnoses
    are left out).
    """
    from skinml.data.policy import DIAGNOSIS_CLASSES, DataPolicy, diagnosis_class, prepare
    from skinml.data.readers import default_data_dir

    diagnosis = config.task == "diagnosis"
    if config.pack:
        from skinml.images.pack import read_index

        df = read_index(config.pack).assign(image_path="")
        df["pack_row"] = np.arange(len(df))
        df.attrs.update(root=config.pack, layout="image pack")
    else:
        exclude = tuple(tuple(rule.split("=", 1)) for rule in config.exclude)
        policy = DataPolicy(exclude=exclude, dermoscopic_only=config.dermoscopic_only)
        df = prepare(config.data or str(default_data_dir()), policy,
                     balance=config.balance and not diagnosis, seed=config.seed, on_progress=on_progress,
                     stratify="dx" if diagnosis else "benign_malignant")
    if diagnosis:
        df = df.assign(dx=df["dx"] if "dx" in df else diagnosis_class(df))
        df = df[df["dx"].isin(DIAGNOSIS_CLASSES)]  # images of other or no diagnosis stay out
        df = df.assign(label=df["dx"].map(DIAGNOSIS_CLASSES.index))
        classes = DIAGNOSIS_CLASSES
    else:
        df = df[df["benign_malignant"].isin(["benign", "malignant"])]
        df = df.assign(label=df["benign_malignant"].eq("malignant").astype(int))
        classes = ("benign", "malignant")
    if config.max_images and len(df) > config.max_images:
        share = config.max_images / len(df)
        df = df.groupby(["split", "label"], group_keys=False).sample(frac=share, random_state=config.seed)
    for split in ("train", "val"):
        present = set(df.loc[df["split"] == split, "label"])
        if len(present) < 2:
            names = sorted(classes[i] for i in present)
            raise DataError(f"The {split} split needs images of at least two classes; it has "
                            f"{names or 'none'}. Use a larger dataset.")
    df.attrs["classes"] = list(classes)
    if config.crop == "lesion":
        df = with_lesion_crops(config, df)
    return df


CROPS_FILE = "crops.csv"  # in a run directory: each image's lesion-centred crop (skinml.runs.crops)


def with_lesion_crops(config: TrainConfig, df: pd.DataFrame) -> pd.DataFrame:
    """`df` with each `image_path` replaced by its lesion-centred crop, as listed in the run
    directory's crops.csv (written before training by `skinml.runs.crops.write_lesion_crops`); the
    original path stays in `photo_path`."""
    from pathlib import Path

    table = Path(config.run_dir) / CROPS_FILE if config.run_dir else None
    if table is None or not table.is_file():
        raise DataError("This run reads lesion-centred crops, but its run directory has no crops.csv: train it "
                        "with `python -m skinml train` or the dashboard, which prepare them.")
    crops = pd.read_csv(table, dtype=str, keep_default_na=False).set_index("image_path")["crop_path"]
    missing = ~df["image_path"].isin(crops.index)
    if missing.any():
        raise DataError(f"{int(missing.sum())} images of the run have no lesion crop in {table} (e.g. "
                        f"{df.loc[missing, 'isic_id'].iloc[0]}): delete the file to prepare them again.")
    attrs = dict(df.attrs)
    df = df.assign(photo_path=df["image_path"], image_path=df["image_path"].map(crops))
    df.attrs.update(attrs)
    return df


def split_images(config: TrainConfig, part: pd.DataFrame) -> np.ndarray:
    """uint8 (N, S, S, 3) images of the rows `part` of `load_splits`: from the on-disk array
    cache of the dataset folder, or from the image pack (reduced to the run's size when the
    pack's images are larger: a 128 px pack also trains a quick 64 px run)."""
    if config.pack:
        from skinml.images.pack import pack_images

        images = pack_images(config.pack)[part["pack_row"].to_numpy()]
        if images.shape[1] < config.image_size:
            raise DataError(f"The pack's images are {images.shape[1]} px, smaller than the {config.image_size} px "
                            "the run asks for: use a smaller image size or a larger pack.")
        if images.shape[1] > config.image_size:
            from PIL import Image

            from skinml.images.decode import load_image

            size = config.image_size
            images = np.stack([load_image(Image.fromarray(a), size, "squash") for a in images]) \
                if len(images) else np.zeros((0, size, size, 3), "uint8")
        return images
    from skinml.images.pipeline import load_array

    return load_array(part["image_path"], config.image_size, config.resize)


def uses_metadata(config: TrainConfig) -> bool:
    """Whether the run's model takes the patient's metadata as a second input."""
    from skinml.cnn.models import METADATA_MODELS

    return config.model in METADATA_MODELS


def split_metadata(config: TrainConfig, part: pd.DataFrame) -> np.ndarray | None:
    """float32 (N, F) metadata features of the rows `part` (skinml.data.tabular) when the
    run's model reads them, else None."""
    if not uses_metadata(config):
        return None
    from skinml.data.tabular import metadata_features

    return metadata_features(part)


def targets(config: TrainConfig, labels: np.ndarray) -> np.ndarray:
    """What the loss compares with: 0/1 (binary), or one-hot rows (diagnosis, so that label
    smoothing works the same way)."""
    if config.task == "binary":
        return np.asarray(labels, "float32")
    from skinml.data.policy import DIAGNOSIS_CLASSES

    return np.eye(len(DIAGNOSIS_CLASSES), dtype="float32")[np.asarray(labels, int)]
