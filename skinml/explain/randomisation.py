"""The sanity check of Adebayo et al. (2018): re-initialise a model's layers from the top down.

If a heatmap stays the same while the weights that produced the answer are replaced by
random ones, it shows the image (edges, dark blobs), not what the model learned. The check
randomises the output layer first, then each block below it in turn, cumulatively, and
compares each method's map on the randomised model with its map on the trained one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import keras


def block_of(layer_name: str) -> str:
    """The block a layer belongs to, the same for every ensemble member: `member2_stage3_block1_conv2`
    -> `stage3_block1`, `member1_stem_conv` -> `stem`, `logit` -> `logit`, `dense512` -> `dense512`."""
    name = re.sub(r"^member\d+_", "", layer_name)
    block = re.match(r"(.+?_block\d+)_", name)
    return block.group(1) if block else name.split("_")[0]


def _initializer(layer, variable):
    """The initializer a layer drew a weight from (`kernel_initializer`; `depthwise_initializer`
    for a `depthwise_kernel`), or None."""
    for attribute in (f"{variable.name}_initializer", variable.name.replace("_kernel", "") + "_initializer"):
        if getattr(layer, attribute, None) is not None:
            return getattr(layer, attribute)
    return None


def _randomisable(layer) -> list:
    """A layer's weights that hold what it learned: kernels and biases (batch-norm statistics and
    scales stay as trained, so a randomised block still passes signals of a sensible size)."""
    if isinstance(layer, keras.layers.BatchNormalization):
        return []
    return [v for v in layer.trainable_weights if _initializer(layer, v) is not None]


def weight_groups(model: keras.Model) -> list[tuple[str, list[str]]]:
    """[(block, [layer names])] of every block with randomisable weights, output first."""
    groups: dict[str, list[str]] = {}
    for layer in reversed(model.layers):
        if _randomisable(layer):
            groups.setdefault(block_of(layer.name), []).append(layer.name)
    return list(groups.items())


def _reinitialise(layer, seed: int) -> None:
    for k, variable in enumerate(_randomisable(layer)):
        initializer = _initializer(layer, variable)
        config = initializer.get_config()
        if "seed" in config:
            initializer = initializer.__class__.from_config({**config, "seed": seed + k})
        variable.assign(initializer(tuple(variable.shape), dtype=variable.dtype))


def copy_model(model: keras.Model) -> keras.Model:
    """A new model object with the same architecture and weights (the original is never changed)."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def cascading_randomisation(model: keras.Model, seed: int = 0,
                            max_steps: int | None = None) -> Iterator[tuple[str, keras.Model]]:
    """Yield (block, a copy of `model` with that block and every block above it re-initialised).

    Each yielded model is a new object (compiled explanations are cached per model), and
    `model` itself is left as it was. `max_steps` stops after that many blocks.
    """
    work = copy_model(model)
    for step, (block, names) in enumerate(weight_groups(model)[:max_steps]):
        for i, name in enumerate(names):
            _reinitialise(work.get_layer(name), seed + 1000 * step + 10 * i)
        yield block, copy_model(work)


def changed_share(a: keras.Model, b: keras.Model) -> float:
    """The share of weight values that differ between two models of one architecture."""
    pairs = list(zip(a.get_weights(), b.get_weights()))
    return sum(float((x != y).sum()) for x, y in pairs) / max(1, sum(x.size for x, _ in pairs))
