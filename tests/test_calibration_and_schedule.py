"""What made the shipped classifier, checked against answers worked out by hand: the fitted
temperature (skinml.cnn.finish) and the learning-rate schedule, warm-up then cosine (skinml.cnn.train)."""

from __future__ import annotations

import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")


def tiny_model(logit_weight: float) -> keras.Model:
    """x (N, 1) -> logit = logit_weight * x -> `temperature` layer -> sigmoid: the head of skinml's models."""
    x = keras.Input((1,), name="x")
    logit = keras.layers.Dense(1, name="logit", kernel_initializer=keras.initializers.Constant(logit_weight),
                               bias_initializer="zeros")(x)
    scaled = keras.layers.Rescaling(1.0, name="temperature")(logit)
    return keras.Model(x, keras.layers.Activation("sigmoid", name="output")(scaled))


def test_fitted_temperature_is_the_known_one_and_calibrates_the_model():
    """An overconfident model says p = 0.75 (logit ln 3) for x = 1 and 0.25 for x = -1, but only 60%
    of the x = 1 cases are malignant (and 40% of the x = -1 ones). The temperature that makes it
    honest solves sigmoid(ln 3 / T) = 0.6: T = ln 3 / ln 1.5 = 2.7095."""
    from skinml.cnn.finish import fit_temperature
    from skinml.cnn.predictions import with_temperature

    model = tiny_model(math.log(3))
    x = np.repeat([[1.0], [-1.0]], 500, axis=0).astype("float32")
    y = np.concatenate([np.arange(500) < 300, np.arange(500) < 200]).astype(int)  # 60% and 40% malignant
    p = model.predict(x, verbose=0).reshape(-1)
    np.testing.assert_allclose(p[[0, -1]], [0.75, 0.25], atol=1e-6)

    temperature = fit_temperature(y, p)
    assert temperature == pytest.approx(math.log(3) / math.log(1.5), rel=0.01)  # the grid's step is 1.7%
    calibrated = with_temperature(model, temperature).predict(x, verbose=0).reshape(-1)
    np.testing.assert_allclose(calibrated[[0, -1]], [0.6, 0.4], atol=0.003)


def test_a_calibrated_model_keeps_temperature_one():
    from skinml.cnn.finish import fit_temperature

    p = np.repeat([0.75, 0.25], 400)
    y = np.concatenate([np.arange(400) < 300, np.arange(400) < 100]).astype(int)  # 75% and 25%: honest
    assert fit_temperature(y, p) == pytest.approx(1.0, rel=0.01)


def test_warm_up_then_cosine_schedule_at_known_steps():
    """lr 1e-3, 10 epochs of 5 steps, 2 warm-up epochs: linear from 1% of lr to lr over steps 0..10,
    then a half cosine over the 40 steps left down to 1% of lr."""
    from skinml.cnn.config import TrainConfig
    from skinml.cnn.train import make_optimizer
    from skinml.schedule import learning_rate_at

    config = TrainConfig(learning_rate=1e-3, epochs=10, warmup_epochs=2, schedule="cosine", optimizer="adamw",
                         weight_decay=1e-4)
    cosine = lambda done: 1e-3 * (0.99 * 0.5 * (1 + math.cos(math.pi * done)) + 0.01)
    expected = [1e-5, 1e-5 + 0.5 * (1e-3 - 1e-5), 1e-3, cosine(0.25), cosine(0.5), cosine(1.0)]
    rates = [learning_rate_at(config, step, total_steps=50, steps_per_epoch=5) for step in [0, 5, 10, 20, 30, 50]]
    np.testing.assert_allclose(rates, expected, rtol=1e-4)
    optimizer = make_optimizer(config)
    assert isinstance(optimizer, keras.optimizers.AdamW) and optimizer.weight_decay == pytest.approx(1e-4)


def test_constant_schedule_and_cosine_without_warm_up():
    from skinml.cnn.config import TrainConfig
    from skinml.schedule import learning_rate_at

    constant = TrainConfig(learning_rate=1e-3, schedule="constant", optimizer="rmsprop")
    np.testing.assert_allclose([learning_rate_at(constant, s, 100, 5) for s in [0, 7, 100]], [1e-3] * 3, rtol=1e-6)
    no_warmup = TrainConfig(learning_rate=1e-3, epochs=4, warmup_epochs=0, schedule="cosine")
    np.testing.assert_allclose([learning_rate_at(no_warmup, s, 20, 5) for s in [0, 10, 20]],
                               [1e-3, 1e-3 * 0.505, 1e-5], rtol=1e-4)
