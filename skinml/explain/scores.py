"""What every explanation explains: one class's score, for binary, multi-class and ensemble models.

A skinml model ends in an output layer that turns class *scores* (logits) into
probabilities: one sigmoid unit (p(malignant)) or a softmax over classes. Gradient methods
follow the score (a saturated probability has no gradient); perturbation methods
(occlusion, deletion curves) track the probability. For a one-unit sigmoid model class 1 is
malignant, with the logit as its score, and class 0 benign, with the logit's negative.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from skinml.explain.features import _submodel, prepare_input


def gradient(fn, x):
    """d sum(fn(x)) / dx by the backend's automatic differentiation; `x` a tensor or a list of them."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = [tf.convert_to_tensor(v) for v in x] if isinstance(x, list) else tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = ops.sum(fn(x))
        return tape.gradient(y, x)
    if backend == "jax":
        import jax

        return jax.grad(lambda v: ops.sum(fn(v)))(x)
    if backend == "torch":
        import torch

        leaves = x if isinstance(x, list) else [x]
        leaves = [torch.as_tensor(ops.convert_to_numpy(v)).requires_grad_(True) for v in leaves]
        ops.sum(fn(leaves if isinstance(x, list) else leaves[0])).backward()
        return [v.grad for v in leaves] if isinstance(x, list) else leaves[0].grad
    raise NotImplementedError(f"skinml's explanations do not know the '{backend}' backend yet.")


def compiled(model: keras.Model, key: tuple, build):
    """The function `build()` returns, compiled by the backend (tf.function, jax.jit) and kept
    with `model` under `key`: compiled once, fast on every later image.

    JAX compiles the weights in as constants: a model whose weights are changed afterwards
    (the randomisation check) must be a new model object, as `randomisation` makes it.
    """
    def build_compiled():
        fn, backend = build(), keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf

            return tf.function(fn, reduce_retracing=True)
        if backend == "jax":
            import jax

            return jax.jit(fn)
        return fn
    return _submodel(model, ("compiled", *key), build_compiled)


def n_units(model: keras.Model) -> int:
    return int(model.output_shape[-1])


def resolve_class(model: keras.Model, target: str | None = None, class_index: int | None = None) -> int:
    """The class to explain: `target` ("malignant"/"benign", binary models) or `class_index`;
    default malignant (1) for a binary model. A multi-class model needs `class_index`."""
    if target is not None:
        if target not in ("malignant", "benign"):
            raise ValueError(f"target must be 'malignant' or 'benign', not {target!r}")
        if n_units(model) != 1:
            raise ValueError("target names a class of a binary model; give a multi-class model a class_index")
        return 1 if target == "malignant" else 0
    if class_index is None:
        if n_units(model) != 1:
            raise ValueError(f"{model.name} has {n_units(model)} classes: say which with class_index")
        return 1
    index, top = int(class_index), max(2, n_units(model))
    if not 0 <= index < top:
        raise ValueError(f"class_index {index} is outside 0..{top - 1} for {model.name}")
    return index


def output_logits(output_layer, x):
    """The class scores the output layer turns into probabilities: (N, units)."""
    if isinstance(output_layer, keras.layers.Dense):  # Dense(activation=...): redo it linearly
        x = ops.matmul(x, output_layer.kernel)
        return x + output_layer.bias if output_layer.use_bias else x
    return x  # an Activation layer (or anything else): its input is already the score


def pick_class(logits, units: int, index: int):
    """(N,) score of class `index` from (N, units) logits (sigmoid: benign = -logit)."""
    if units == 1:
        return logits[:, 0] if index == 1 else -logits[:, 0]
    return logits[:, index]


def score_function(model: keras.Model, index: int):
    """images float32 (N, S, S, 3) in [0, 1] -> (N,) score of class `index`, differentiable."""
    output_layer = model.layers[-1]
    body = _submodel(model, ("logits",), lambda: keras.Model(model.inputs[0], output_layer.input))
    units = n_units(model)
    return lambda images: pick_class(output_logits(output_layer, body(images, training=False)), units, index)


def class_probability(model: keras.Model, images: np.ndarray, index: int, batch_size: int = 64) -> np.ndarray:
    """p(class `index`), float64 (N,), for float32 (N, S, S, 3) in [0, 1] at the model's size."""
    images = np.asarray(images, dtype="float32")
    out = [np.asarray(model.predict_on_batch(images[i:i + batch_size]), dtype="float64")
           for i in range(0, len(images), batch_size)]
    p = np.concatenate(out) if out else np.zeros((0, max(1, n_units(model))))
    if n_units(model) == 1:
        return p[:, 0] if index == 1 else 1.0 - p[:, 0]
    return p[:, index]


def predicted_class(model: keras.Model, image: np.ndarray, threshold: float = 0.5) -> int:
    """The class the model gives one image: malignant (1) when p >= threshold, else the argmax."""
    p = np.asarray(model.predict_on_batch(prepare_input(model, image)))[0]
    return int(p[0] >= threshold) if n_units(model) == 1 else int(np.argmax(p))


def upsample(heat: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A small map (h, w) scaled to [0, 1] by its maximum and resized (bilinear) to `shape`."""
    heat = np.maximum(np.asarray(heat, dtype="float32"), 0)
    heat = heat / heat.max() if heat.max() > 0 else heat
    if heat.shape != tuple(shape):
        heat = ops.image.resize(heat[None, :, :, None], shape, interpolation="bilinear")
        heat = ops.convert_to_numpy(heat)[0, ..., 0]
    return np.clip(heat, 0, 1).astype("float32")
