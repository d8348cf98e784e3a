"""Named CNN architectures for benign/malignant classification, and a registry to build them.

Every model takes float32 (N, H, W, 3) in [0, 1], names every layer, and ends in one
sigmoid unit named `output` giving p(malignant) (or, with `classes=7`, a softmax over the
diagnoses). `skinml_resnet_meta` also takes the patient's metadata as a second input.
The thesis's five CNNs are here exactly as THESIS.md describes them; `skinml_resnet` and
`skinml_separable` are our stronger designs.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import keras
from keras import layers, regularizers

MODELS: dict[str, Callable[..., keras.Model]] = {}
# Models with a second input, `metadata` (skinml.data.tabular.metadata_features of the rows).
METADATA_MODELS = {"skinml_resnet_meta"}


def register(name: str):
    """Decorator that adds a `build_*` function to MODELS under `name`."""
    def wrap(fn):
        MODELS[name] = fn
        return fn
    return wrap


def build_model(name: str, image_size: int = 256, **kwargs) -> keras.Model:
    """Build the registered architecture `name` for square inputs of `image_size` pixels."""
    from skinml.errors import ModelError

    if name not in MODELS:
        raise ModelError(f"Unknown model '{name}'. Known models: {', '.join(sorted(MODELS))}.")
    return MODELS[name](image_size=image_size, **kwargs)


def last_conv_layer(model: keras.Model) -> str:
    """Name of the last convolutional feature layer (4-D output, not pooling or dropout).

    That is the layer Grad-CAM looks at: `conv3` in the thesis CNNs, the last residual
    block's output in ours.
    """
    skip = (layers.InputLayer, layers.MaxPooling2D, layers.AveragePooling2D, layers.Dropout)
    for layer in reversed(model.layers):
        if not isinstance(layer, skip) and not isinstance(layer, keras.Model) \
                and len(layer.output.shape) == 4:
            return layer.name
    raise ValueError(f"Model {model.name} has no convolutional layer.")


def conv_layer_names(model: keras.Model) -> list[str]:
    """Names of all layers with a 4-D output past the input, in order (for feature maps).

    In an ensemble the members' layers come one network after the other (member1_..., then
    member2_...), not interleaved as Keras orders them, and the joined `features` last.
    """
    names = [layer.name for layer in model.layers
             if not isinstance(layer, (layers.InputLayer, keras.Model)) and len(layer.output.shape) == 4]
    def member(name: str) -> int:  # member1_... -> 1; layers outside the members sort last
        found = re.match(r"member(\d+)_", name)
        return int(found.group(1)) if found else 10**9

    return sorted(names, key=member)  # stable: each network keeps its own order


# ---- The thesis's five CNNs --------------------------------------------------------------

def _thesis_cnn(name: str, image_size: int, dropout: float, l2: float, augment: bool) -> keras.Model:
    """Conv16-Conv32-Conv64 (3x3, same, ReLU, max-pool), Dense 512, Dense 64, Dense 1 sigmoid."""
    reg = regularizers.L2(l2) if l2 else None
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = inputs
    if augment:
        from skinml.images.augment import build_augmenter
        x = build_augmenter("thesis", name="augment")(x)
    for i, filters in enumerate((16, 32, 64), start=1):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu",
                          kernel_regularizer=reg, name=f"conv{i}")(x)
        x = layers.MaxPooling2D(name=f"pool{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    for units in (512, 64):
        x = layers.Dense(units, activation="relu", kernel_regularizer=reg, name=f"dense{units}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout_dense{units}")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="output")(x)
    return keras.Model(inputs, outputs, name=name)


@register("thesis_base")
def build_thesis_base(image_size: int = 256) -> keras.Model:
    return _thesis_cnn("thesis_base", image_size, 0.0, 0.0, False)


@register("thesis_dropout")
def build_thesis_dropout(image_size: int = 256) -> keras.Model:
    return _thesis_cnn("thesis_dropout", image_size, 0.2, 0.0, False)


@register("thesis_l2")
def build_thesis_l2(image_size: int = 256) -> keras.Model:
    return _thesis_cnn("thesis_l2", image_size, 0.0, 0.001, False)


@register("thesis_l2_dropout")
def build_thesis_l2_dropout(image_size: int = 256) -> keras.Model:
    return _thesis_cnn("thesis_l2_dropout", image_size, 0.2, 0.001, False)


@register("thesis_l2_dropout_aug")
def build_thesis_l2_dropout_aug(image_size: int = 256) -> keras.Model:
    return _thesis_cnn("thesis_l2_dropout_aug", image_size, 0.2, 0.001, True)


# ---- Our designs -------------------------------------------------------------------------

def _head(x, dropout: float, temperature: float, classes: int = 1, metadata=None):
    """Global average pooling, dropout, logits, temperature, then `output`: a sigmoid unit
    (p(malignant)) for one class, else a softmax over `classes` (the diagnosis task).
    `metadata`: the tabular branch's features, joined to the pooled image features."""
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    if metadata is not None:
        x = layers.Concatenate(name="joined")([x, metadata])
    x = layers.Dropout(dropout, name="head_dropout")(x)
    x = layers.Dense(classes, name="logit")(x)
    # Temperature scaling fitted on the validation split (calibration); 1.0 while training.
    x = layers.Rescaling(1.0 / temperature, name="temperature")(x)
    return layers.Activation("sigmoid" if classes == 1 else "softmax", name="output", dtype="float32")(x)


def _stem(inputs, width: int):
    # Standardise to roughly zero mean, unit variance (dermoscopy images are mostly skin tone).
    x = layers.Rescaling(2.0, offset=-1.0, name="scale")(inputs)
    x = layers.Conv2D(width, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = layers.BatchNormalization(name="stem_bn")(x)
    return layers.Activation("relu", name="stem_relu")(x)


def _res_block(x, filters: int, stride: int, name: str):
    """ResNet basic block: two 3x3 convs with batch norm, a projected shortcut when needed."""
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_proj")(x)
        shortcut = layers.BatchNormalization(name=f"{name}_proj_bn")(shortcut)
    x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv1")(x)
    x = layers.BatchNormalization(name=f"{name}_bn1")(x)
    x = layers.Activation("relu", name=f"{name}_relu1")(x)
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(x)
    x = layers.BatchNormalization(name=f"{name}_bn2", gamma_initializer="zeros")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def _resnet_trunk(inputs, widths: tuple[int, ...], blocks: int):
    """The stem, then `blocks` residual blocks per stage (each stage halves the size)."""
    x = _stem(inputs, widths[0])
    for s, filters in enumerate(widths, start=1):
        for b in range(blocks):
            x = _res_block(x, filters, 2 if b == 0 else 1, f"stage{s}_block{b + 1}")
    return x


@register("skinml_resnet")
def build_skinml_resnet(image_size: int = 192, widths: tuple[int, ...] = (32, 64, 128, 256),
                        blocks: int = 2, dropout: float = 0.3, temperature: float = 1.0,
                        classes: int = 1) -> keras.Model:
    """A small ResNet (batch norm, residual blocks, global average pooling): ~2.8M params."""
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = _resnet_trunk(inputs, widths, blocks)
    return keras.Model(inputs, _head(x, dropout, temperature, classes), name="skinml_resnet")


@register("skinml_resnet_meta")
def build_skinml_resnet_meta(image_size: int = 192, widths: tuple[int, ...] = (32, 64, 128, 256),
                             blocks: int = 2, dropout: float = 0.3, temperature: float = 1.0,
                             classes: int = 1, metadata_units: int = 32) -> keras.Model:
    """skinml_resnet with a second input: the patient's age, sex and anatomic site.

    Two inputs, `image` and `metadata` (the encoding of skinml.data.tabular, where a
    missing value is an indicator, not a made-up number). The image branch is skinml_resnet's
    trunk, pooled; the tabular branch is two small dense layers; the two are joined
    (`joined`) before the common head.
    """
    from skinml.data.tabular import METADATA_FEATURES

    image = keras.Input((image_size, image_size, 3), name="image")
    metadata = keras.Input((len(METADATA_FEATURES),), name="metadata")
    x = _resnet_trunk(image, widths, blocks)
    m = layers.Dense(metadata_units, activation="relu", name="metadata_dense1")(metadata)
    m = layers.Dense(metadata_units, activation="relu", name="metadata_dense2")(m)
    outputs = _head(x, dropout, temperature, classes, metadata=m)
    return keras.Model({"image": image, "metadata": metadata}, outputs, name="skinml_resnet_meta")


def _separable_block(x, filters: int, stride: int, name: str):
    """Depthwise-separable residual block (MobileNet style): cheap on a 2-core CPU."""
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_proj")(x)
        shortcut = layers.BatchNormalization(name=f"{name}_proj_bn")(shortcut)
    for i, s in enumerate((stride, 1), start=1):
        x = layers.SeparableConv2D(filters, 3, strides=s, padding="same", use_bias=False,
                                   name=f"{name}_sepconv{i}")(x)
        x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        if i == 1:
            x = layers.Activation("relu", name=f"{name}_relu{i}")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


@register("skinml_separable")
def build_skinml_separable(image_size: int = 192, widths: tuple[int, ...] = (32, 64, 128, 256, 384),
                           blocks: int = 2, dropout: float = 0.3, temperature: float = 1.0) -> keras.Model:
    """Depthwise-separable residual network, five stages: fewer FLOPs than skinml_resnet."""
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = _stem(inputs, widths[0])
    for s, filters in enumerate(widths, start=1):
        for b in range(blocks):
            x = _separable_block(x, filters, 2 if b == 0 else 1, f"stage{s}_block{b + 1}")
    return keras.Model(inputs, _head(x, dropout, temperature), name="skinml_separable")


# ---- Optional: a pretrained backbone for users who are online --------------------------------

PRETRAINED = {"efficientnetb0_imagenet"}  # builders with a `weights` argument ("imagenet" or None)


@register("efficientnetb0_imagenet")
def build_efficientnetb0_imagenet(image_size: int = 224, weights: str | None = "imagenet",
                                  dropout: float = 0.3, temperature: float = 1.0) -> keras.Model:
    """EfficientNetB0 with ImageNet weights and skinml's head (transfer learning).

    Keras downloads the weights (about 16 MB) once into ~/.keras/models; with no internet
    and no cached file this raises ModelError with what to do. `weights=None` builds the same
    architecture with random weights. The shipped model never uses it: it is trained here,
    from scratch. Fine-tune with a small learning rate (e.g. 1e-4) at 224 px.
    """
    from skinml.errors import ModelError

    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = layers.Rescaling(255.0, name="to_0_255")(inputs)  # EfficientNet rescales 0-255 itself
    try:
        backbone = keras.applications.EfficientNetB0(include_top=False, weights=weights, input_tensor=x)
    except Exception as exc:  # noqa: BLE001  (URLError, OSError, ValueError: all mean "no weights")
        raise ModelError(
            "efficientnetb0_imagenet needs its ImageNet weights, which Keras downloads once from the "
            f"internet, and that failed ({type(exc).__name__}: {exc}). Connect once, or copy "
            "efficientnetb0_notop.h5 into ~/.keras/models, or use skinml_resnet (trained from scratch).") from exc
    return keras.Model(inputs, _head(backbone.output, dropout, temperature), name="efficientnetb0_imagenet")
