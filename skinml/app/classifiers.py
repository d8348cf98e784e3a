"""The dashboard's one classifier cache and its model picker, shared by every page.

Which models are offered: the folder in the environment variable `SKINML_MODEL` (a
classifier folder or a run directory; tests and deployments point the pages at a model
this way), the shipped model `skinml/assets/classifier/`, and every finished run in
`runs/` (or `$SKINML_RUNS`). Page 4 adds the registry's architectures with random weights.

`load_model(path)` keeps up to four classifiers in memory (`st.cache_resource`, shared by
all sessions) and reloads one when its files change. Sharing is safe: `Classifier`
serialises model calls with a lock (`predict_proba`, `with_model`), and nothing in the
dashboard fits or changes a cached model.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from skinml.app import mtime_stamp, show_error
from skinml.cnn.classifier import DIAGNOSIS_DIR, SHIPPED_DIR, Classifier, load_classifier
from skinml.errors import SkinmlError

MODEL_ENV = "SKINML_MODEL"
SHIPPED = "shipped model"
SHIPPED_DIAGNOSIS = "shipped diagnosis model"
UNTRAINED = "untrained:"  # prefix of the registry's architectures with random weights (page 4)
UNTRAINED_SIZE = 128


def model_options(untrained: bool = False, shipped_diagnosis: bool = False) -> dict[str, str]:
    """{label: path} of the models the pages offer; `untrained` adds the registry's architectures,
    `shipped_diagnosis` the shipped diagnosis model (skinml/assets/diagnosis) when it is installed."""
    from skinml.runs import list_runs

    options = {}
    if os.environ.get(MODEL_ENV):
        options[f"{MODEL_ENV}: {os.environ[MODEL_ENV]}"] = os.environ[MODEL_ENV]
    if (SHIPPED_DIR / "model.keras").exists():
        options[SHIPPED] = str(SHIPPED_DIR)
    if shipped_diagnosis and (DIAGNOSIS_DIR / "model.keras").exists():
        options[SHIPPED_DIAGNOSIS] = str(DIAGNOSIS_DIR)
    runs = list_runs(kind="classifier")
    for row in runs[runs["status"] == "finished"].itertuples():
        if (Path(row.path) / "model" / "model.keras").exists():
            options[f"run {row.run} ({row.model})"] = row.path
    if untrained:
        from skinml.cnn.models import MODELS

        options.update({f"untrained {name} (random weights)": UNTRAINED + name for name in MODELS})
    return options


def files_stamp(path: str | Path) -> int:
    """Changes when a classifier folder or run directory is rewritten, so that caches re-read it."""
    names = ("model.keras", "model.json", "predictions.csv", "model/model.keras", "model/model.json")
    return mtime_stamp([Path(path) / name for name in names])


@st.cache_resource(show_spinner="Loading the model ...", max_entries=4)
def _load(path: str, stamp: int) -> Classifier:
    if path.startswith(UNTRAINED):
        import keras

        from skinml.cnn.models import PRETRAINED, build_model

        keras.utils.set_random_seed(0)
        name = path[len(UNTRAINED):]
        model = build_model(name, image_size=UNTRAINED_SIZE, **({"weights": None} if name in PRETRAINED else {}))
        return Classifier(model=model, info={"name": model.name, "image_size": UNTRAINED_SIZE,
                                             "version": "untrained"})
    return load_classifier(path)


def load_model(path: str | Path) -> Classifier:
    """The classifier at `path` (a folder, a run directory, or UNTRAINED + an architecture name),
    loaded once and shared by all sessions. Raises ModelError when it cannot be loaded."""
    path = str(path)
    return _load(path, 0 if path.startswith(UNTRAINED) else files_stamp(path))


def choose_model_ui(key: str = "model", untrained: bool = False,
                    shipped_diagnosis: bool = False) -> tuple[str, Classifier] | None:
    """A model picker; returns (path, classifier), or None after saying why there is none."""
    options = model_options(untrained, shipped_diagnosis)
    if not options:
        st.info("No trained model yet. Train one (`python train/train_classifier.py` or the training "
                f"page), or point `{MODEL_ENV}` at a classifier folder.")
        return None
    label = st.selectbox("Model", list(options), key=key)
    try:
        return options[label], load_model(options[label])
    except SkinmlError as exc:
        show_error(exc)
        return None
