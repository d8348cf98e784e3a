"""Data-parallel training with Keras's engines: one step on 2 devices equals one step on 1 device
with the same global batch, under JAX (2 virtual CPU devices) and TensorFlow (2 logical CPUs)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

STEP = '''
import json, os
if os.environ["KERAS_BACKEND"] == "tensorflow":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
import keras
from skinml.cnn.distribute import data_parallel

def one_step(devices):
    with data_parallel(devices, batch_size=8) as n:
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
                                  keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy")
        before = [np.asarray(w) for w in model.get_weights()]
        rng = np.random.default_rng(1)
        x, y = rng.random((8, 16, 16, 3)).astype("float32"), (rng.random(8) > 0.5).astype("float32")
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
        after = [np.asarray(w) for w in model.get_weights()]
        return n, before, after

n1, b1, a1 = one_step(1)
n2, b2, a2 = one_step(2)
print(json.dumps({"n": [n1, n2],
                  "start_diff": max(float(np.abs(p - q).max()) for p, q in zip(b1, b2)),
                  "step": max(float(np.abs(p - q).max()) for p, q in zip(a1, b1)),
                  "end_diff": max(float(np.abs(p - q).max()) for p, q in zip(a1, a2))}))
'''


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_one_step_on_two_devices_equals_one_step_on_one(backend):
    pytest.importorskip(backend)
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    result = subprocess.run([sys.executable, "-c", STEP], env=env, cwd=REPO, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["n"] == [1, 2]
    assert figures["start_diff"] == 0.0  # the same initial weights
    assert figures["step"] > 1e-3  # the step changed them
    assert figures["end_diff"] < 1e-5  # and the same way on two devices as on one


def test_more_devices_than_there_are_is_a_sentence():
    from skinml.cnn.distribute import data_parallel
    from skinml.errors import SkinmlError

    with pytest.raises(SkinmlError, match="devices asked for"):
        with data_parallel(64):
            pass
