"""Every registered model builds, takes a training step, round-trips save/load, names its last conv layer."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from skinml.cnn.classifier import load_classifier, save_classifier  # noqa: E402
from skinml.cnn.models import (  # noqa: E402
    METADATA_MODELS,
    MODELS,
    PRETRAINED,
    build_model,
    conv_layer_names,
    last_conv_layer,
)
from skinml.errors import ModelError  # noqa: E402

SIZE = 32


SLOW_MODELS = {"efficientnetb0_imagenet", "skinml_separable"}  # 20-60 s each here: `pytest -m slow` runs them


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_MODELS else n  # metadata
                                  for n in sorted(set(MODELS) - METADATA_MODELS)])  # models: test_diagnosis_models.py
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
    np.testing.assert_allclose(clf.p_malignant(clf.predict_proba(x)), p, rtol=1e-5, atol=1e-6)


def test_pretrained_backbone_says_what_to_do_when_its_weights_cannot_be_downloaded(monkeypatch):
    from keras.src.utils import file_utils

    def no_internet(*args, **kwargs):
        raise Exception("URL fetch failure: [Errno -2] Name or service not known")

    monkeypatch.setattr(file_utils, "get_file", no_internet)
    with pytest.raises(ModelError, match="ImageNet weights.*skinml_resnet"):
        build_model("efficientnetb0_imagenet", image_size=SIZE)


def test_ensemble_is_the_mean_of_its_members_logits_and_explains_like_one_model(tmp_path):
    from skinml.cnn.ensemble import ensemble, ensemble_size
    from skinml.explain.gradcam import grad_cam

    keras.utils.set_random_seed(0)
    members = [build_model("skinml_resnet", image_size=SIZE, temperature=t) for t in (1.0, 2.0)]
    x = np.random.default_rng(1).random((3, SIZE, SIZE, 3)).astype("float32")
    for m in members:  # give the zero-initialised residual branches and the head some weight
        m.set_weights([w + np.random.default_rng(2).normal(0, 0.05, w.shape).astype("float32")
                       for w in m.get_weights()])
    logit = lambda p: np.log(p / (1 - p))
    expected = np.mean([logit(m.predict(x, verbose=0).reshape(-1).astype("float64")) for m in members], axis=0)

    model = ensemble(members)
    assert ensemble_size(model) == 2 and ensemble_size(members[0]) == 1
    got = logit(model.predict(x, verbose=0).reshape(-1).astype("float64"))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert last_conv_layer(model) == "features"
    names = conv_layer_names(model)  # one network after the other, the joined maps last
    assert names[-1] == "features" and names[0] == "member1_scale"
    assert names.index("member2_scale") == sum(n.startswith("member1_") for n in names)
    assert model.get_layer("features").output.shape[-1] == 2 * members[0].get_layer("gap").input.shape[-1]

    folder = save_classifier(tmp_path / "ens", model, {"name": "ensemble", "image_size": SIZE})
    clf = load_classifier(folder)
    assert ensemble_size(clf.model) == 2  # recognised after a save and load too
    np.testing.assert_allclose(logit(clf.p_malignant(clf.predict_proba(x))), expected, rtol=1e-4, atol=1e-4)
    heat = clf.with_model(grad_cam, x[0])
    assert heat.shape == (SIZE, SIZE) and heat.max() == pytest.approx(1.0)


def test_compact_save_halves_the_file_and_keeps_the_answers(tmp_path):
    keras.utils.set_random_seed(0)
    model = build_model("skinml_resnet", image_size=SIZE)
    model.set_weights([w + np.random.default_rng(0).normal(0, 0.05, w.shape).astype("float32")
                       for w in model.get_weights()])
    x = np.random.default_rng(1).random((4, SIZE, SIZE, 3)).astype("float32")
    full = load_classifier(save_classifier(tmp_path / "full", model, {"image_size": SIZE}))
    small = load_classifier(save_classifier(tmp_path / "small", model, {"image_size": SIZE}, compact=True))
    size = lambda clf: (clf.path / "model.keras").stat().st_size
    assert size(small) < 0.7 * size(full)
    np.testing.assert_allclose(small.predict_proba(x), full.predict_proba(x), atol=2e-3)
    np.testing.assert_array_equal(full.model.get_weights()[0], model.get_weights()[0])  # the model is untouched


def test_final_model_sets_the_temperature_and_keeps_the_weights():
    from skinml.cnn.predictions import with_temperature

    keras.utils.set_random_seed(0)
    model = build_model("skinml_resnet", image_size=SIZE)
    model.set_weights([w + np.random.default_rng(0).normal(0, 0.05, w.shape).astype("float32")
                       for w in model.get_weights()])
    x = np.random.default_rng(1).random((3, SIZE, SIZE, 3)).astype("float32")
    logit = lambda m: np.log(1 / m.predict(x, verbose=0).reshape(-1).astype("float64") - 1) * -1
    np.testing.assert_allclose(logit(with_temperature(model, 2.0)), logit(model) / 2, rtol=1e-4, atol=1e-5)
