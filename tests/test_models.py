"""Every registered model builds, takes a training step, round-trips save/load, names its last conv layer."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from skinml.classifier import load_classifier, save_classifier  # noqa: E402
from skinml.errors import ModelError  # noqa: E402
from skinml.models import MODELS, PRETRAINED, build_model, last_conv_layer  # noqa: E402

SIZE = 32


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_builds_trains_and_round_trips(name, tmp_path):
    keras.utils.set_random_seed(0)
    offline = {"weights": None} if name in PRETRAINED else {}  # no downloads in tests
    model = build_model(name, image_size=SIZE, **offline)
    assert model.input_shape == (None, SIZE, SIZE, 3)
    assert model.output_shape == (None, 1) and model.layers[-1].name == "output"
    layer = last_conv_layer(model)
    assert len(model.get_layer(layer).output.shape) == 4

    rng = np.random.default_rng(0)
    x = rng.random((4, SIZE, SIZE, 3)).astype("float32")
    y = np.array([0, 1, 0, 1], dtype="float32")
    model.compile(optimizer="adam", loss="binary_crossentropy", jit_compile=False)  # XLA compiles slowly
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))

    p = model.predict(x, verbose=0).reshape(-1)
    assert p.shape == (4,) and np.all((p >= 0) & (p <= 1))
    folder = save_classifier(tmp_path / "clf", model, {"name": name, "image_size": SIZE, "threshold": 0.4})
    clf = load_classifier(folder)
    assert clf.threshold == 0.4 and clf.image_size == SIZE
    np.testing.assert_allclose(clf.predict_proba(x), p, rtol=1e-5, atol=1e-6)


def test_pretrained_backbone_says_what_to_do_when_its_weights_cannot_be_downloaded(monkeypatch):
    from keras.src.utils import file_utils

    def no_internet(*args, **kwargs):
        raise Exception("URL fetch failure: [Errno -2] Name or service not known")

    monkeypatch.setattr(file_utils, "get_file", no_internet)
    with pytest.raises(ModelError, match="ImageNet weights.*skinml_resnet"):
        build_model("efficientnetb0_imagenet", image_size=SIZE)
