"""The settings of a segmenter training run (`SegmenterConfig`), written to its `config.json`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from skinml.errors import SkinmlError


@dataclass(frozen=True)
class SegmenterConfig:
    """Everything that defines a segmenter training run.

    data: the HAM10000 folder ("" = ../shared/data/ham10000 as found by skinml.data); masks:
    its folder of `<isic_id>_segmentation.png` ("" = the `<data>-segmentations` folder beside
    it). image_size: the model's square input in pixels; every photo is squashed to it (the
    predicted mask is resized back to the photo's own size), so that turns by 90 degrees are
    an augmentation like flips. filters: the U-Net's channels per level, the last one the
    bottleneck. The split is the project's grouped split (70/20/10 by lesion, stratified by
    diagnosis class, `seed`), so that the test lesions are never seen in training.
    time_budget: seconds of training (0 = none); after each epoch the number of epochs, and
    with it the cosine schedule, is fitted to the time left. max_images: 0 = all, else a
    random subset (quick benchmarks and tests).
    """

    data: str = ""
    masks: str = ""
    image_size: int = 128
    filters: tuple[int, ...] = (12, 24, 48, 96, 192)
    epochs: int = 60
    batch_size: int = 16
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    warmup_epochs: int = 1
    augment: bool = True
    max_images: int = 0
    time_budget: float = 0.0
    seed: int = 0

    def check(self) -> SegmenterConfig:
        """Raise SkinmlError with a sentence for any setting that cannot work."""
        depth = len(self.filters) - 1
        if depth < 1 or any(f < 1 for f in self.filters):
            raise SkinmlError("filters needs at least two positive channel counts (levels and bottleneck).")
        if self.image_size < 16 or self.image_size % (2 ** depth):
            raise SkinmlError(f"image_size must be at least 16 and a multiple of {2 ** depth} "
                              f"for a U-Net of {depth} levels.")
        if self.epochs < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise SkinmlError("epochs and batch_size must be at least 1 and learning_rate positive.")
        if self.time_budget < 0 or self.max_images < 0:
            raise SkinmlError("time_budget is seconds (0 = no limit) and max_images a count (0 = all).")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SegmenterConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in names})
