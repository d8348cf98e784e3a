"""Every GAN builds, takes a training step on tiny data and round-trips through save/load."""

from __future__ import annotations

import numpy as np
import pytest

from skinml.errors import ModelError
from skinml.gan.models import GANS, build_gan, generate_images, load_generator, save_generator


@pytest.mark.parametrize("name", sorted(GANS))
def test_gan_builds_steps_and_round_trips(name, tmp_path):
    gan = build_gan(name, image_size=16, width=0.125, batch_size=4)
    images = (np.random.default_rng(0).random((8, 16, 16, 3)) * 255).astype("uint8")
    labels = np.array([0, 1] * 4)
    before = [w.copy() for w in gan.generator.get_weights()]
    history = gan.fit(images, labels if gan.spec.conditional else None, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["d_loss"][0]) and np.isfinite(history.history["g_loss"][0])
    assert any(not np.allclose(a, b) for a, b in zip(before, gan.generator.get_weights()))

    z = np.random.default_rng(1).standard_normal((3, gan.spec.latent_dim)).astype("float32")
    lab = np.array([0, 1, 0]) if gan.spec.conditional else None
    out = generate_images(gan.sampler, z, lab)
    assert out.shape == (3, 16, 16, 3) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0

    save_generator(tmp_path / "g", gan.sampler, gan.spec)
    loaded = load_generator(tmp_path / "g")
    assert loaded.spec.name == name and loaded.spec.conditional == gan.spec.conditional
    np.testing.assert_allclose(loaded.generate(z, lab), out, atol=1e-5)


def test_thesis_dcgan_layers_match_thesis():
    gan = build_gan("thesis_dcgan", image_size=128)
    g, d = gan.generator, gan.discriminator
    assert g.input_shape == (None, 100) and g.output_shape == (None, 128, 128, 3)
    assert g.get_layer("g_dense").units == 32 * 32 * 32 and not g.get_layer("g_dense").use_bias
    assert g.get_layer("g_deconv1").filters == 16 and g.get_layer("g_deconv1").kernel_size == (5, 5)
    assert d.get_layer("d_conv1").filters == 64 and d.get_layer("d_conv2").filters == 128
    assert d.get_layer("d_dropout1").rate == 0.3 and d.output_shape == (None, 1)
    assert gan.spec.batch_size == 64 and gan.spec.g_lr == gan.spec.d_lr == 1e-4 and gan.spec.loss == "bce"


def test_missing_generator_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="No trained GAN generator"):
        load_generator(tmp_path)


def test_unknown_gan_name():
    with pytest.raises(ModelError, match="Unknown GAN"):
        build_gan("nope", image_size=16)


@pytest.mark.slow
def test_generate_cli_and_gan_augment_at_tiny_scale(tmp_path, demo_dir):
    from skinml.cli import main

    gan = build_gan("skinml_cgan", image_size=16, width=0.125)
    save_generator(tmp_path / "cgan", gan.sampler, gan.spec)
    assert main(["generate", "--n", "3", "--out", str(tmp_path / "png"), "--model", str(tmp_path / "cgan"),
                 "--label", "malignant", "--seed", "5"]) == 0
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == [
        "malignant_seed000005.png", "malignant_seed000006.png", "malignant_seed000007.png"]
    assert main(["generate", "--n", "1", "--out", str(tmp_path / "x"), "--model", str(tmp_path / "nothing")]) == 2

    from skinml.data.policy import prepare
    from skinml.quality.gan_augment import gan_augment_experiment
    out = gan_augment_experiment(demo_dir, generator=tmp_path / "cgan", n_generated=8, classifier="thesis_base",
                                 image_size=16, epochs=1, repeats=2)
    split = prepare(demo_dir, seed=0)["split"]  # the experiment's split: same data, same seed
    assert out["n_generated"] == 8 and out["n_test"] == (split == "test").sum() > 0
    assert out["n_real_train"] == (split != "test").sum()
    runs = out["runs"]
    assert [r["seed"] for r in runs] == [0, 1]  # each repeat trains both models with its own seed
    for r in runs:  # each difference is that repeat's augmented AUC minus its real-only AUC
        assert r["auc_difference"] == pytest.approx(r["auc_with_generated"] - r["auc_real_only"])
    diffs = [r["auc_difference"] for r in runs]
    assert out["auc_difference"] == pytest.approx(np.mean(diffs))
    assert out["auc_difference_sd"] == pytest.approx(np.std(diffs, ddof=1))
    assert out["auc_real_only"] == pytest.approx(np.mean([r["auc_real_only"] for r in runs]))
