"""The dashboard's one classifier cache and its model picker, shared by every page.

Which models are offered: the folder in the environment variable `SKINML_MODEL` (a
classifier folder or a run directory; tests and deployments point the pages at a model
this way), the shipped model `skinml/assets/classifier/`, the shipped diagnosis model
`skinml/assets/diagnosis/` once there is one, and every finished run in `runs/` (or
`$SKINML_RUNS`); the teaching pages (Evaluate, Inside the CNN) also offer a stopped, failed or
interrupted run's best epoch (`skinml.runs.unfinished`), labelled with what it lacks. A picker
may ask for one task only ("binary" or "diagnosis", read from model.json without Keras). Page 4
adds the registry's architectures with random weights.

`load_model(path)` keeps up to four classifiers in memory (`st.cache_resource`, shared by
all sessions) and reloads one when its files change. Sharing is safe: `Classifier`
serialises model calls with a lock (`predict_proba`, `with_model`), and nothing in the
dashboard fits or changes a cached model.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from skinml.app import mtime_stamp, plain, show_error
from skinml.cnn.classifier import DIAGNOSIS_DIR, SHIPPED_DIR, Classifier, load_classifier, read_info
from skinml.errors import SkinmlError

MODEL_ENV = "SKINML_MODEL"
SHIPPED = "shipped model"
SHIPPED_DIAGNOSIS = "shipped diagnosis model"
UNTRAINED = "untrained:"  # prefix of the registry's architectures with random weights (page 4)
UNTRAINED_SIZE = 128


def model_task(path: str | Path) -> str:
    """"binary" or "diagnosis": the task in a classifier folder's model.json (no Keras); a folder
    whose model.json cannot be read counts as binary (loading it then says what is wrong)."""
    try:
        return str(read_info(path)[0].get("task", "binary"))
    except SkinmlError:
        return "binary"


def model_options(untrained: bool = False, task: str | None = None, unfinished: bool = False) -> dict[str, str]:
    """{label: path} of the models the pages offer; `untrained` adds the registry's architectures
    (binary), `task` keeps the models of that task only ("binary" or "diagnosis"), `unfinished`
    adds the best epoch of every stopped, failed or interrupted run that kept one (best.keras),
    labelled "stopped at epoch 13 (best epoch 11), not finished: ..."."""
    from skinml.runs import list_runs
    from skinml.runs.unfinished import UNFINISHED, has_checkpoint, unfinished_label

    options = {}
    if os.environ.get(MODEL_ENV):
        options[f"{MODEL_ENV}: {os.environ[MODEL_ENV]}"] = os.environ[MODEL_ENV]
    if (SHIPPED_DIR / "model.keras").exists():
        options[SHIPPED] = str(SHIPPED_DIR)
    if (DIAGNOSIS_DIR / "model.keras").exists():
        options[SHIPPED_DIAGNOSIS] = str(DIAGNOSIS_DIR)
    runs = list_runs(kind="classifier")
    for row in runs[runs["status"] == "finished"].itertuples():
        if (Path(row.path) / "model" / "model.keras").exists():
            options[f"run {row.run} ({row.model})"] = row.path
    if unfinished:
        for row in runs[runs["status"].isin(UNFINISHED)].itertuples():
            if has_checkpoint(row.path):
                best = None if pd.isna(row.best_epoch) else int(row.best_epoch)
                options[f"run {row.run} ({row.model}): {unfinished_label(row.status, row.epochs, best)}"] = row.path
    if task is not None:
        options = {label: path for label, path in options.items() if model_task(path) == task}
    if untrained and task in (None, "binary"):
        from skinml.cnn.models import MODELS

        options.update({f"untrained {name} (random weights)": UNTRAINED + name for name in MODELS})
    return options


def unfinished_runs(offered: bool = False) -> list[str]:
    """Sentences naming the classifier runs that a picker does not offer: stopped, failed or
    interrupted, never finished (no threshold, calibration or test figures, no `model/`). With
    `offered` (the picker offers their best.keras), only those that kept no best.keras."""
    from skinml.runs import list_runs
    from skinml.runs.unfinished import UNFINISHED, has_checkpoint

    runs = list_runs(kind="classifier")
    said = []
    for row in runs[runs["status"].isin(UNFINISHED)].itertuples():
        if (Path(row.path) / "model" / "model.keras").exists():
            continue
        if has_checkpoint(row.path):
            if not offered:
                said.append(f"run {row.run} ({row.model}, {row.status} after epoch {row.epochs}; not finished)")
        else:
            said.append(f"run {row.run} ({row.model}, {row.status} after epoch {row.epochs}; no best epoch kept: "
                        "it had not finished its first epoch)")
    return said


def files_stamp(path: str | Path) -> int:
    """Changes when a classifier folder or run directory is rewritten, so that caches re-read it."""
    names = ("model.keras", "model.json", "predictions.csv", "model/model.keras", "model/model.json", "best.keras",
             "state.json", "status")
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
    from skinml.runs.unfinished import has_checkpoint, load_unfinished

    return load_unfinished(path) if has_checkpoint(path) else load_classifier(path)


def load_model(path: str | Path) -> Classifier:
    """The classifier at `path` (a folder, a run directory, or UNTRAINED + an architecture name),
    loaded once and shared by all sessions. Raises ModelError when it cannot be loaded."""
    path = str(path)
    return _load(path, 0 if path.startswith(UNTRAINED) else files_stamp(path))


def choose_model_ui(key: str = "model", untrained: bool = False, task: str | None = None,
                    optional: bool = False, unfinished: bool = False) -> tuple[str, Classifier] | None:
    """A model picker; returns (path, classifier), or None after saying why there is none.
    `task` offers the models of one task only; `optional` (with a task) offers "none" first and
    says nothing when there is no model of that task; `unfinished` also offers the best epoch of
    runs stopped before their end, and says what such a model lacks."""
    options = model_options(untrained, task, unfinished)
    if optional:
        if not options:
            return None
        label = st.selectbox(f"{task.capitalize()} model" if task else "Model", ["none", *options],
                             index=1, key=key)
        if label == "none":
            return None
        try:
            return options[label], load_model(options[label])
        except SkinmlError as exc:
            show_error(exc)
            return None
    if not options:
        st.info("No trained model yet. Train one (`python -m skinml train` or the training "
                f"page), or point `{MODEL_ENV}` at a classifier folder.")
        return None
    label = st.selectbox("Model", list(options), key=key)
    not_offered = unfinished_runs(offered=unfinished)
    if not_offered:
        st.caption("Not offered: " + plain("; ".join(not_offered)) + ". " + (
            "A run stopped during its first epoch has no weights to show yet." if unfinished else
            "A run stopped before its end keeps its best epoch (best.keras) but is not finished: no threshold, "
            "calibration or test figures yet (Evaluate and Inside the CNN offer it as it is).")
            + " Resume it on the Train classifier page and it is finished at its end.")
    try:
        classifier = load_model(options[label])
    except SkinmlError as exc:
        show_error(exc)
        return None
    if classifier.info.get("unfinished"):
        st.warning(plain(classifier.info["unfinished"]))
    return options[label], classifier
