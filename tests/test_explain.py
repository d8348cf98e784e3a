"""Grad-CAM points at what decides the label; feature maps have the layer's shape; convolution by hand."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from skinml.cnn.models import build_model, conv_layer_names, last_conv_layer
from skinml.explain.convolution import convolve, output_size, transposed_convolve, transposed_output_size
from skinml.explain.features import KERNELS, feature_maps
from skinml.explain.gradcam import grad_cam, overlay_heatmap

SIZE, PATCH = 40, 6


def planted(n: int, seed: int):
    """Noisy skin-coloured images; the label is 1 when a small dark-red patch is planted.

    Negatives get a patch too, but green, so "any blob" is not enough: the model has to look
    at the patch's colour, where it is. Returns images, labels, patch corners (row, col).
    """
    rng = np.random.default_rng(seed)
    x = np.clip(rng.normal([0.85, 0.7, 0.6], 0.05, (n, SIZE, SIZE, 3)), 0, 1).astype("float32")
    y = (np.arange(n) % 2).astype("float32")
    corners = rng.integers(2, SIZE - PATCH - 2, (n, 2))
    for i, (r, c) in enumerate(corners):
        x[i, r:r + PATCH, c:c + PATCH] = [0.5, 0.05, 0.05] if y[i] else [0.1, 0.6, 0.1]
    return x, y, corners


@pytest.fixture(scope="module")
def patch_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.GlobalMaxPooling2D(name="gmp")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="output")(x)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    x, y, _ = planted(512, seed=0)
    model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    return model


def test_grad_cam_peak_falls_on_the_planted_patch(patch_model):
    x, y, corners = planted(20, seed=1)
    assert patch_model.evaluate(x, y, verbose=0)[1] >= 0.9, "the tiny model did not learn the patch"
    hits = 0
    for image, label, (r, c) in zip(x[y == 1], y[y == 1], corners[y == 1]):
        heat = grad_cam(patch_model, image, target="malignant")
        assert heat.shape == (SIZE, SIZE) and heat.dtype == np.float32
        assert 0 <= heat.min() and heat.max() <= 1
        pr, pc = np.unravel_index(heat.argmax(), heat.shape)
        hits += (r - 2 <= pr < r + PATCH + 2) and (c - 2 <= pc < c + PATCH + 2)
    assert hits >= 9, f"the heatmap peak fell on the patch in only {hits} of 10 images"


def test_grad_cam_upsamples_to_the_image_and_takes_either_class(patch_model):
    image = (planted(2, seed=2)[0][1] * 255).astype(np.uint8)
    big = np.repeat(np.repeat(image, 3, 0), 3, 1)  # any size: resized for the model
    for kwargs in ({"target": "benign"}, {"class_index": 1}, {}):
        heat = grad_cam(patch_model, big, **kwargs)
        assert heat.shape == big.shape[:2] and 0 <= heat.min() <= heat.max() <= 1
    with pytest.raises(ValueError):
        grad_cam(patch_model, image, target="maybe")


@pytest.mark.parametrize("name", ["thesis_base", "skinml_resnet"])
def test_grad_cam_and_feature_maps_on_registry_models(name):
    model = build_model(name, image_size=32)
    image = np.random.default_rng(0).random((32, 32, 3)).astype("float32")
    heat = grad_cam(model, image)
    assert heat.shape == (32, 32) and np.isfinite(heat).all()
    maps = feature_maps(model, image)
    assert list(maps) == conv_layer_names(model)
    for layer_name, activations in maps.items():
        assert activations.shape == tuple(model.get_layer(layer_name).output.shape[1:])
    assert last_conv_layer(model) in maps


def test_feature_maps_of_chosen_layers(patch_model):
    maps = feature_maps(patch_model, np.zeros((SIZE, SIZE, 3), np.uint8), ["conv2"])
    assert list(maps) == ["conv2"] and maps["conv2"].shape == (SIZE, SIZE, 16)


def test_overlay_is_uint8_of_the_image_size():
    image = np.full((50, 60, 3), 200, np.uint8)
    out = overlay_heatmap(image, np.ones((10, 12), "float32"), alpha=0.5)
    assert out.shape == (50, 60, 3) and out.dtype == np.uint8
    assert (overlay_heatmap(image, np.zeros((50, 60)), alpha=0.0) == image).all()


@pytest.mark.parametrize("n, f, p, s, expected", [(256, 3, 1, 1, 256), (256, 3, 0, 1, 254), (256, 5, 2, 2, 128),
                                                  (7, 3, 0, 2, 3), (28, 5, 0, 1, 24)])
def test_output_size_formula(n, f, p, s, expected):
    assert output_size(n, f, p, s) == expected
    assert convolve(np.zeros((n, n)), np.ones((f, f)), s, p).shape == (expected, expected)


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), (3, 2)])
def test_convolve_matches_keras(stride, padding):
    rng = np.random.default_rng(0)
    image, kernel = rng.random((17, 17)), KERNELS["Sobel (vertical edges)"]
    ours = convolve(image, kernel, stride, padding)
    padded = np.pad(image, padding)[None, :, :, None].astype("float32")
    theirs = keras.ops.conv(padded, kernel[:, :, None, None].astype("float32"), strides=stride, padding="valid")
    np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(theirs)[0, :, :, 0], atol=1e-5)


@pytest.mark.parametrize("stride", [1, 2])
def test_transposed_convolve_matches_keras(stride):
    rng = np.random.default_rng(1)
    image, kernel = rng.random((6, 6)), rng.random((5, 5))
    ours = transposed_convolve(image, kernel, stride)
    assert ours.shape == (transposed_output_size(6, 5, 0, stride),) * 2
    theirs = keras.ops.conv_transpose(image[None, :, :, None].astype("float32"),
                                      kernel[:, :, None, None].astype("float32"), strides=stride, padding="valid")
    np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(theirs)[0, :, :, 0], atol=1e-4)
    assert transposed_convolve(image, kernel, stride, padding=1).shape == (transposed_output_size(6, 5, 1, stride),) * 2
