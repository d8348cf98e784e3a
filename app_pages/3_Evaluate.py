"""Evaluate a trained classifier: ROC with the operating point, confusion, calibration, subgroups;
for a diagnosis model the multi-class views (confusion, ROC and sensitivity per class, balanced accuracy)."""

import pandas as pd
import streamlit as st

from skinml.app import plain, setup_page, show_error
from skinml.app.classifiers import choose_model_ui
from skinml.app.data_ui import data_dir
from skinml.app.eval_ui import (
    folder_predictions,
    has_saved_predictions,
    multiclass_view_ui,
    saved_class_predictions,
    saved_predictions,
    small_subgroups_note,
    subgroup_rows,
    threshold_view_ui,
)
from skinml.app.segment_ui import abcd_vs_cnn_ui, heatmap_in_outline_ui
from skinml.errors import SkinmlError
from skinml.runs import list_runs

setup_page("Evaluate a classifier")

chosen = choose_model_ui("eval_model", unfinished=True)
if chosen is None:
    st.stop()
path, classifier = chosen
diagnosis = classifier.task == "diagnosis"
classes, malignant = list(classifier.classes), list(classifier.malignant_classes)
if diagnosis:
    st.caption(f"**{plain(classifier.info.get('name', '?'))}** at {classifier.image_size} px ({classifier.resize}): a "
               f"diagnosis model of {len(classes)} classes ({plain(', '.join(classes))})"
               + (", reading the patient's age, sex and site too" if classifier.uses_metadata else "")
               + f". Its p(malignant) is the sum of {plain(', '.join(malignant))}.")
else:
    st.caption(f"{plain(classifier.info.get('name', '?'))} at {classifier.image_size} px ({classifier.resize}), "
               f"saved threshold {classifier.threshold:.0%} ({classifier.info.get('threshold_rule', 'threshold')}).")

options = (["test split (held out)", "validation split"] if has_saved_predictions(path) else []) + ["the data folder"]
where = st.radio("Evaluate on", options, horizontal=True)
meta = None
if where == "the data folder":
    st.caption(f"Data folder: {plain(data_dir())}. The model's own test split when this is its training data, "
               "else every " + ("image of one of its diagnoses" if diagnosis else "labelled image")
               + ". Each image is predicted "
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
    if diagnosis:
        left_out = ", ".join(f"{n:,} ({why})" for why, n in report.get("left_out", {}).items() if n)
        st.caption(f"Evaluated on the {report['split']} part: {report['n']} images"
                   + (f"; left out: {plain(left_out)}" if left_out else "") + ".")
        y, p = table["y"].to_numpy(), table[[f"p_{c}" for c in classes]].to_numpy()
    else:
        st.caption(f"Evaluated on the {report['split']} part: {report['n']} images, {report['n_malignant']} "
                   "malignant.")
        y, p, meta = table["y"].to_numpy(), table["p"].to_numpy(), table
else:
    split = "test" if where.startswith("test") else "val"
    try:
        y, p = saved_class_predictions(path, split, classes) if diagnosis else saved_predictions(path, split)
    except SkinmlError as exc:
        show_error(exc)
        st.stop()
    if not diagnosis:
        st.caption(f"{len(y)} images, {int(y.sum())} malignant.")

if diagnosis:
    if len(set(y)) < 2:
        st.warning("These images are all of one class: AUC and the curves are not defined.")
    multiclass_view_ui(y, p, classes, malignant, key=f"eval_{path}_{where}")
else:
    if len(set(y)) < 2:
        st.warning("This split has only one class: AUC and the curves are not defined.")
    threshold_view_ui(y, p, classifier.threshold, meta=meta, key=f"eval_{path}_{where}")
    if where == "the data folder" and not classifier.uses_metadata:
        abcd_vs_cnn_ui(table, data_dir(), key=f"abcd_{path}")
        heatmap_in_outline_ui(table, data_dir(), path, key=f"outline_share_{path}")
    if where.startswith("test") and classifier.metrics.get("test", {}).get("subgroups"):
        st.markdown("**Test split by subgroup** (at the saved threshold, from the run's metrics)")
        groups = pd.DataFrame(classifier.metrics["test"]["subgroups"])
        if small_subgroups_note(groups):
            st.warning(plain(small_subgroups_note(groups)))
        st.dataframe(subgroup_rows(groups), hide_index=True, width="stretch")

runs = list_runs(kind="classifier")
if len(runs):
    st.subheader("All runs")
    st.dataframe(runs.drop(columns=["path"]), hide_index=True, width="stretch")
