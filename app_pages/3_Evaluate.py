"""Evaluate a trained classifier: ROC with the operating point, confusion, calibration, subgroups."""

import streamlit as st

from skinml.app import setup_page, show_error
from skinml.app.classifiers import choose_model_ui
from skinml.app.data_ui import data_dir
from skinml.app.eval_ui import folder_predictions, has_saved_predictions, saved_predictions, threshold_view_ui
from skinml.errors import SkinmlError
from skinml.runs import list_runs

setup_page("Evaluate a classifier")

chosen = choose_model_ui("eval_model")
if chosen is None:
    st.stop()
path, classifier = chosen
st.caption(f"`{classifier.info.get('name', '?')}` at {classifier.image_size} px ({classifier.resize}), "
           f"saved threshold {classifier.threshold:.0%} ({classifier.info.get('threshold_rule', 'threshold')}).")

options = (["test split (held out)", "validation split"] if has_saved_predictions(path) else []) + ["the data folder"]
where = st.radio("Evaluate on", options, horizontal=True)
meta = None
if where == "the data folder":
    st.caption(f"Data folder: `{data_dir()}`. The model's own test split when this is its training data, "
               "else every labelled image. Each image is predicted "
               + ("as the mean of its eight flips and quarter turns, as the model's threshold was fitted and as "
                  "its saved figures were measured." if classifier.tta else "once, as the model's threshold was "
                                                                             "fitted."))
    if not st.button("Predict the folder", type="primary") and not st.session_state.get(f"eval_{path}_{data_dir()}"):
        st.stop()
    st.session_state[f"eval_{path}_{data_dir()}"] = True
    try:
        report, table = folder_predictions(path, data_dir(), "auto")
    except SkinmlError as exc:
        show_error(exc)
        st.stop()
    st.caption(f"Evaluated on the {report['split']} part: {report['n']} images, {report['n_malignant']} malignant.")
    y, p, meta = table["y"].to_numpy(), table["p"].to_numpy(), table
else:
    y, p = saved_predictions(path, "test" if where.startswith("test") else "val")
    st.caption(f"{len(y)} images, {int(y.sum())} malignant.")

if len(set(y)) < 2:
    st.warning("This split has only one class: AUC and the curves are not defined.")
threshold_view_ui(y, p, classifier.threshold, meta=meta, key=f"eval_{path}_{where}")
if where.startswith("test") and classifier.metrics.get("test", {}).get("subgroups"):
    st.markdown("**Test split by subgroup** (at the saved threshold, from the run's metrics)")
    st.dataframe(classifier.metrics["test"]["subgroups"], hide_index=True, width="stretch")

runs = list_runs(kind="classifier")
if len(runs):
    st.subheader("All runs")
    st.dataframe(runs.drop(columns=["path"]), hide_index=True, width="stretch")
