"""Plotly figures for the GAN pages: losses, PCA overlays, image rows (return figures only).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go


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


def plot_image_pairs(top: np.ndarray, bottom: np.ndarray, captions: list[str]) -> go.Figure:
    """Two rows of float (N, H, W, 3) images in [0, 1], one short caption over each column (at
    most CAPTION_CHARS characters fit over a column of eight on a 390 px phone). One picture, the
    pairs side by side with a white gap, not a grid of sixteen charts: a browser draws it at once.
    The rows carry no labels (on a phone they overlapped): the page's caption names them."""
    n, gap = len(top), 2
    h, w = (top.shape[1], top.shape[2]) if n else (1, 1)
    mosaic = np.full((2 * h + gap, max(n, 1) * (w + gap) - gap, 3), 255, dtype="uint8")
    for i in range(n):
        for row, ims in ((0, top), (1, bottom)):
            y, x = row * (h + gap), i * (w + gap)
            mosaic[y:y + h, x:x + w] = (np.clip(ims[i], 0, 1) * 255).astype("uint8")
    fig = go.Figure(go.Image(z=mosaic, hoverinfo="skip"))
    for i, caption in enumerate(captions[:n]):
        fig.add_annotation(x=i * (w + gap) + w / 2, y=0, yshift=4, text=caption, showarrow=False,
                           yanchor="bottom", font_size=CAPTION_FONT)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=280, margin=dict(t=24, b=4, l=4, r=4))
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
