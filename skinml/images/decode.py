"""One image file (or its bytes) to uint8 pixels at a model's size: Pillow, reduced JPEG decode;
and the one budget of memory that every decode in this process shares (`decoding`).
"""

from __future__ import annotations

import io
import struct
import threading
from contextlib import contextmanager

import numpy as np
from PIL import Image

from skinml import settings
from skinml.data.readers import decoded_bytes, decoder_bytes
from skinml.errors import ImageError, shown

RESIZE_MODES = ("squash", "crop")
# What Pillow raises on a file that is not an image, or a malformed or truncated one. Only these
# become ImageError: any other exception is a bug in skinml and must not read "corrupt image".
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)


# ---------------------------------------------------------------- the decoding budget

class DecodeBudget:
    """Bytes this process may spend decoding images at once (settings.MAX_DECODING_AT_ONCE): each
    decode holds its worst case (`decoding_cost`) while it runs and waits while the others' sum
    leaves no room. Eight visitors uploading worst-case files at once then cost the server one
    budget, not eight worst cases; an ordinary photo costs a few MB and never waits."""

    def __init__(self):
        self.in_use = 0
        self.peak = 0  # the most ever held at once: what the tests and benchmarks read
        self._free = threading.Condition()

    @contextmanager
    def hold(self, nbytes: int, wait_s: float = 120.0):
        total = settings.MAX_DECODING_AT_ONCE
        nbytes = min(int(nbytes), total)  # one decode larger than the budget runs alone, never waits forever
        with self._free:
            if not self._free.wait_for(lambda: self.in_use + nbytes <= total, timeout=wait_s):
                raise ImageError("The server is busy decoding other visitors' photos: try again in a moment.")
            self.in_use += nbytes
            self.peak = max(self.peak, self.in_use)
        try:
            yield
        finally:
            with self._free:
                self.in_use -= nbytes
                self._free.notify_all()


BUDGET = DecodeBudget()


def decoding_cost(image: Image.Image, decoder: int = 0) -> int:
    """The most memory decoding `image` (opened, after any `draft`) can take: its decoder's own
    (`decoder`, from `decoder_bytes` before the draft), its pixels and one converted copy."""
    return decoder + 2 * decoded_bytes(image)


def decoding(image: Image.Image, decoder: int = 0):
    """`with decoding(image): ...` holds `image`'s worst case in the process's budget while it is decoded."""
    return BUDGET.hold(decoding_cost(image, decoder))


def check_resize(resize: str) -> None:
    if resize not in RESIZE_MODES:
        raise ImageError(f"Unknown resize mode '{resize}': use one of {', '.join(RESIZE_MODES)}.")


def centre_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The centred square (left, top, right, bottom) that `resize="crop"` keeps."""
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


# ---------------------------------------------------------------- NumPy / Pillow path

def read_photo(path) -> np.ndarray:
    """A photo file as uint8 (H, W, 3) RGB at its own size; ImageError when it is not a readable image."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except DECODE_ERRORS as exc:
        raise ImageError(f"Cannot read '{path}' as an image ({exc}).") from exc


def load_image(source, size: int = 256, resize: str = "squash") -> np.ndarray:
    """One image as uint8 (size, size, 3), RGB, values 0..255: skinml's one Pillow resize.

    `source` is a path, the file's bytes, a PIL image or uint8 pixels (H, W, 3).
    `resize="squash"` stretches to a square with bilinear filtering (as the thesis did);
    `"crop"` keeps the aspect ratio and cuts the centred square. Raises ImageError when the
    input is not a readable image, or a file would take more than MAX_DECODED_BYTES decoded.
    """
    check_resize(resize)
    in_memory = isinstance(source, (bytes, bytearray, Image.Image, np.ndarray))
    name = "the image" if in_memory else f"'{shown(source)}'"
    try:
        if isinstance(source, np.ndarray):
            img = Image.fromarray(np.asarray(source, dtype=np.uint8)).convert("RGB")
        elif isinstance(source, Image.Image):
            img = source.convert("RGB")
        else:
            img = Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)
            decoder = decoder_bytes(img)
            if decoder > settings.MAX_DECODER_BYTES:  # a large progressive JPEG or WebP
                raise ImageError(f"{name} is too large to decode ({img.width}x{img.height} px, "
                                 f"{'progressive ' if img.format == 'JPEG' else ''}{img.format}).")
            if img.format == "JPEG":
                # Same scale as the tf.data path: short side stays >= size.
                img.draft("RGB", (size, size))
            if decoded_bytes(img) > settings.MAX_DECODED_BYTES:
                raise ImageError(f"{name} is too large to decode ({img.width}x{img.height} px, mode {img.mode}).")
            with decoding(img, decoder):
                img = img.convert("RGB")
    except (*DECODE_ERRORS, Image.DecompressionBombError) as exc:
        raise ImageError(f"Cannot read {name} as an image ({shown(exc, 80)}).") from exc
    box = centre_box(*img.size) if resize == "crop" else None
    return np.asarray(img.resize((size, size), Image.Resampling.BILINEAR, box=box))
