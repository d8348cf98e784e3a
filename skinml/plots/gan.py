"""Plotly figures for the GAN pages: losses, PCA overlays, image rows (return figures only).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots


def plot_losses(rows: list[dict]) -> go.Figure:
    """D and G loss per epoch from `losses.csv` rows (dicts with epoch, d_loss, g_loss, ...)."""
    fig = go.Figure()
    epochs = [r["epoch"] for r in rows]
    for key, name in (("d_loss", "discriminator"), ("g_loss", "generator"), ("r1", "R1 penalty")):
        if rows and key in rows[0]:
            fig.add_trace(go.Scatter(x=epochs, y=[r.get(key) for r in rows], mode="lines+markers", name=name))
    fig.update_layout(xaxis_title="epoch", yaxis_title="loss", height=320, margin=dict(t=30, b=10))
    return fig


def plot_pca_overlay(pca: dict, title: str = "PCA: real vs generated") -> go.Figure:
    """Scatter of `quality.pca_overlay` output; axis titles carry the explained variance."""
    fig = go.Figure()
    for key, colour in (("real", "#1f77b4"), ("fake", "#d62728")):
        xy = np.asarray(pca[key])
        fig.add_trace(go.Scatter(x=xy[:, 0], y=xy[:, 1] if xy.shape[1] > 1 else np.zeros(len(xy)), mode="markers",
                                 name=f"{'real' if key == 'real' else 'generated'} ({len(xy)})",
                                 marker=dict(color=colour, opacity=0.6, size=6)))
    ev = pca["explained"] + [0.0]
    fig.update_layout(title=f"{title} · first plane explains {100 * sum(pca['explained'][:2]):.1f}% of the variance",
                      xaxis_title=f"PC1 ({100 * ev[0]:.1f}%)", yaxis_title=f"PC2 ({100 * ev[1]:.1f}%)",
                      height=420, margin=dict(t=50, b=10))
    return fig


CAPTION_FONT = 11  # px: a caption of CAPTION_CHARS characters is about 0.6 x 11 px wide per character
CAPTION_CHARS = 5


def plot_image_pairs(top: np.ndarray, bottom: np.ndarray, captions: list[str],
                     labels: tuple[str, str] = ("generated", "nearest training image")) -> go.Figure:
    """Two rows of float (N, H, W, 3) images in [0, 1], one short caption per column (at most
    CAPTION_CHARS characters fit over a column of eight on a 390 px phone)."""
    n = len(top)
    fig = make_subplots(rows=2, cols=max(n, 1), subplot_titles=list(captions) + [""] * n,
                        vertical_spacing=0.08, horizontal_spacing=0.01)
    fig.update_annotations(font_size=CAPTION_FONT)
    for i in range(n):
        for row, ims in ((1, top), (2, bottom)):
            fig.add_trace(go.Image(z=(np.clip(ims[i], 0, 1) * 255).astype("uint8")), row=row, col=i + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_yaxes(title_text=labels[0], visible=True, showticklabels=False, row=1, col=1)
    fig.update_yaxes(title_text=labels[1], visible=True, showticklabels=False, row=2, col=1)
    fig.update_layout(height=330, margin=dict(t=40, b=10, l=40, r=10))
    return fig


def distance_captions(distances) -> list[str]:
    """The caption over each pair of `plot_image_pairs`: its distance to 2 decimals ("0.12"), short
    enough not to run into its neighbours on a phone ("d=0.123" over eight columns overlapped)."""
    return [f"{d:.2f}"[:CAPTION_CHARS] if d < 100 else f"{d:.0f}" for d in distances]


def plot_walk_probabilities(p: np.ndarray, threshold: float | None = None) -> go.Figure:
    """A classifier's p(malignant) of each frame of a benign -> malignant walk (frame 1 = benign end)."""
    frames = np.arange(1, len(p) + 1)
    fig = go.Figure(go.Scatter(x=frames, y=np.asarray(p), mode="lines+markers", name="p(malignant)",
                               hovertemplate="frame %{x}: %{y:.0%}<extra></extra>"))
    if threshold is not None:
        fig.add_hline(y=threshold, line_dash="dash", line_color="red",
                      annotation_text=f"classifier's threshold {threshold:.0%}")
    fig.update_layout(xaxis_title="frame (benign label → malignant label)", yaxis_title="p(malignant)",
                      yaxis=dict(range=[0, 1], tickformat=".0%"), xaxis=dict(dtick=1), height=300,
                      margin=dict(t=20, b=10), showlegend=False)
    return fig
