"""The GAN training step on the JAX backend (skinml.gan.steps_jax), checked against known answers.

Keras picks its backend when it is first imported, so each check runs in a fresh Python with
KERAS_BACKEND set. The same script runs on TensorFlow too: both steps must follow one rule.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

ONE_STEP = r"""
import json
import numpy as np
import keras
from skinml.gan.models import build_gan

keras.utils.set_random_seed(0)
gan = build_gan("skinml_gan", image_size=16, width=0.125, batch_size=4)  # R1 penalty, EMA generator
images = (np.random.default_rng(0).random((4, 16, 16, 3)) * 255).astype("uint8")
g0, d0 = gan.generator.get_weights(), gan.discriminator.get_weights()
seed0 = keras.ops.convert_to_numpy(gan.seed_generator.state).copy()
logs = gan.fit(images, batch_size=4, epochs=1, verbose=0).history  # exactly one step
g1, d1, ema = gan.generator.get_weights(), gan.discriminator.get_weights(), gan.ema_generator.get_weights()
decay = 2 / 11  # skinml.gan.losses.ema_decay_at after one generator update: (1 + 1) / (10 + 1)
print(json.dumps({
    "backend": keras.backend.backend(),
    "logs": {k: v[0] for k, v in logs.items()},
    "g_steps": int(keras.ops.convert_to_numpy(gan.g_optimizer.iterations)),
    "d_steps": int(keras.ops.convert_to_numpy(gan.d_optimizer.iterations)),
    "g_moved": any(not np.allclose(a, b) for a, b in zip(g0, g1)),
    "d_moved": any(not np.allclose(a, b) for a, b in zip(d0, d1)),
    "ema_error": max(float(np.abs(e - (decay * a + (1 - decay) * b)).max()) for e, a, b in zip(ema, g0, g1)),
    "seed_moved": bool((keras.ops.convert_to_numpy(gan.seed_generator.state) != seed0).any()),
}))
"""

ON_DEVICE = r"""
import json
import numpy as np
import keras
from skinml.gan.models import build_gan
from skinml.gan.steps_jax import load_device_state, train_on_device

keras.utils.set_random_seed(0)
gan = build_gan("skinml_cgan", image_size=16, width=0.125, batch_size=4)
images = (np.random.default_rng(0).random((12, 16, 16, 3)) * 255).astype("uint8")
labels = np.arange(12) % 2
g0 = gan.generator.get_weights()
calls = list(train_on_device(gan, images, labels, seconds=0.0, steps_per_call=3))
state, logs, seen, _ = calls[-1]
load_device_state(gan, state)
print(json.dumps({
    "calls": len(calls), "seen": seen, "logs": logs,
    "g_steps": int(keras.ops.convert_to_numpy(gan.g_optimizer.iterations)),
    "g_moved": any(not np.allclose(a, b) for a, b in zip(g0, gan.generator.get_weights())),
}))
"""


def run_with_backend(backend: str, script: str) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=REPO,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_one_gan_step_updates_both_networks_the_ema_and_the_seed(backend):
    if backend == "jax":
        pytest.importorskip("jax")
    else:
        pytest.importorskip("tensorflow")
    result = run_with_backend(backend, ONE_STEP)
    assert result["backend"] == backend
    assert set(result["logs"]) == {"d_loss", "g_loss", "r1", "d_real", "d_fake"}
    assert all(v == v and abs(v) < 1e6 for v in result["logs"].values())  # finite
    assert result["logs"]["r1"] > 0  # the R1 penalty's gradient on real images was taken
    assert result["g_steps"] == result["d_steps"] == 1
    assert result["g_moved"] and result["d_moved"] and result["seed_moved"]
    assert result["ema_error"] < 1e-5  # EMA = d * old + (1 - d) * new generator weights, d = 2/11


@pytest.mark.slow
def test_jax_training_on_the_device_counts_its_steps_and_hands_back_the_weights():
    pytest.importorskip("jax")
    result = run_with_backend("jax", ON_DEVICE)
    assert result["calls"] == 1 and result["seen"] == 3 * 4  # steps_per_call x batch size
    assert set(result["logs"]) == {"d_loss", "g_loss", "r1", "d_real", "d_fake"}
    assert result["g_steps"] == 3 and result["g_moved"]
