"""Streamlit pieces of the evaluation page: cached predictions, the threshold view (benign/malignant)
and the multi-class view (a diagnosis model).

The classifier itself comes from `skinml.app.classifiers` (the dashboard's one model cache).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from skinml.app import plain
from skinml.app.classifiers import files_stamp, load_model
from skinml.evaluation import evaluate_classifier
from skinml.metrics import binary as ev
from skinml.metrics.multiclass import evaluate_multiclass
from skinml.plots import eval as plots_eval
from skinml.plots import multiclass as plots_multiclass


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


def saved_class_predictions(path: str | Path, split: str, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(y int (N,) class index, p float (N, C) class probabilities in the order of `classes`) of one
    split ("val" or "test") of a diagnosis model's predictions.csv (its `p_<class>` columns)."""
    from skinml.errors import ModelError

    table = _read_predictions(str(path), files_stamp(path))
    missing = [f"p_{c}" for c in classes if f"p_{c}" not in table]
    if missing:
        raise ModelError(f"{Path(path) / 'predictions.csv'} has no {', '.join(missing)} column: it was not "
                         "written by a diagnosis run. Finish the run again to rewrite it.")
    part = table[table["split"] == split]
    return part["y"].to_numpy().astype(int), part[[f"p_{c}" for c in classes]].to_numpy(dtype=float)


@st.cache_data(max_entries=8, show_spinner=False)
def _folder_predictions(model_path: str, stamp: int, data_dir: str, split: str) -> tuple[dict, pd.DataFrame]:
    classifier = load_model(model_path)
    bar = st.progress(0.0, text="Predicting every image of the folder ...")
    from skinml.app.data_ui import folders_of

    report = evaluate_classifier(classifier, folders_of(data_dir), split, tta=classifier.tta, n_boot=1000,
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


# What each tile means, in plain words (the help of its "?").
TILE_HELP = {
    "AUC": "Area under the ROC curve: the chance that a random malignant lesion gets a higher probability than a "
           "random benign one. 0.5 is a coin, 1 is perfect; it does not depend on the threshold.",
    "accuracy": "Share of all images on the right side of the threshold. Misleading when one class is rare.",
    "sensitivity": "Share of the malignant lesions the model flags (at or above the threshold): the cancers it "
                   "catches. 1 - sensitivity is the share it misses.",
    "specificity": "Share of the benign lesions the model clears (below the threshold). 1 - specificity is the "
                   "share of false alarms.",
    "balanced acc.": "The mean of sensitivity and specificity: accuracy as if both classes were equally common.",
    "precision": "Of the lesions the model flags, the share that are malignant (positive predictive value). It "
                 "depends on how common malignant lesions are in this set.",
}
SMALL_SUBGROUP = 10  # a subgroup with fewer images says almost nothing


def subgroup_rows(groups) -> pd.DataFrame:
    """A subgroup table (rows of `skinml.metrics.binary.subgroup_table`, or a run's saved list of
    them) for people: figures to 3 decimals, "n/a (one class)" where a figure is undefined."""
    table = pd.DataFrame(groups)
    for column in table.columns:
        if column not in ("group", "value", "n", "n_malignant"):
            table[column] = [_fmt(v) if v is not None and not (isinstance(v, float) and np.isnan(v))
                             else "n/a (one class)" for v in table[column]]
    return table


def small_subgroups_note(table: pd.DataFrame) -> str:
    """A warning naming the subgroups of fewer than SMALL_SUBGROUP images ("" when none)."""
    if "n" not in table:
        return ""
    small = table[table["n"] < SMALL_SUBGROUP]
    if small.empty:
        return ""
    names = ", ".join(f"{row.group} {row.value} ({row.n})" for row in small.itertuples())
    return (f"Subgroups of fewer than {SMALL_SUBGROUP} images ({names}): their figures can swing from 0 to 1 with "
            "one image and say almost nothing.")


def _fmt(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.3f}"


def threshold_view_ui(y: np.ndarray, p: np.ndarray, saved_threshold: float, meta: pd.DataFrame | None = None,
                      key: str = "eval") -> float:
    """The threshold slider and every figure at that threshold; returns the chosen threshold."""
    threshold = st.slider("Threshold (a lesion is called malignant when p ≥ threshold)", 0.0, 1.0,
                          float(round(saved_threshold, 3)), 0.005, key=f"{key}_threshold",
                          help=f"The model's saved threshold is {saved_threshold:.0%}.")
    m = ev.threshold_metrics(y, p, threshold)
    intervals = ev.bootstrap_intervals(y, p, threshold)  # as the run measured them: the same interval as Train
    n_malignant = int(np.sum(y == 1))
    note = ev.small_sample_warning(n_malignant, len(y) - n_malignant, ev.auc(y, p), intervals["auc"])
    if note:
        st.warning(note)
    cols = st.columns(6)
    for col, (label, value) in zip(cols, [("AUC", ev.auc(y, p)), ("accuracy", m["accuracy"]),
                                          ("sensitivity", m["sensitivity"]), ("specificity", m["specificity"]),
                                          ("balanced acc.", m["balanced_accuracy"]), ("precision", m["precision"])]):
        col.metric(label, _fmt(value), help=TILE_HELP[label])
    c1, c2 = st.columns(2)
    c1.plotly_chart(plots_eval.plot_roc(y, p, threshold), width="stretch", key=f"{key}_roc")
    with c2:
        counts, shares = st.tabs(["counts", "normalised"])
        counts.plotly_chart(plots_eval.plot_confusion(m["confusion"]), width="stretch", key=f"{key}_cm")
        shares.plotly_chart(plots_eval.plot_confusion(m["confusion"], normalised=True), width="stretch",
                            key=f"{key}_cmn")
        st.caption(f"Error rate {_fmt(m['error_rate'])} · NPV {_fmt(m['npv'])} · F1 {_fmt(m['f1'])} · "
                   f"partial AUC (the area under the ROC where sensitivity is at least 80%) "
                   f"{_fmt(ev.partial_auc(y, p))}, of at most 0.200 for a perfect model and 0.020 for a coin · "
                   f"sensitivity at specificity 0.7: {_fmt(ev.sensitivity_at_specificity(y, p, 0.7))} · "
                   f"specificity at sensitivity 0.9: {_fmt(ev.specificity_at_sensitivity(y, p, 0.9))}")
    c1, c2, c3 = st.columns(3)
    c1.plotly_chart(plots_eval.plot_pr(y, p, threshold), width="stretch", key=f"{key}_pr")
    c2.plotly_chart(plots_eval.plot_reliability(y, p), width="stretch", key=f"{key}_rel")
    c3.plotly_chart(plots_eval.plot_threshold_sweep(y, p, threshold), width="stretch", key=f"{key}_sweep")
    head = ev.headline(y, p, threshold)
    st.markdown("**95% bootstrap intervals** (1,000 resamples, stratified by class, as the run measured them)")
    st.dataframe(pd.DataFrame([{"figure": k, "value": _fmt(head[k]), "low": _fmt(lo), "high": _fmt(hi)}
                               for k, (lo, hi) in intervals.items()]), hide_index=True)
    if meta is not None:
        groups = ev.subgroup_table(meta, y, p, threshold)
        if len(groups):
            st.markdown("**By subgroup** (metadata where known)")
            note = small_subgroups_note(groups)
            if note:
                st.warning(plain(note))
            st.dataframe(subgroup_rows(groups), hide_index=True, width="stretch")
            st.plotly_chart(plots_eval.plot_subgroups(groups), width="stretch", key=f"{key}_groups")
    return threshold


@st.cache_data(max_entries=16, show_spinner="Bootstrapping the 95% intervals ...")
def multiclass_report(y: np.ndarray, p: np.ndarray, classes: tuple[str, ...], malignant: tuple[str, ...],
                      n_boot: int = 500) -> dict:
    """`skinml.metrics.multiclass.evaluate_multiclass` of (y, p), cached (the intervals take a
    few seconds on a large split)."""
    return evaluate_multiclass(y, p, list(classes), list(malignant), n_boot=n_boot)


def _interval(report: dict, key: str) -> str:
    low, high = (report.get("intervals") or {}).get(key, (None, None))
    return "" if low is None else f"95% interval {low:.2f} to {high:.2f}"


def multiclass_view_ui(y: np.ndarray, p: np.ndarray, classes, malignant, key: str = "eval") -> dict:
    """Every figure of a diagnosis model on one set of images: balanced accuracy and macro AUC
    with their 95% bootstrap intervals, the derived p(malignant) AUC, the confusion matrix
    (counts and row shares), ROC per class (one against the rest), sensitivity per class and
    the per-class table. `y` int (N,) class indices, `p` float (N, C). Returns the report."""
    report = multiclass_report(np.asarray(y).astype(int), np.asarray(p, dtype=float), tuple(classes),
                               tuple(malignant))
    rare = [f"{r['class']} ({r['n']})" for r in report["per_class"] if 0 < r["n"] < 10]
    if rare:
        st.warning(plain(f"Few images of {', '.join(rare)}: their sensitivity and AUC are very uncertain, and so "
                         "is the balanced accuracy that averages them (see its interval)."))
    absent = [r["class"] for r in report["per_class"] if r["n"] == 0]
    if absent:
        st.caption(plain(f"No image of {', '.join(absent)} here: balanced accuracy and macro AUC average the "
                         "other classes."))
    cols = st.columns(4)
    cols[0].metric("balanced accuracy", _fmt(report["balanced_accuracy"]),
                   help="Mean sensitivity over the classes (ISIC 2018 Task 3's measure). "
                        + _interval(report, "balanced_accuracy"))
    cols[0].caption(_interval(report, "balanced_accuracy"))
    cols[1].metric("macro AUC", _fmt(report["macro_auc"]), help="Mean one-against-the-rest AUC over the classes.")
    cols[1].caption(_interval(report, "macro_auc"))
    cols[2].metric("p(malignant) AUC", _fmt(report.get("malignant_auc")),
                   help="p(malignant) = the sum of the probabilities of " + plain(", ".join(malignant))
                        + ": its AUC against the benign/malignant truth, comparable with a binary model's AUC.")
    cols[2].caption("p(malignant) = " + plain(" + ".join(malignant)))
    cols[3].metric("accuracy", _fmt(report["accuracy"]), help="Share of images whose most probable class is right: "
                                                              "dominated by the commonest class (nevi).")
    cols[3].caption(f"{report['n']:,} images · calibration error {_fmt(report['ece'])}")
    c1, c2 = st.columns(2)
    with c1:
        counts, shares = st.tabs(["counts", "normalised (share of each true class)"])
        counts.plotly_chart(plots_multiclass.plot_confusion_classes(report["confusion"], classes), width="stretch",
                            key=f"{key}_mc_cm")
        shares.plotly_chart(plots_multiclass.plot_confusion_classes(report["confusion"], classes, normalised=True),
                            width="stretch", key=f"{key}_mc_cmn")
    c2.plotly_chart(plots_multiclass.plot_roc_per_class(y, p, classes), width="stretch", key=f"{key}_mc_roc")
    c1, c2 = st.columns(2)
    c1.plotly_chart(plots_multiclass.plot_class_sensitivity(report["per_class"], report["balanced_accuracy"]),
                    width="stretch", key=f"{key}_mc_sens")
    if report.get("malignant_auc") is not None:
        columns = [list(classes).index(c) for c in malignant]
        c2.plotly_chart(plots_eval.plot_roc(np.isin(y, columns).astype(int), np.asarray(p)[:, columns].sum(axis=1),
                                            title="ROC of p(malignant) (sum of the malignant classes)"),
                        width="stretch", key=f"{key}_mc_malignant")
    st.markdown("**Per class** (one against the rest; sensitivity and specificity of the most probable class)")
    st.dataframe(pd.DataFrame(report["per_class"]), hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.3f")
                                for c in ("sensitivity", "specificity", "auc")})
    return report
