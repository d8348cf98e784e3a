"""The settings of a classifier training run (`TrainConfig`), written to its `config.json`.

Imports no Keras (the command line builds its options from this module in a fraction of a
second); the names of models and augmentations are checked against their registries in `check`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from skinml.errors import SkinmlError

OPTIMIZERS = ("adamw", "adam", "rmsprop", "sgd")
SCHEDULES = ("constant", "cosine")
FEEDS = ("auto", "tfdata", "array")
CROPS = ("none", "lesion")  # what the model reads: the whole photo, or a square around the lesion
TASKS = ("binary", "diagnosis")  # the one list of tasks (model.json's "task", Classifier.task)
DEFAULT_MODEL = "skinml_resnet"

# The thesis's recipe (THESIS.md): 256 px, RMSprop, batch 64, up to 100 epochs, no schedule.
THESIS_SETTINGS = dict(image_size=256, optimizer="rmsprop", learning_rate=1e-3, weight_decay=0.0,
                       schedule="constant", warmup_epochs=0, batch_size=64, epochs=100,
                       augment="none", class_weight="none", label_smoothing=0.0, patience=100)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; written to `config.json` in its run directory.

    data: dataset folder ("" = skinml.data.default_data_dir()), or several joined by
    os.pathsep (":"), read as one dataset. pack: an image pack (skinml.images.pack) to train
    on instead, with the split stored in it (a lent GPU has no dataset folder). task: binary
    (benign/malignant, one sigmoid) or diagnosis (the seven HAM10000 classes, softmax; the
    split is then stratified by diagnosis). model: a name in
    skinml.cnn.models.MODELS. image_size (px, square) and resize ("squash" or "crop").
    optimizer: adamw, adam, rmsprop or sgd; schedule: constant or cosine (with linear warm-up
    over warmup_epochs). augment: none, thesis, light or strong (per batch in the input
    pipeline). class_weight: none or balanced. monitor: the validation metric that picks the
    best epoch (val_auc, val_accuracy, val_sensitivity or val_loss); patience: epochs without
    improvement before stopping early. target_sensitivity: 0 keeps the threshold at 0.5,
    else the threshold is chosen on the validation split to reach it. calibrate: fit the
    temperature of skinml_* models on the validation split. exclude ("column=value" rules) and
    dermoscopic_only: the data rules (`skinml.data.DataPolicy`; the dashboard's Data page).
    max_images: 0 = all, else a
    stratified subsample (quick experiments). feed: auto (tf.data for a binary image-only
    run on dataset folders under TensorFlow, NumPy arrays otherwise), tfdata or array.
    metadata_dropout: for a model that reads age, sex and site, the rate at which training
    hides them (`skinml.data.tabular.metadata_dropout`: all three, and each on its own), so
    that the model also learns to answer when they are unknown; 0 = never (older runs).
    time_budget: seconds (0 = none); after each epoch the number of epochs, and with it the
    cosine schedule, is fitted to the time left.
    devices: train data-parallel on this many devices (0 = all visible; skinml.cnn.distribute),
    the batch split between them.
    run_dir: "" = $SKINML_RUNS (or runs/)/<model>-<time>.
    crop: "none" (the whole photo, as before) or "lesion": the model reads a square crop centred
    on the lesion (`skinml.images.crop`), in training (the dataset's masks, else the shipped
    segmenter's, computed once and cached: `skinml.runs.crops`) and in prediction (the shipped
    segmenter's mask of the upload, `skinml.predict.predict_upload`).
    """

    data: str = ""
    pack: str = ""
    task: str = "binary"
    model: str = DEFAULT_MODEL
    image_size: int = 128
    resize: str = "squash"
    epochs: int = 40
    batch_size: int = 32
    optimizer: str = "adamw"
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    warmup_epochs: int = 2
    augment: str = "strong"
    label_smoothing: float = 0.0
    class_weight: str = "balanced"
    monitor: str = "val_auc"
    patience: int = 10
    target_sensitivity: float = 0.0
    calibrate: bool = True
    tta: bool = False
    balance: bool = True
    exclude: tuple[str, ...] = ()
    dermoscopic_only: bool = True
    max_images: int = 0
    feed: str = "auto"
    metadata_dropout: float = 0.0
    time_budget: float = 0.0
    devices: int = 1
    seed: int = 0
    run_dir: str = ""
    crop: str = "none"

    def __post_init__(self):
        if self.task == "diagnosis" and self.monitor == "val_auc":  # the default means "the task's measure"
            object.__setattr__(self, "monitor", "val_balanced_accuracy")

    def check(self) -> TrainConfig:
        """Raise SkinmlError with a sentence for any setting that cannot work."""
        from skinml.cnn.models import MODELS
        from skinml.images.augment import STRENGTHS

        choices = {"model": MODELS, "optimizer": OPTIMIZERS, "schedule": SCHEDULES,
                   "augment": STRENGTHS, "feed": FEEDS, "resize": ("squash", "crop"),
                   "class_weight": ("none", "balanced"), "task": TASKS, "crop": CROPS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise SkinmlError(f"Unknown {name} '{getattr(self, name)}': use one of {', '.join(allowed)}.")
        if self.crop == "lesion" and self.pack:
            raise SkinmlError("crop 'lesion' reads the dataset's photos: it does not work with an image pack.")
        if self.image_size < 16 or self.epochs < 1 or self.batch_size < 1:
            raise SkinmlError("image_size must be at least 16, epochs and batch_size at least 1.")
        if not self.monitor.startswith("val_"):
            raise SkinmlError("monitor must be a validation metric (val_auc, val_accuracy, ...), "
                              f"not '{self.monitor}'.")
        if self.task == "diagnosis" and self.monitor == "val_sensitivity":
            raise SkinmlError("The diagnosis task picks its best epoch by val_balanced_accuracy, val_accuracy "
                              "or val_loss, not val_sensitivity.")
        if self.devices < 0:
            raise SkinmlError("devices is a number of devices (0 = all visible, 1 = no data parallelism).")
        if not 0 <= self.metadata_dropout < 1:
            raise SkinmlError("metadata_dropout is a rate: 0 (never) or a share below 1, such as 0.3.")
        if self.time_budget < 0:
            raise SkinmlError("time_budget is a number of seconds (0 = no limit).")
        if not 0 <= self.target_sensitivity < 1:
            raise SkinmlError("target_sensitivity must be 0 (threshold 0.5) or a share below 1, such as 0.9.")
        for rule in self.exclude:
            if "=" not in rule:
                raise SkinmlError(f"Exclude rules look like column=value, not '{rule}'.")
        return self

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        d = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in names}
        return cls(**d)


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    """Batches in one epoch of `n_train` images, as training counts them (and the plan shows them):
    the last, partial batch is dropped when there are at least two full ones (batch normalisation
    dislikes a batch of one)."""
    drop = n_train >= 2 * batch_size
    return max(1, n_train // batch_size if drop else math.ceil(n_train / batch_size))
