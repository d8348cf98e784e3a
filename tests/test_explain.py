"""Heatmaps point at what decides the label (Grad-CAM, HiResCAM, occlusion, integrated gradients, and
where Grad-CAM cannot tell); randomising the weights changes them; feature maps; convolution by hand."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from skinml.cnn.ensemble import ensemble
from skinml.cnn.models import build_model, conv_layer_names, last_conv_layer
from skinml.explain.convolution import convolve, output_size, transposed_convolve, transposed_output_size
from skinml.explain.features import KERNELS, feature_maps
from skinml.explain.gradcam import grad_cam, overlay_heatmap
from skinml.explain.hirescam import earlier_layers, hires_cam
from skinml.explain.integrated_gradients import integrated_gradients
from skinml.explain.measures import rank_correlation
from skinml.explain.occlusion import occlusion
from skinml.explain.randomisation import cascading_randomisation, changed_share, weight_groups

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
    for image, (r, c) in zip(x[y == 1], corners[y == 1]):
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


# ---------------------------------------------------------------- more methods, and where to trust them

SKIN, RED = [0.85, 0.7, 0.6], [0.9, 0.1, 0.1]


def redness_model(size: int, crops: list[tuple[tuple[int, int], tuple[int, int]]]) -> keras.Model:
    """A hand-set model: one 'redness' channel (ReLU(R - G - B)), then for each class the mean
    redness inside one cropped region only; one region: a sigmoid unit, several: a softmax."""
    inputs = keras.Input((size, size, 3), name="image")
    red = layers.Conv2D(1, 1, activation="relu", name="redness")(inputs)
    branches = [layers.GlobalAveragePooling2D()(layers.Cropping2D(crop)(red)) for crop in crops]
    x = branches[0] if len(branches) == 1 else layers.Concatenate()(branches)
    out = layers.Dense(len(crops), activation="sigmoid" if len(crops) == 1 else "softmax", name="output")(x)
    model = keras.Model(inputs, out)
    kernel = np.array([1, -1, -1], "float32").reshape(1, 1, 3, 1)
    model.get_layer("redness").set_weights([kernel, np.zeros(1, "float32")])
    k = len(crops)
    model.get_layer("output").set_weights([20 * np.eye(k, dtype="float32"), np.full(k, -1, "float32")])
    return model


def two_patches(size: int, corners: list[tuple[int, int]], side: int = 4) -> np.ndarray:
    image = np.tile(np.array(SKIN, "float32"), (size, size, 1))
    for r, c in corners:
        image[r:r + side, c:c + side] = RED
    return image


def peak(heat: np.ndarray) -> tuple[int, int]:
    return tuple(int(v) for v in np.unravel_index(heat.argmax(), heat.shape))


def test_every_method_but_grad_cam_finds_the_one_patch_the_model_reads():
    """Two identical red patches; the model reads only the top-left corner (rows and columns 0-7)."""
    model = redness_model(24, [((0, 16), (0, 16))])
    image = two_patches(24, [(2, 2), (18, 18)])
    maps = {"occlusion": occlusion(model, image), "integrated gradients": integrated_gradients(model, image),
            "HiResCAM": hires_cam(model, image, layer="redness")}
    for name, heat in maps.items():
        r, c = peak(heat)
        assert r < 8 and c < 8, f"{name} peaks at {(r, c)}, outside the corner the model reads"
        assert heat[18:22, 18:22].max() < 0.05, f"{name} lights up the patch the model ignores"
    # Grad-CAM weighs each channel by its mean gradient, one number for the whole map: it lights
    # up both patches alike and cannot say which one the model read.
    cam = grad_cam(model, image, layer="redness")
    assert cam[3, 3] == pytest.approx(cam[19, 19], abs=1e-4) and cam[3, 3] > 0.9


def test_each_class_of_a_softmax_model_is_explained_by_its_own_region():
    """Class 0 reads the left half, class 1 the right half; a red patch in each half."""
    model = redness_model(24, [((0, 0), (0, 12)), ((0, 0), (12, 0))])
    image = two_patches(24, [(10, 3), (10, 17)])
    for method in (occlusion, integrated_gradients, lambda m, x, **k: hires_cam(m, x, layer="redness", **k)):
        assert peak(method(model, image, class_index=0))[1] < 12
        assert peak(method(model, image, class_index=1))[1] >= 12
    with pytest.raises(ValueError, match="class_index"):
        occlusion(model, image)  # a multi-class model must be told which class


def test_integrated_gradients_add_up_to_the_score_difference(patch_model):
    from skinml.explain.scores import score_function

    image = planted(2, seed=3)[0][1]
    attributions = integrated_gradients(patch_model, image, steps=128, raw=True)
    baseline = np.broadcast_to(image.mean(axis=(0, 1)), image.shape)[None].astype("float32")
    score = score_function(patch_model, 1)
    gap = float(score(image[None])[0] - score(baseline)[0])
    assert attributions.sum() == pytest.approx(gap, rel=0.05)  # completeness (Sundararajan et al.)


@pytest.mark.parametrize("method", ["hirescam", "occlusion", "integrated_gradients"])
def test_every_method_peaks_on_the_planted_patch(patch_model, method):
    explain = {"hirescam": lambda x: hires_cam(patch_model, x, layer="conv2"),
               "occlusion": lambda x: occlusion(patch_model, x),
               "integrated_gradients": lambda x: integrated_gradients(patch_model, x)}[method]
    x, y, corners = planted(20, seed=1)
    hits = 0
    for image, (r, c) in zip(x[y == 1], corners[y == 1]):
        heat = explain(image)
        assert heat.shape == (SIZE, SIZE) and heat.dtype == np.float32 and 0 <= heat.min() <= heat.max() <= 1
        pr, pc = peak(heat)
        hits += (r - 2 <= pr < r + PATCH + 2) and (c - 2 <= pc < c + PATCH + 2)
    assert hits >= 9, f"{method}: the peak fell on the patch in only {hits} of 10 images"


@pytest.mark.slow
def test_methods_explain_an_ensemble_through_both_members():
    keras.utils.set_random_seed(0)
    members = [build_model("skinml_resnet", image_size=32) for _ in range(2)]
    for m in members:  # give the zero-initialised residual branches and the head some weight
        noise = np.random.default_rng(2)
        m.set_weights([w + noise.normal(0, 0.05, w.shape).astype("float32") for w in m.get_weights()])
    model = ensemble(members)
    assert earlier_layers(model) == ["member1_stage3_block2_out", "member2_stage3_block2_out"]
    image = np.random.default_rng(0).random((32, 32, 3)).astype("float32")
    # The joined `features` layer is the members' last maps side by side: Grad-CAM on it is
    # Grad-CAM on both members' layers added up.
    last = ["member1_stage4_block2_out", "member2_stage4_block2_out"]
    np.testing.assert_allclose(grad_cam(model, image, layer="features"), grad_cam(model, image, layer=last), atol=1e-5)
    for heat in (hires_cam(model, image), occlusion(model, image), integrated_gradients(model, image, steps=8)):
        assert heat.shape == (32, 32) and np.isfinite(heat).all() and heat.max() > 0


def test_cascading_randomisation_changes_the_weights_and_the_grad_cam_map(patch_model):
    assert [block for block, _ in weight_groups(patch_model)] == ["output", "conv2", "conv1"]
    before = [w.copy() for w in patch_model.get_weights()]
    x, y, _ = planted(10, seed=4)
    images = x[y == 1]
    trained = [grad_cam(patch_model, image) for image in images]
    steps = list(cascading_randomisation(patch_model, seed=0))
    assert [block for block, _ in steps] == ["output", "conv2", "conv1"]
    shares = [changed_share(patch_model, copy) for _, copy in steps]
    assert shares[0] > 0 and shares[0] < shares[1] < shares[2] and shares[2] > 0.99, "randomisation was a no-op"
    for kept, now in zip(before, patch_model.get_weights()):
        np.testing.assert_array_equal(kept, now)  # the trained model itself is untouched
    randomised = steps[-1][1]
    again = [rank_correlation(t, grad_cam(patch_model, image)) for t, image in zip(trained, images)]
    after = [rank_correlation(t, grad_cam(randomised, image)) for t, image in zip(trained, images)]
    assert np.mean(again) == pytest.approx(1.0) and np.mean(after) < 0.5
