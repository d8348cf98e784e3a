"""Plotly figures of the bias test (skinml.explain.bias): does the model look at the lesion?"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

TITLES = {"photo": "photo", "lesion_removed": "lesion removed (filled from the skin)",
          "lesion_only": "lesion only (skin replaced)"}
COLOURS = {"photo": "#4c78a8", "lesion_removed": "#e45756", "lesion_only": "#54a24b"}


def plot_bias_aucs(report: dict, title: str | None = None) -> go.Figure:
    """Three bars: the AUC of p(malignant) on the photos, with the lesion removed and with only
    the lesion (`report["auc"]`, a bias test), each with its 95% interval, and chance (0.5) dashed.
    A model that looks at the lesion keeps its bar with the lesion only and drops towards 0.5
    without it."""
    names = [name for name in TITLES if name in report["auc"]]
    figures = [report["auc"][name] for name in names]
    fig = go.Figure(go.Bar(
        x=[TITLES[name] for name in names], y=[f["auc"] for f in figures],
        marker_color=[COLOURS[name] for name in names], text=[f"{f['auc']:.2f}" for f in figures],
        textposition="outside", hovertemplate="%{x}: AUC %{y:.3f}<extra></extra>",
        error_y=dict(type="data", symmetric=False, array=[f["high"] - f["auc"] for f in figures],
                     arrayminus=[f["auc"] - f["low"] for f in figures])))
    fig.add_hline(y=0.5, line_dash="dash", line_color="grey", annotation_text="chance (0.5)",
                  annotation_position="bottom right")
    fig.update_layout(title=title or f"AUC on {report['n']} held-out images ({report['n_malignant']} malignant), "
                                     "95% intervals by lesion",
                      yaxis_title="AUC of p(malignant)", yaxis_range=[0, 1.08], height=380,
                      margin=dict(t=60, b=40, l=50, r=10), showlegend=False)
    return fig


def plot_bias_examples(examples: list[dict[str, np.ndarray]], captions: list[str] | None = None) -> go.Figure:
    """One row per example photo: the photo, the lesion removed, the lesion only (each uint8
    (H, W, 3); `skinml.explain.bias.variants`), with an optional caption per row."""
    names = list(TITLES)
    rows = max(1, len(examples))
    fig = make_subplots(rows=rows, cols=3, column_titles=[TITLES[n] for n in names],
                        row_titles=captions or None, vertical_spacing=0.02, horizontal_spacing=0.01)
    for r, example in enumerate(examples, start=1):
        for c, name in enumerate(names, start=1):
            fig.add_trace(go.Image(z=np.asarray(example[name], "uint8"), hoverinfo="skip"), row=r, col=c)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=60 + 190 * rows, margin=dict(t=40, b=10, l=10, r=30))
    return fig
