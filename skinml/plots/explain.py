"""Plotly figures for the explanation trust report and a diagnosis model's answer (they return
figures, never call st.*).
"""

from __future__ import annotations

import plotly.graph_objects as go

from skinml.plots import LEGEND_BELOW


def plot_perturbation_curves(report: dict, kind: str = "deletion") -> go.Figure:
    """The mean deletion (or insertion) curve of each method in an `explain-eval` report, with the
    random pixel order dashed: p(explained class) against the share of pixels removed (revealed)."""
    if kind not in ("deletion", "insertion"):
        raise ValueError(f"kind must be 'deletion' or 'insertion', not {kind!r}")
    curves, x = report["curves"], [100 * f for f in report["curves"]["fraction"]]
    fig = go.Figure()
    for key, method in report["methods"].items():
        area = method[f"{kind}_auc"]["mean"]
        fig.add_trace(go.Scatter(x=x, y=curves[key][kind], mode="lines", name=f"{method['label']} (area {area:.2f})"))
    area = report["random_order"][f"{kind}_auc"]["mean"]
    fig.add_trace(go.Scatter(x=x, y=curves["random"][kind], mode="lines", name=f"random order (area {area:.2f})",
                             line=dict(dash="dash", color="grey")))
    verb = "removed (blurred), most salient first" if kind == "deletion" else "revealed, most salient first"
    better = "a faithful map falls fast: lower area is better" if kind == "deletion" else \
        "a faithful map rises fast: higher area is better"
    # Short lines and the legend under the chart: at 390 px a one-line title and a legend beside the
    # chart left no room for the chart, its title or its axis.
    fig.update_layout(title=dict(text=f"{kind.capitalize()} curves, {report['n']} held-out images<br>"
                                      f"<sup>{better}</sup>"),
                      xaxis_title=f"% of pixels {verb.replace(', ', ',<br>')}",
                      yaxis_title="p(explained class)", yaxis_range=[0, 1], height=480,
                      legend=LEGEND_BELOW, margin=dict(l=50, r=10, t=70))
    return fig


def plot_diagnoses(ranked: list[dict]) -> go.Figure:
    """A horizontal bar per diagnosis, most probable on top, labelled in whole percents
    (`skinml.predict.format_probability`): `ranked` is `PredictionResult.ranked()`
    ([{"class", "name", "probability"}]). Probabilities, never a verdict."""
    import pandas as pd

    from skinml.plots import as_text
    from skinml.predict import format_probability

    rows = ranked[::-1]  # plotly draws the first bar at the bottom
    names = as_text(pd.Series([r["name"] for r in rows], dtype=str)).tolist()
    fig = go.Figure(go.Bar(x=[100 * r["probability"] for r in rows], y=names,
                           orientation="h", text=[format_probability(r["probability"]) for r in rows],
                           textposition="outside", marker_color="#4c78a8", hoverinfo="skip"))
    fig.update_layout(title="The model's probability of each diagnosis (not a diagnosis)",
                      xaxis_title="probability (%)", xaxis_range=[0, 105], height=60 + 40 * len(rows),
                      margin=dict(l=10, r=10, t=50, b=40))
    return fig


def plot_outline_share(out: dict) -> go.Figure:
    """Two bars with 95% intervals: the share of the heatmap inside the lesion's outline, and that of a
    centred blob of the same area (`skinml.explain.outline_share.heatmap_in_outline`)."""
    names = [f"{out['label']} heatmap", "centred blob, same area (no model)"]
    stats = [out["share_inside"], out["centred_blob"]]
    fig = go.Figure(go.Bar(
        x=names, y=[100 * s["mean"] for s in stats], marker_color=["#d62728", "grey"],
        error_y=dict(type="data", symmetric=False, array=[100 * (s["high"] - s["mean"]) for s in stats],
                     arrayminus=[100 * (s["mean"] - s["low"]) for s in stats]),
        text=[f"{s['mean']:.0%}" for s in stats], textposition="inside"))
    fig.update_layout(title=f"Share of the heatmap inside the lesion's outline ({out['n']} held-out images)",
                      yaxis_title="% of the heatmap's mass inside the outline", yaxis_range=[0, 100], height=360)
    return fig
