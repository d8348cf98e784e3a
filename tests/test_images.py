"""Every kind of upload, accepted or refused with a sentence: generated here, in memory."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from skinml.data.synthetic import make_lesion
from skinml.errors import ImageError
from skinml.images.upload import MAX_SIDE, read_image


def lesion(size=96) -> Image.Image:
    return Image.fromarray(make_lesion(True, size=size, seed=3))


def encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def sixteen_bit_gray() -> bytes:
    values = (np.asarray(lesion().convert("L"), dtype=np.uint16) * 257)
    return encode(Image.fromarray(values), "PNG")


def rgba_transparent() -> bytes:
    rgba = lesion().convert("RGBA")
    alpha = np.full(rgba.size[::-1], 255, np.uint8)
    alpha[:, :20] = 0  # a transparent strip must come out white
    rgba.putalpha(Image.fromarray(alpha))
    return encode(rgba, "PNG")


def animated_gif() -> bytes:
    frames = [lesion().convert("P"), Image.new("RGB", (96, 96), "blue").convert("P")]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:])


ACCEPTED = {
    "jpeg": lambda: encode(lesion(), "JPEG", quality=90),
    "png": lambda: encode(lesion(), "PNG"),
    "webp": lambda: encode(lesion(), "WEBP"),
    "tiff": lambda: encode(lesion(), "TIFF"),
    "bmp": lambda: encode(lesion(), "BMP"),
    "gif_first_frame": animated_gif,
    "grayscale": lambda: encode(lesion().convert("L"), "PNG"),
    "palette": lambda: encode(lesion().convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
    "rgba": rgba_transparent,
    "cmyk_jpeg": lambda: encode(lesion().convert("CMYK"), "JPEG"),
    "cmyk_tiff": lambda: encode(lesion().convert("CMYK"), "TIFF"),
    "sixteen_bit": sixteen_bit_gray,
    "one_bit": lambda: encode(lesion().convert("1"), "PNG"),
}


@pytest.mark.parametrize("kind", sorted(ACCEPTED))
def test_accepted_kinds_come_back_rgb(kind):
    image = read_image(ACCEPTED[kind](), name=f"photo.{kind}")
    assert image.mode == "RGB" and image.size == (96, 96)
    pixels = np.asarray(image)
    assert pixels.dtype == np.uint8 and pixels.std() > 5  # not blank


def test_rgba_is_composited_on_white():
    pixels = np.asarray(read_image(rgba_transparent()))
    assert (pixels[:, :20] == 255).all()


def test_gif_gives_first_frame():
    pixels = np.asarray(read_image(animated_gif()))
    assert not (pixels[..., 2] > 200).all()  # the second frame is all blue


def test_sixteen_bit_keeps_its_range():
    pixels = np.asarray(read_image(sixteen_bit_gray()))
    expected = np.asarray(lesion().convert("L"))
    assert np.abs(pixels[..., 0].astype(int) - expected).max() <= 1


def test_extension_that_lies_is_ignored():
    assert read_image(encode(lesion(), "PNG"), name="photo.jpg").size == (96, 96)


@pytest.mark.parametrize("orientation, size", [(1, (120, 80)), (6, (80, 120)), (8, (80, 120)), (3, (120, 80))])
def test_exif_orientation_is_applied(orientation, size):
    base = np.zeros((80, 120, 3), np.uint8)
    base[:10, :10] = 255  # a white mark in the top-left corner as stored
    exif = Image.Exif()
    exif[0x0112] = orientation
    image = read_image(encode(Image.fromarray(base), "JPEG", exif=exif, quality=95))
    assert image.size == size
    pixels = np.asarray(image).mean(axis=2)
    corners = {"tl": pixels[:10, :10], "tr": pixels[:10, -10:], "bl": pixels[-10:, :10], "br": pixels[-10:, -10:]}
    # 6 = rotate 90 cw to display: the mark goes top-right; 8: bottom-left; 3: bottom-right.
    expected = {1: "tl", 6: "tr", 8: "bl", 3: "br"}[orientation]
    assert max(corners, key=lambda k: corners[k].mean()) == expected


def test_huge_jpeg_is_decoded_reduced():
    big = Image.new("RGB", (7000, 5000), (200, 150, 120))
    image = read_image(encode(big, "JPEG", quality=70), name="camera.jpg")
    assert max(image.size) <= MAX_SIDE and image.size[0] / image.size[1] == pytest.approx(1.4, rel=0.01)


def zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("photo.jpg", encode(lesion(), "JPEG"))
    return buf.getvalue()


def truncated_jpeg() -> bytes:
    data = encode(lesion(256), "JPEG", quality=95)
    return data[: len(data) // 2]


def corrupt_png() -> bytes:
    data = bytearray(encode(lesion(), "PNG"))
    data[60:400] = bytes(340)  # zero out part of the compressed stream
    return bytes(data)


def bomb_png() -> bytes:
    # A 1-bit 12000x10000 PNG compresses to a few kB but would be 120 megapixels decoded.
    return encode(Image.new("1", (12000, 10000)), "PNG")


REFUSED = {
    "empty": (lambda: b"", "empty"),
    "text": (lambda: b"Patient notes: mole on left arm, 4 mm.\n" * 20, "text file"),
    "html": (lambda: b"<!DOCTYPE html><html><body><img src='x.jpg'></body></html>", "web page"),
    "svg": (lambda: b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><circle r="4"/></svg>', "SVG"),
    "zip": (zip_bytes, "zip archive"),
    "pdf": (lambda: b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF"),
    "random_bytes": (lambda: np.random.default_rng(0).bytes(5000), "not an image"),
    "truncated": (truncated_jpeg, "truncated"),
    "corrupt": (corrupt_png, "corrupt"),
    "bomb": (bomb_png, "megapixels"),
    "tiny": (lambda: encode(lesion().resize((31, 40)), "PNG"), "at least 32 px"),
    "stretched": (lambda: encode(lesion().resize((900, 100)), "PNG"), "stretched"),
}


@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_refused_kinds_raise_a_sentence(kind):
    make, words = REFUSED[kind]
    with pytest.raises(ImageError, match=words) as info:
        read_image(make(), name=f"upload.{kind}")
    message = str(info.value)
    assert message.endswith(".") and "Traceback" not in message

