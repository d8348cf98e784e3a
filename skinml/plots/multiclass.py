"""Plotly figures of a diagnosis (multi-class) model: confusion matrix, one-vs-rest ROC, per-class bars.

They take what `skinml.metrics.multiclass` returns (the confusion matrix, the per-class rows)
or the labels and class probabilities themselves; they return figures, never call st.*.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from skinml.metrics import binary as ev
from skinml.metrics.binary import normalise_confusion
from skinml.plots import as_text


def _names(classes) -> list[str]:
    """Class names (read from a model's files) safe as Plotly labels."""
    return list(as_text(pd.Series(list(classes), dtype=object)))


def plot_confusion_classes(cm, classes: list[str], normalised: bool = False, title: str = "") -> go.Figure:
    """Heatmap of a (C, C) confusion matrix (rows truth, columns the most probable class): counts,
    or each row's shares (a row of no image reads 0%)."""
    cm = np.asarray(cm, dtype=float)
    z = normalise_confusion(cm) if normalised else cm
    text = [[f"{v:.0%}" if normalised else f"{int(v)}" for v in row] for row in z]
    fig = go.Figure(go.Heatmap(z=z, x=_names(classes), y=_names(classes), text=text, texttemplate="%{text}",
                               colorscale="Blues", showscale=False,
                               hovertemplate="truth %{y}, predicted %{x}: %{text}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", title="truth", type="category")
    fig.update_xaxes(title="predicted (most probable class)", side="bottom", type="category")
    fig.update_layout(title=title or ("Confusion matrix (share of each true class)" if normalised
                                      else "Confusion matrix (counts)"), height=440)
    return fig


def plot_roc_per_class(y, p, classes: list[str], title: str = "ROC per class (one against the rest)") -> go.Figure:
    """One ROC curve per class: that class's probability against every other class (y int (N,)
    class indices, p float (N, C)). Classes with no image, or only images, in `y` are left out."""
    y, p = np.asarray(y).astype(int), np.asarray(p, dtype=float)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance",
                             line=dict(dash="dot", color="grey")))
    for c, name in enumerate(_names(classes)):
        truth = (y == c).astype(int)
        if truth.all() or not truth.any():
            continue
        r = ev.roc(truth, p[:, c])
        fig.add_trace(go.Scatter(x=r["fpr"], y=r["tpr"], mode="lines", name=f"{name} (AUC {r['auc']:.2f}, "
                                 f"n={int(truth.sum())})",
                                 hovertemplate="1-spec %{x:.3f}, sens %{y:.3f}"))
    fig.update_layout(title=title, xaxis_title="1 - specificity (false positive rate)",
                      yaxis_title="sensitivity (true positive rate)", height=440,
                      xaxis=dict(range=[0, 1]), yaxis=dict(range=[0, 1.02]))
    return fig


def plot_class_sensitivity(per_class: list[dict], balanced_accuracy: float | None = None,
                           title: str = "Sensitivity per class") -> go.Figure:
    """Bars of each class's sensitivity (rows of `skinml.metrics.multiclass.per_class`: class, n,
    sensitivity), their number of images written on them; the balanced accuracy (their mean) as
    a line. A class with no image has no bar."""
    rows = [r for r in per_class if r.get("sensitivity") is not None]
    fig = go.Figure(go.Bar(x=_names(r["class"] for r in rows), y=[r["sensitivity"] for r in rows],
                           text=[f"{r['sensitivity']:.0%} of {r['n']}" for r in rows], textposition="outside",
                           marker_color="#1f77b4",
                           hovertemplate="%{x}: sensitivity %{y:.3f}<extra></extra>"))
    if balanced_accuracy is not None:
        fig.add_hline(y=balanced_accuracy, line_dash="dash", line_color="red",
                      annotation_text=f"balanced accuracy {balanced_accuracy:.2f}", annotation_position="top left")
    fig.update_xaxes(type="category", title="true class")
    fig.update_layout(title=title, yaxis=dict(range=[0, 1.12], title="sensitivity (share found)"), height=400)
    return fig
