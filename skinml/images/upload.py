"""One set of rules for every uploaded image (dashboard and CLI): read, check, orient, convert.

`read_image(data)` takes the bytes of an upload and returns an RGB Pillow image, or raises
`ImageError` with a sentence that says what is wrong. Everything happens in memory: the
upload's name is only used in messages, never as a path. `read_image_file(path)` reads a
file named on the command line with the same rules, never waiting on a pipe or a device.

Memory stays bounded whatever the file: at most MAX_IMAGE_FILE_BYTES are read, and an image
that would take more than MAX_DECODED_BYTES once decoded (width x height x channels x bytes
per channel, known from its header) is refused before it is decoded, and so is one whose decoder
would need more than MAX_DECODER_BYTES (a large progressive JPEG or WebP). A large JPEG is decoded
reduced, and a large image of any kind is reduced before it is converted to 8-bit RGB. Decodes
in flight share one budget (`skinml.images.decode.BUDGET`, MAX_DECODING_AT_ONCE): a decode
waits while the others' worst cases leave no room for its own.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps

from skinml import settings
from skinml.data.readers import decoded_bytes, decoder_bytes
from skinml.errors import ImageError, shown
from skinml.images.decode import DECODE_ERRORS, decoding

MAX_PIXELS = 100_000_000  # width x height above which a file is refused (decompression bomb)
MIN_SIDE = 32             # px on the short side
MAX_ASPECT = 8.0          # long side / short side
MAX_SIDE = 1024           # longest side of the returned image: plenty for a 256 px model and a page
# The only decoders an upload reaches (Pillow's names; the JPEG one also opens a camera's MPO). Any
# other format Pillow knows is refused as "not an image" before a decoder sees it: EPS would be
# handed to Ghostscript, and rarer decoders (JPEG 2000, SGI, DDS, ...) are more surface, not photos.
UPLOAD_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "DIB", "GIF")

# First bytes of files people upload by mistake, and what to call them.
_NOT_IMAGES = [
    (b"PK\x03\x04", "a zip archive (or an Office document)"),
    (b"PK\x05\x06", "an empty zip archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"BZh", "a bzip2 archive"),
    (b"%PDF", "a PDF document"),
    (b"\x00\x00\x00\x18ftypmp4", "an MP4 video"),
]


def describe_bytes(data: bytes) -> str:
    """A guess at what a non-image file is, for the refusal message ("a text file", ...)."""
    for magic, what in _NOT_IMAGES:
        if data.startswith(magic):
            return what
    head = data[:1024].lstrip().lower()
    if b"<svg" in head or (head.startswith(b"<?xml") and b"svg" in data[:4096].lower()):
        return "an SVG drawing (a vector file, not a photo)"
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return "a web page (HTML)"
    try:
        data[:4096].decode("utf-8")
        return "a text file"
    except UnicodeDecodeError:
        return "a file of some other kind (no image format we can read)"


def read_image_file(path: str) -> bytes:
    """The bytes of an image file named on the command line: an ordinary file of at most
    MAX_IMAGE_FILE_BYTES, else ImageError (a FIFO, /dev/zero or a 3 GB file is refused at once)."""
    return settings.read_file(path, settings.MAX_IMAGE_FILE_BYTES, ImageError)


def read_image(data: bytes, name: str = "", max_side: int = MAX_SIDE) -> Image.Image:
    """Decode an uploaded image file into an RGB Pillow image (mode "RGB", 8 bits).

    Accepts JPEG, PNG, WebP, TIFF, BMP and GIF (first frame), in any mode: grayscale,
    palette, RGBA (composited on white), CMYK, 16-bit. The EXIF orientation is applied. The
    content decides the format, never the file name. Images larger than `max_side` on their
    long side come back reduced (JPEGs are decoded reduced, so a 7000x5000 photo never
    needs full-size memory).

    Raises ImageError for an empty file, a file that is not an image, a truncated or corrupt
    image, more than MAX_PIXELS pixels, more than MAX_DECODED_BYTES once decoded, more than
    MAX_IMAGE_FILE_BYTES, a short side under MIN_SIDE px or a long side more than MAX_ASPECT
    times the short one.
    """
    label = f"'{shown(name, 80)}'" if name else "The file"
    if not data:
        raise ImageError(f"{label} is empty (0 bytes): please choose a photo.")
    if len(data) > settings.MAX_IMAGE_FILE_BYTES:
        raise ImageError(f"{label} is {len(data) / 1e6:,.1f} MB: more than the "
                         f"{settings.MAX_IMAGE_FILE_BYTES / 1e6:,.0f} MB accepted. Please upload a smaller photo.")
    try:
        with warnings.catch_warnings():  # Pillow only warns between 89 and 179 megapixels
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=UPLOAD_FORMATS)  # reads the header only
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_large(label) from None
    except DECODE_ERRORS:
        raise ImageError(f"{label} is not an image: it looks like {describe_bytes(data)}. "
                         "Please upload a photo (JPEG, PNG, WebP, TIFF, BMP or GIF).") from None
    check_size(image.size, label)
    check_decoder_memory(image, label)  # before `draft`: a progressive JPEG's cost is its full size
    decoder = decoder_bytes(image)
    if image.format in ("JPEG", "MPO"):  # decode at 1/2, 1/4 or 1/8 scale straight from the DCT
        scale = max(image.size) / max_side
        if scale > 1:
            image.draft("RGB", (int(image.width / scale), int(image.height / scale)))
    check_decoded_size(image, label)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with decoding(image, decoder):  # the server's one budget: uploads in flight share it
                image = _decode(image, max_side)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # a later frame or page
        raise _too_large(label) from None
    except DECODE_ERRORS as exc:
        what = "truncated (the file is incomplete)" if "truncat" in str(exc).lower() \
            else "corrupt or in a variant we cannot decode"
        raise ImageError(f"{label} is a {image.format or 'image'} file but it is {what}. "
                         "Please upload the original photo again.") from None
    return image


def _too_large(label: str) -> ImageError:
    return ImageError(f"{label} is far too large (over {MAX_PIXELS // 1_000_000} megapixels); "
                      "it looks like a decompression bomb and was not opened.")


def check_decoded_size(image: Image.Image, label: str = "The image") -> None:
    """Raise ImageError when `image` would take more than MAX_DECODED_BYTES once decoded."""
    needed = decoded_bytes(image)
    if needed > settings.MAX_DECODED_BYTES:
        raise ImageError(f"{label} is {image.width}x{image.height} px in mode {image.mode}: it would take "
                         f"{needed / 1e6:,.0f} MB of memory once decoded, more than the "
                         f"{settings.MAX_DECODED_BYTES / 1e6:,.0f} MB accepted. Please upload a smaller photo "
                         "(or a JPEG).")


def check_decoder_memory(image: Image.Image, label: str = "The image") -> None:
    """Raise ImageError when decoding `image` would take more than MAX_DECODER_BYTES (`decoder_bytes`:
    a progressive JPEG holds all its coefficients, a WebP several RGBA copies), whatever the scale."""
    needed = decoder_bytes(image)
    if needed > settings.MAX_DECODER_BYTES:
        kind = "a WebP image" if image.format == "WEBP" else "a progressive JPEG"
        raise ImageError(f"{label} is {kind} of {image.width}x{image.height} px: decoding it would take "
                         f"{needed / 1e6:,.0f} MB of memory, more than the {settings.MAX_DECODER_BYTES / 1e6:,.0f} MB "
                         "accepted. Please upload a smaller photo (or a baseline JPEG).")


def check_size(size: tuple[int, int], label: str = "The image") -> None:
    """Raise ImageError unless (width, height) is within the upload rules."""
    width, height = size
    if width * height > MAX_PIXELS:
        raise ImageError(f"{label} is {width}x{height} px ({width * height / 1e6:.0f} megapixels): "
                         f"more than the {MAX_PIXELS // 1_000_000} megapixels accepted. "
                         "Please upload a smaller photo.")
    short, long = sorted((width, height))
    if short < MIN_SIDE:
        raise ImageError(f"{label} is only {width}x{height} px: the short side must be at least "
                         f"{MIN_SIDE} px to show a lesion.")
    if long > MAX_ASPECT * short:
        raise ImageError(f"{label} is {width}x{height} px, stretched more than {MAX_ASPECT:g}:1; "
                         "please upload a photo of the lesion, not a strip or a banner.")


def _decode(image: Image.Image, max_side: int) -> Image.Image:
    """Load the first frame, reduce it to `max_side` (before the conversions, which may take
    several bytes a pixel), apply EXIF orientation, convert to RGB."""
    image.seek(0)  # first frame of a GIF, WebP animation or multi-page TIFF
    image.load()
    if max(image.size) > max_side:  # in place (keeps EXIF); bicubic, after a fast integer reduce
        gap = None if image.mode.startswith("I;16") else 2.0  # Pillow's reduce() has no 16-bit modes
        image.thumbnail((max_side, max_side), reducing_gap=gap)
    image = ImageOps.exif_transpose(image)
    return to_rgb(image)


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode as 8-bit RGB: transparency on white, 16-bit and float rescaled."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image, dtype="float64")
        top = 65535.0 if image.mode != "F" and values.max() > 255 else 255.0
        if image.mode == "F":  # float data: stretch what is there
            values = values - values.min()
            top = values.max() or 1.0
        image = Image.fromarray(np.clip(values / top * 255 + 0.5, 0, 255).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or \
            (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB") if image.mode != "RGB" else image

