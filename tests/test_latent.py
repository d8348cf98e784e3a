"""Latent walks: endpoints, norms, arithmetic, GIF."""

from __future__ import annotations

import numpy as np
import pytest

from skinml.gan import latent


def test_interpolation_endpoints_equal_the_two_samples():
    z0, z1 = latent.latent_for_seed(1, 64), latent.latent_for_seed(2, 64)
    for method in latent.METHODS:
        path = latent.interpolate(z0, z1, 7, method)
        assert path.shape == (7, 64) and path.dtype == np.float32
        np.testing.assert_array_equal(path[0], z0)
        np.testing.assert_array_equal(path[-1], z1)


def test_slerp_keeps_the_norm_and_lerp_does_not():
    z0, z1 = latent.latent_for_seed(3, 100), latent.latent_for_seed(4, 100)
    z1 = z1 / np.linalg.norm(z1) * np.linalg.norm(z0)
    norms = np.linalg.norm(latent.slerp(z0, z1, 11), axis=1)
    np.testing.assert_allclose(norms, np.linalg.norm(z0), rtol=1e-5)
    assert np.linalg.norm(latent.lerp(z0, z1, 11), axis=1)[5] < 0.9 * np.linalg.norm(z0)


def test_seeds_are_reproducible_and_arithmetic():
    np.testing.assert_array_equal(latent.latent_for_seed(7, 8), latent.sample_latents([7], 8)[0])
    a, b = np.ones((3, 4)), np.full((2, 4), 2.0)
    np.testing.assert_allclose(latent.combine_groups([a, b], [1, -1]), -np.ones(4))
    with pytest.raises(ValueError):
        latent.interpolate(a[0], b[0], 3, "cubic")


def test_gif_bytes():
    gif = latent.to_gif(np.random.default_rng(0).random((4, 8, 8, 3)))
    assert gif[:6] in (b"GIF89a", b"GIF87a")


def test_a_larger_gif_for_a_projector():
    import io

    from PIL import Image

    gif = Image.open(io.BytesIO(latent.to_gif(np.random.default_rng(0).random((5, 16, 16, 3)), size=512)))
    assert gif.size == (512, 512) and gif.n_frames == 8  # five frames there and three back


def test_label_walk_on_a_conditional_generator():
    from skinml.gan.models import build_gan

    g = build_gan("skinml_cgan", image_size=16, width=0.125).generator
    z = latent.latent_for_seed(0, g.input_shape[0][-1])
    walk = latent.walk_labels(g, z, steps=5)
    assert walk.shape == (5, 16, 16, 3)
    ends = g([np.stack([z, z]), np.array([[0], [1]])], training=False)
    np.testing.assert_allclose(walk[[0, -1]], np.asarray(ends), atol=1e-5)
