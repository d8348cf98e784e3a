"""Plotly figures for evaluation and training curves (they return figures, never call st.*).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from skinml.data.readers import LABELS
from skinml.metrics import binary as ev
from skinml.plots import LEGEND_BELOW, as_text

TRAIN_COLOUR, VAL_COLOUR = "#1f77b4", "#d62728"


def plot_confusion(cm, normalised: bool = False, title: str = "") -> go.Figure:
    """Heatmap of a 2x2 confusion matrix (rows truth, columns prediction), counts or row shares."""
    cm = np.asarray(cm, dtype=float)
    z = ev.normalise_confusion(cm) if normalised else cm
    text = [[f"{v:.0%}" if normalised else f"{int(v)}" for v in row] for row in z]
    fig = go.Figure(go.Heatmap(z=z, x=list(LABELS), y=list(LABELS), text=text, texttemplate="%{text}",
                               colorscale="Blues", showscale=False,
                               hovertemplate="truth %{y}, predicted %{x}: %{text}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", title="truth")
    fig.update_xaxes(title="predicted", side="bottom")
    fig.update_layout(title=title or ("Confusion matrix (share of each true class)" if normalised
                                      else "Confusion matrix (counts)"), height=360)
    return fig


def plot_roc(y, p, threshold: float | None = None, title: str = "ROC curve") -> go.Figure:
    """ROC curve with its AUC, the chance diagonal, the sensitivity-0.8 band of the partial AUC,
    and the operating point of `threshold` (sensitivity, 1 - specificity) when given."""
    r = ev.roc(y, p)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance",
                             line=dict(dash="dot", color="grey")))
    # Named in the legend, not written inside the chart: there the operating point's marker and the
    # curve itself (both often near sensitivity 0.8) covered the words.
    fig.add_hrect(y0=0.8, y1=1.0, fillcolor="orange", opacity=0.15, line_width=0, showlegend=True,
                  name="partial AUC region (sensitivity ≥ 0.8)")
    fig.add_trace(go.Scatter(x=r["fpr"], y=r["tpr"], mode="lines", name=f"AUC {r['auc']:.3f}",
                             customdata=r["thresholds"],
                             hovertemplate="1-spec %{x:.3f}, sens %{y:.3f}, "
                                           "threshold %{customdata:.3f}<extra></extra>"))
    if threshold is not None:
        m = ev.threshold_metrics(y, p, threshold)
        fig.add_trace(go.Scatter(x=[1 - m["specificity"]], y=[m["sensitivity"]], mode="markers",
                                 marker=dict(size=13, color="red", symbol="x"),
                                 name=f"threshold {threshold:.2f}"))
    fig.update_layout(title=title, xaxis_title="1 - specificity (false positive rate)",
                      yaxis_title="sensitivity (true positive rate)", height=480, legend=LEGEND_BELOW,
                      xaxis=dict(range=[0, 1]), yaxis=dict(range=[0, 1.02]), margin=dict(r=10))
    return fig


def plot_pr(y, p, threshold: float | None = None, title: str = "Precision-recall") -> go.Figure:
    """Precision against recall (sensitivity), average precision in the legend."""
    r = ev.pr_curve(y, p)
    fig = go.Figure(go.Scatter(x=r["recall"], y=r["precision"], mode="lines",
                               name=f"AP {r['average_precision']:.3f}"))
    base = float(np.mean(y)) if len(y) else 0.0
    fig.add_hline(y=base, line_dash="dot", line_color="grey", annotation_text="share malignant")
    if threshold is not None:
        m = ev.threshold_metrics(y, p, threshold)
        fig.add_trace(go.Scatter(x=[m["sensitivity"]], y=[m["precision"]], mode="markers",
                                 marker=dict(size=13, color="red", symbol="x"), name=f"threshold {threshold:.2f}"))
    fig.update_layout(title=title, xaxis_title="recall (sensitivity)", yaxis_title="precision", height=420,
                      xaxis=dict(range=[0, 1]), yaxis=dict(range=[0, 1.02]))
    return fig


def plot_reliability(y, p, n_bins: int = 10, title: str = "") -> go.Figure:
    """Reliability diagram: fraction malignant per bin of p against the diagonal, with ECE."""
    bins = ev.calibration(y, p, n_bins)
    used = bins[bins["count"] > 0]
    ece = ev.expected_calibration_error(y, p, n_bins)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=(bins["bin_low"] + bins["bin_high"]) / 2, y=bins["count"], name="images",
                         opacity=0.25, marker_color="grey", width=1 / n_bins), secondary_y=True)
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line=dict(dash="dot")))
    fig.add_trace(go.Scatter(x=used["mean_p"], y=used["fraction_malignant"], mode="lines+markers",
                             name="model", customdata=used["count"],
                             hovertemplate="mean p %{x:.2f}: %{y:.2f} malignant (%{customdata} images)<extra></extra>"))
    fig.update_layout(title=title or f"Reliability (ECE {ece:.3f})", height=400,
                      xaxis_title="predicted p(malignant)", xaxis=dict(range=[0, 1]))
    fig.update_yaxes(title_text="fraction malignant", range=[0, 1], secondary_y=False)
    # Image counts are whole numbers from 0: about five ticks a whole number apart (never "100.5").
    most = int(bins["count"].max()) if len(bins) else 1
    fig.update_yaxes(title_text="images", secondary_y=True, showgrid=False, range=[0, max(1, most) * 1.1],
                     tickmode="linear", tick0=0, dtick=max(1, math.ceil(most / 5)), tickformat="d")
    return fig


def plot_threshold_sweep(y, p, threshold: float | None = None) -> go.Figure:
    """Sensitivity, specificity and balanced accuracy as the threshold moves from 0 to 1."""
    grid = np.linspace(0, 1, 101)
    rows = [ev.threshold_metrics(y, p, t) for t in grid]
    fig = go.Figure()
    for key in ("sensitivity", "specificity", "balanced_accuracy"):
        fig.add_trace(go.Scatter(x=grid, y=[r[key] for r in rows], mode="lines", name=key.replace("_", " ")))
    if threshold is not None:
        fig.add_vline(x=threshold, line_dash="dash", line_color="red")
    fig.update_layout(title="Figures against the threshold", xaxis_title="threshold", height=380,
                      yaxis=dict(range=[0, 1.02]))
    return fig


def plot_history(history: pd.DataFrame, metrics=("loss", "accuracy", "auc"),
                 best_epoch: int | None = None) -> go.Figure:
    """Training curves: one panel per metric, train against validation, per epoch."""
    metrics = [m for m in metrics if m in history.columns or f"val_{m}" in history.columns]
    fig = make_subplots(rows=1, cols=max(1, len(metrics)), subplot_titles=metrics or ["no epochs yet"])
    for i, m in enumerate(metrics, start=1):
        for key, name, colour in ((m, "train", TRAIN_COLOUR), (f"val_{m}", "validation", VAL_COLOUR)):
            if key in history.columns:
                fig.add_trace(go.Scatter(x=history["epoch"], y=history[key], mode="lines+markers", name=name,
                                         line=dict(color=colour), legendgroup=name, showlegend=i == 1),
                              row=1, col=i)
        if best_epoch:
            fig.add_vline(x=best_epoch, line_dash="dot", line_color="green", row=1, col=i)
        fig.update_xaxes(title_text="epoch", dtick=1 if len(history) <= 20 else None, tickformat="d", row=1, col=i)
        values = history[[k for k in (m, f"val_{m}") if k in history.columns]].to_numpy(float)
        if len(history) and np.nanmax(values) - np.nanmin(values) < 0.02:  # one epoch: no ticks like 0.5488
            middle = float(np.nanmean(values))
            fig.update_yaxes(range=[middle - 0.05, middle + 0.05], tickformat=".2f", row=1, col=i)
    fig.update_layout(height=340, margin=dict(t=40))
    return fig


def plot_subgroups(table: pd.DataFrame, metric: str = "auc") -> go.Figure:
    """Horizontal bars of one figure per subgroup value, n in the hover."""
    table = table.dropna(subset=[metric])
    labels = as_text(table["group"] + ": " + table["value"].astype(str))
    fig = go.Figure(go.Bar(x=table[metric], y=labels, orientation="h", customdata=table["n"],
                           hovertemplate="%{y}: %{x:.3f} (n=%{customdata})<extra></extra>"))
    fig.update_layout(title=f"{metric.replace('_', ' ')} by subgroup", height=max(300, 26 * len(table)),
                      xaxis=dict(range=[0, 1]), yaxis=dict(autorange="reversed"))
    return fig
