"""Convolution and transposed convolution by hand (NumPy), for the teaching page.
"""

from __future__ import annotations

import numpy as np


def output_size(n: int, f: int, p: int, s: int) -> int:
    """Side of a convolution's output: (n + 2p - f) // s + 1 (input n, kernel f, padding p, stride s)."""
    return (n + 2 * p - f) // s + 1


def transposed_output_size(n: int, f: int, p: int, s: int) -> int:
    """Side of a transposed convolution's output: (n - 1) * s - 2p + f."""
    return (n - 1) * s - 2 * p + f


def convolve(image: np.ndarray, kernel: np.ndarray, stride: int = 1, padding: int = 0) -> np.ndarray:
    """What a conv layer computes for one channel and one filter: float (H', W').

    `image` float (H, W); `kernel` (f, f); zero `padding` px on each side; `stride` >= 1.
    H' = output_size(H, f, padding, stride). Like every deep-learning library this is a
    cross-correlation: the kernel slides over the image unflipped.
    """
    kernel = np.asarray(kernel, float)
    padded = np.pad(np.asarray(image, float), padding)
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel.shape)[::stride, ::stride]
    return np.einsum("ijkl,kl->ij", windows, kernel)


def transposed_convolve(image: np.ndarray, kernel: np.ndarray, stride: int = 1,
                        padding: int = 0) -> np.ndarray:
    """The "deconvolution" of a DCGAN generator for one channel: float (H', W').

    Each input pixel stamps `kernel` scaled by its value onto the output, `stride` px apart;
    overlaps add up; `padding` px are then cut from each side.
    H' = transposed_output_size(H, f, padding, stride).
    """
    x = np.asarray(image, float)
    kernel = np.asarray(kernel, float)
    f, (h, w) = kernel.shape[0], x.shape
    full = np.zeros(((h - 1) * stride + f, (w - 1) * stride + kernel.shape[1]))
    for a in range(f):
        for b in range(kernel.shape[1]):
            full[a:a + (h - 1) * stride + 1:stride, b:b + (w - 1) * stride + 1:stride] += x * kernel[a, b]
    return full[padding:full.shape[0] - padding, padding:full.shape[1] - padding]
