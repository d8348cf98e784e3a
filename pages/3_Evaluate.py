"""Evaluate a trained classifier: ROC with the operating point, confusion, calibration, subgroups."""

from pathlib import Path

import streamlit as st

from skinml.app import setup_page, show_error
from skinml.app.data_ui import data_dir
from skinml.app.eval_ui import (
    cached_classifier,
    folder_predictions,
    model_sources,
    run_predictions,
    stamp,
    threshold_view_ui,
)
from skinml.runs import list_runs

setup_page("Evaluate a classifier")

sources = model_sources()
if not sources:
    st.info("No trained model yet: train one on the **Train classifier** page (or install the shipped one).")
    st.stop()
label = st.selectbox("Model", list(sources))
path = sources[label]
try:
    classifier = cached_classifier(path, stamp(path))
except Exception as exc:  # noqa: BLE001
    show_error(exc)
    st.stop()
st.caption(f"`{classifier.info.get('name', '?')}` at {classifier.image_size} px ({classifier.resize}), "
           f"saved threshold {classifier.threshold:.3f} ({classifier.info.get('threshold_rule', 'threshold')}).")

has_predictions = (Path(path) / "predictions.csv").exists()
options = (["test split (held out)", "validation split"] if has_predictions else []) + ["the data folder"]
where = st.radio("Evaluate on", options, horizontal=True)
meta = None
if where == "the data folder":
    st.caption(f"Data folder: `{data_dir()}`. The model's own test split when this is its training data, "
               "else every labelled image.")
    if not st.button("Predict the folder", type="primary") and not st.session_state.get(f"eval_{path}_{data_dir()}"):
        st.stop()
    st.session_state[f"eval_{path}_{data_dir()}"] = True
    try:
        report, table = folder_predictions(str(classifier.path), stamp(classifier.path), data_dir(), "auto")
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
        st.stop()
    st.caption(f"Evaluated on the {report['split']} part: {report['n']} images, {report['n_malignant']} malignant.")
    y, p, meta = table["y"].to_numpy(), table["p"].to_numpy(), table
else:
    table = run_predictions(path, stamp(path))
    table = table[table["split"] == ("test" if where.startswith("test") else "val")]
    y, p = table["y"].to_numpy(), table["p"].to_numpy()
    st.caption(f"{len(table)} images, {int(y.sum())} malignant.")

if len(set(y)) < 2:
    st.warning("This split has only one class: AUC and the curves are not defined.")
threshold_view_ui(y, p, classifier.threshold, meta=meta, key=f"eval_{label}_{where}")
if where.startswith("test") and classifier.metrics.get("test", {}).get("subgroups"):
    st.markdown("**Test split by subgroup** (at the saved threshold, from the run's metrics)")
    st.dataframe(classifier.metrics["test"]["subgroups"], hide_index=True, width="stretch")

st.subheader("All runs")
runs = list_runs(kind="classifier")
if len(runs):
    st.dataframe(runs.drop(columns=["path"]), hide_index=True, width="stretch")
