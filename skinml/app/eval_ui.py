"""Streamlit pieces of the evaluation page: cached models and predictions, the threshold view."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from skinml.cnn.classifier import SHIPPED_DIR, load_classifier
from skinml.evaluation import evaluate_classifier
from skinml.metrics import binary as ev
from skinml.plots import eval as plots_eval
from skinml.runs import list_runs

SHIPPED = "shipped model"


def stamp(path: str | Path) -> int:
    """Changes when a model folder or run is rewritten, so caches re-read it."""
    path = Path(path)
    files = [path / n for n in ("model.keras", "model.json", "predictions.csv", "model/model.keras")]
    return hash(tuple(os.stat(f).st_mtime_ns for f in files if f.exists()))


def model_sources() -> dict[str, str]:
    """{label: path}: the shipped model when installed, then every finished run, newest first."""
    sources = {SHIPPED: str(SHIPPED_DIR)} if (SHIPPED_DIR / "model.keras").exists() else {}
    runs = list_runs(kind="classifier")
    for row in runs[runs["status"] == "finished"].itertuples():
        if (Path(row.path) / "model" / "model.keras").exists():
            sources[f"run {row.run} ({row.model})"] = row.path
    return sources


@st.cache_resource(max_entries=4, show_spinner="Loading the model ...")
def cached_classifier(path: str, _stamp: int):
    """load_classifier, shared between sessions (prediction is guarded by its lock)."""
    return load_classifier(path)


@st.cache_data(max_entries=16)
def run_predictions(path: str, _stamp: int) -> pd.DataFrame:
    """A run's predictions.csv: split, isic_id, y (0/1), p (float in [0, 1])."""
    return pd.read_csv(Path(path) / "predictions.csv", dtype={"isic_id": str})


@st.cache_data(max_entries=8, show_spinner="Predicting every image of the folder ...")
def folder_predictions(model_path: str, model_stamp: int, data_dir: str, split: str) -> tuple[dict, pd.DataFrame]:
    """evaluate_classifier on a folder, cached per model, folder and split."""
    classifier = cached_classifier(model_path, model_stamp)
    return evaluate_classifier(classifier, data_dir, split, n_boot=1000)


def _fmt(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.3f}"


def threshold_view_ui(y: np.ndarray, p: np.ndarray, saved_threshold: float, meta: pd.DataFrame | None = None,
                      key: str = "eval") -> float:
    """The threshold slider and every figure at that threshold; returns the chosen threshold."""
    threshold = st.slider("Threshold (a lesion is called malignant when p ≥ threshold)", 0.0, 1.0,
                          float(round(saved_threshold, 3)), 0.005, key=f"{key}_threshold",
                          help=f"The model's saved threshold is {saved_threshold:.3f}.")
    m = ev.threshold_metrics(y, p, threshold)
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
    intervals = ev.bootstrap_intervals(y, p, threshold, n_boot=500)
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
