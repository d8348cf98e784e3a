"""Plotly figures of the ABCD rule against the CNN (they return figures, never call st.*)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from skinml.explain.abcd_rule import FEATURES

COLOURS = {"abcd": "#2ca02c", "cnn": "#1f77b4"}
NAMES = {"abcd": "ABCD measures (logistic regression)", "cnn": "CNN"}


def plot_abcd_vs_cnn_roc(comparison: dict) -> go.Figure:
    """The two ROC curves of `skinml.explain.abcd_rule.compare_with_cnn` on one chart, AUCs with intervals."""
    fig = go.Figure()
    for name in ("abcd", "cnn"):
        part = comparison[name]
        low, high = part["interval"]
        fig.add_trace(go.Scatter(x=part["roc"]["fpr"], y=part["roc"]["tpr"], mode="lines",
                                 line={"color": COLOURS[name]},
                                 name=f"{NAMES[name]}: AUC {part['auc']:.2f} ({low:.2f} to {high:.2f})"))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "grey"},
                             name="chance", hoverinfo="skip"))
    fig.update_layout(title=f"ROC on the same {comparison['n']} held-out images", xaxis_title="1 - specificity",
                      yaxis_title="sensitivity", legend={"orientation": "h", "y": -0.25}, height=460)
    return fig


def plot_abcd_distributions(features: pd.DataFrame, y) -> go.Figure:
    """One box plot per ABCD measure, benign against malignant."""
    y = np.asarray(y).astype(int)
    names = list(FEATURES)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=[FEATURES[n] for n in names])
    for col, name in enumerate(names, start=1):
        for label, colour, value in (("benign", "#1f77b4", 0), ("malignant", "#d62728", 1)):
            fig.add_trace(go.Box(y=features.loc[y == value, name], name=label, marker_color=colour,
                                 showlegend=col == 1, legendgroup=label), row=1, col=col)
    fig.update_layout(height=360, title="Each ABCD measure, benign against malignant",
                      legend={"orientation": "h", "y": -0.15})
    fig.update_annotations(font_size=11)
    return fig
