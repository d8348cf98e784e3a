"""Streamlit pieces of the evaluation page: cached predictions and the threshold view.

The classifier itself comes from `skinml.app.classifiers` (the dashboard's one model cache).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from skinml.app.classifiers import files_stamp, load_model
from skinml.evaluation import evaluate_classifier
from skinml.metrics import binary as ev
from skinml.plots import eval as plots_eval


def has_saved_predictions(path: str | Path) -> bool:
    """Whether the model at `path` (a finished run or the shipped folder) has its predictions.csv."""
    return (Path(path) / "predictions.csv").exists()


@st.cache_data(max_entries=16)
def _read_predictions(path: str, stamp: int) -> pd.DataFrame:
    return pd.read_csv(Path(path) / "predictions.csv", dtype={"isic_id": str})


def saved_predictions(path: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(y int (N,), p float (N,)) of one split ("val" or "test") of the model's predictions.csv,
    written when its run finished."""
    table = _read_predictions(str(path), files_stamp(path))
    part = table[table["split"] == split]
    return part["y"].to_numpy(), part["p"].to_numpy()


@st.cache_data(max_entries=8, show_spinner=False)
def _folder_predictions(model_path: str, stamp: int, data_dir: str, split: str) -> tuple[dict, pd.DataFrame]:
    classifier = load_model(model_path)
    bar = st.progress(0.0, text="Predicting every image of the folder ...")
    report = evaluate_classifier(classifier, data_dir, split, tta=classifier.tta, n_boot=1000,
                                 on_progress=lambda f, logs: bar.progress(f, text=f"Predicted {logs['images']:,} "
                                                                          "images ..."))
    bar.empty()
    return report


def folder_predictions(model_path: str, data_dir: str, split: str = "auto") -> tuple[dict, pd.DataFrame]:
    """`skinml.evaluation.evaluate_classifier` on a folder: (report, table with y and p), cached per
    model (path and files), folder and split. Like the model's saved figures and `skinml evaluate`,
    it averages the eight flips and turns when the model's threshold was fitted that way
    (`Classifier.tta`), so that the same images give the same AUC everywhere."""
    return _folder_predictions(str(model_path), files_stamp(model_path), data_dir, split)


def _fmt(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.3f}"


def threshold_view_ui(y: np.ndarray, p: np.ndarray, saved_threshold: float, meta: pd.DataFrame | None = None,
                      key: str = "eval") -> float:
    """The threshold slider and every figure at that threshold; returns the chosen threshold."""
    threshold = st.slider("Threshold (a lesion is called malignant when p ≥ threshold)", 0.0, 1.0,
                          float(round(saved_threshold, 3)), 0.005, key=f"{key}_threshold",
                          help=f"The model's saved threshold is {saved_threshold:.0%}.")
    m = ev.threshold_metrics(y, p, threshold)
    intervals = ev.bootstrap_intervals(y, p, threshold, n_boot=500)
    n_malignant = int(np.sum(y == 1))
    note = ev.small_sample_warning(n_malignant, len(y) - n_malignant, ev.auc(y, p), intervals["auc"])
    if note:
        st.warning(note)
    cols = st.columns(6)
    for col, (label, value) in zip(cols, [("AUC", ev.auc(y, p)), ("accuracy", m["accuracy"]),
                                          ("sensitivity", m["sensitivity"]), ("specificity", m["specificity"]),
                                          ("balanced acc.", m["balanced_accuracy"]), ("precision", m["precision"])]):
        col.metric(label, _fmt(value))
    c1, c2 = st.columns(2)
    c1.plotly_chart(plots_eval.plot_roc(y, p, threshold), width="stretch", key=f"{key}_roc")
    with c2:
        counts, shares = st.tabs(["counts", "normalised"])
        counts.plotly_chart(plots_eval.plot_confusion(m["confusion"]), width="stretch", key=f"{key}_cm")
        shares.plotly_chart(plots_eval.plot_confusion(m["confusion"], normalised=True), width="stretch",
                            key=f"{key}_cmn")
        st.caption(f"Error rate {_fmt(m['error_rate'])} · NPV {_fmt(m['npv'])} · F1 {_fmt(m['f1'])} · "
                   f"partial AUC above 80% sensitivity {_fmt(ev.partial_auc(y, p))} (max 0.2) · "
                   f"sensitivity at specificity 0.7: {_fmt(ev.sensitivity_at_specificity(y, p, 0.7))} · "
                   f"specificity at sensitivity 0.9: {_fmt(ev.specificity_at_sensitivity(y, p, 0.9))}")
    c1, c2, c3 = st.columns(3)
    c1.plotly_chart(plots_eval.plot_pr(y, p, threshold), width="stretch", key=f"{key}_pr")
    c2.plotly_chart(plots_eval.plot_reliability(y, p), width="stretch", key=f"{key}_rel")
    c3.plotly_chart(plots_eval.plot_threshold_sweep(y, p, threshold), width="stretch", key=f"{key}_sweep")
    head = ev.headline(y, p, threshold)
    st.markdown("**95% bootstrap intervals** (500 resamples, stratified by class)")
    st.dataframe(pd.DataFrame([{"figure": k, "value": head[k], "low": lo, "high": hi}
                               for k, (lo, hi) in intervals.items()]), hide_index=True)
    if meta is not None:
        groups = ev.subgroup_table(meta, y, p, threshold)
        if len(groups):
            st.markdown("**By subgroup** (metadata where known)")
            st.dataframe(groups, hide_index=True, width="stretch")
            st.plotly_chart(plots_eval.plot_subgroups(groups), width="stretch", key=f"{key}_groups")
    return threshold
