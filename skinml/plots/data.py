"""Plotly figures of a dataset table: labels, metadata distributions, image sizes, splits.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from skinml.plots import LEGEND_BELOW, wrapped_text

LABEL_COLOURS = {"benign": "#4c78a8", "malignant": "#e45756", "indeterminate": "#b279a2",
                 "unknown": "#9d9d9d"}
TEMPLATE = "plotly_white"


def _blank(value: str) -> str:
    return value if value else "(unknown)"


def plot_labels(df: pd.DataFrame) -> go.Figure:
    """Bar chart of images per benign_malignant label."""
    counts = df["benign_malignant"].value_counts().rename_axis("label").reset_index(name="images")
    fig = px.bar(counts, x="label", y="images", color="label", text="images",
                 color_discrete_map=LABEL_COLOURS, title="Images per label", template=TEMPLATE)
    return fig.update_layout(showlegend=False)


def plot_counts(df: pd.DataFrame, column: str, title: str | None = None, top: int = 20) -> go.Figure:
    """Horizontal bars of the `top` most common values of a column, split by label; long values
    (a source's name) on several lines, the legend under the chart."""
    values = df[column].astype(str).map(_blank)
    keep = values.value_counts().index[:top]
    shown = dict(zip(keep, wrapped_text(pd.Series(keep))))  # each value shown, wrapped once
    table = (pd.DataFrame({column: values.map(shown), "label": df["benign_malignant"]})
             .value_counts().reset_index(name="images"))  # the rows of other values (NaN) drop out
    fig = px.bar(table, y=column, x="images", color="label", orientation="h",
                 color_discrete_map=LABEL_COLOURS, template=TEMPLATE,
                 title=title or f"Images per {column.replace('_', ' ')}",
                 category_orders={column: list(shown.values())})
    lines = max((v.count("<br>") + 1 for v in shown.values()), default=1)
    return fig.update_layout(yaxis_title=None, height=max(300, 16 * lines * len(keep) + 12 * len(keep) + 160),
                             legend=LEGEND_BELOW, margin=dict(l=10, r=10))


def plot_age(df: pd.DataFrame) -> go.Figure:
    """Histogram of age_approx (5-year bins) by label; unknown ages are counted in the title."""
    known = df[df["age_approx"].notna()]
    fig = px.histogram(known, x="age_approx", color="benign_malignant", nbins=20,
                       barmode="stack", color_discrete_map=LABEL_COLOURS, template=TEMPLATE,
                       title=f"Age ({len(df) - len(known)} images without an age)")
    return fig.update_layout(xaxis_title="age (years)", yaxis_title="images", legend=LEGEND_BELOW)


def plot_image_sizes(sizes: pd.DataFrame) -> go.Figure:
    """Width x height scatter coloured (and sized) by count: `sizes` from `image_sizes`."""
    fig = px.scatter(sizes, x="width", y="height", color="count", size="count",
                     size_max=40, hover_data=["count"], color_continuous_scale="Viridis",
                     title=f"Image sizes ({len(sizes)} distinct, {int(sizes['count'].sum())} images)",
                     template=TEMPLATE)
    return fig.update_layout(xaxis_title="width (px)", yaxis_title="height (px)")


def plot_splits(counts: dict[str, dict[str, int]]) -> go.Figure:
    """Stacked bars of images per split and label: `counts` from `data.split_counts`."""
    table = pd.DataFrame(counts).T.rename_axis("split").reset_index().melt(
        id_vars="split", var_name="label", value_name="images")
    return px.bar(table, x="split", y="images", color="label", text="images",
                  color_discrete_map=LABEL_COLOURS, template=TEMPLATE,
                  title="Grouped split: images per split and label")
