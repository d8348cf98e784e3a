"""Every input costs bounded memory and gives a sentence, never a traceback: photos whatever their
size or mode, metadata tables in the usual encodings and separators, the array cache, model.json."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from skinml import settings
from skinml.data import load_dataset, scan_dataset
from skinml.data.synthetic import make_lesion
from skinml.errors import DataError, ImageError, ModelError

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- photos: memory bounded by bytes

def write_png(path: Path, width: int, height: int, colour_type: int, bit_depth: int = 8) -> Path:
    """A PNG of zeros of any size, written row by row (never the whole image in memory): a few
    hundred kB on disk for hundreds of MB decoded. colour_type 0 grey, 2 RGB, 6 RGBA."""
    channels = {0: 1, 2: 3, 6: 4}[colour_type]
    row = b"\x00" + bytes(width * channels * bit_depth // 8)  # filter byte, then the pixels
    compressor = zlib.compressobj(6)
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0))
                     + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))
    return path


MEASURE = """
import json, resource, sys
sys.path.insert(0, {repo!r})
from skinml.errors import ImageError
from skinml.images.upload import read_image
data = open({path!r}, "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    outcome = "read %dx%d" % read_image(data, "upload.png").size
except ImageError as exc:
    outcome = "refused: " + str(exc)
extra = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(json.dumps({{"extra_mb": extra, "outcome": outcome}}))
"""


def peak_upload_memory(path: Path) -> tuple[float, str]:
    """(MB of peak memory `read_image` adds for this file, its outcome), in a fresh process."""
    out = subprocess.run([sys.executable, "-c", MEASURE.format(repo=str(REPO), path=str(path))],
                         capture_output=True, text=True, timeout=240, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return result["extra_mb"], result["outcome"]


@pytest.mark.parametrize("name, width, height, colour_type, bit_depth, accepted", [
    ("rgba-85mp", 9200, 9200, 6, 8, False),     # the 348 kB file that cost +1.9 GB per upload
    ("rgba16-36mp", 6000, 6000, 6, 16, False),  # 16-bit RGBA: 144 MB decoded
    ("grey16-48mp", 8000, 6000, 0, 16, True),   # 16-bit grey: 96 MB decoded, then 8 bytes a pixel once
    ("rgba-25mp", 5000, 5000, 6, 8, True),      # right at the limit: decoded, reduced, composited
])
def test_an_upload_costs_bounded_memory_whatever_its_size(tmp_path, name, width, height, colour_type, bit_depth,
                                                          accepted):
    path = write_png(tmp_path / f"{name}.png", width, height, colour_type, bit_depth)
    assert path.stat().st_size < 1_000_000  # small files, large images
    extra_mb, outcome = peak_upload_memory(path)
    if accepted:
        assert outcome == f"read {1024}x{round(1024 * height / width)}", outcome
        assert extra_mb < 300, f"{name}: +{extra_mb:.0f} MB"
    else:
        assert outcome.startswith("refused: 'upload.png' is") and "memory once decoded" in outcome, outcome
        assert extra_mb < 30, f"{name}: +{extra_mb:.0f} MB for a refused file"


def write_plain(path: Path, width: int, height: int, **save) -> Path:
    """A one-colour RGB image of any size in the format of `path`'s suffix (small on disk)."""
    Image.new("RGB", (width, height), (200, 120, 90)).save(path, **save)
    return path


@pytest.mark.parametrize("name, width, height, save, accepted", [
    # a progressive JPEG keeps every DCT coefficient of the full image (2 bytes each) whatever the
    # scale it is decoded at: a 951 kB 9000x9000 4:4:4 file cost +469 MB, though read "reduced"
    ("progressive-444-81mp.jpg", 9000, 9000, dict(progressive=True, subsampling=0, quality=90), False),
    ("progressive-420-81mp.jpg", 9000, 9000, dict(progressive=True, quality=90), True),  # 243 MB of coefficients
    # Pillow decodes a WebP to RGBA and copies it about four times: 58 kB, 5700x5700, cost +498 MB
    ("rgb-32mp.webp", 5700, 5700, dict(quality=80), False),
    ("rgb-12mp.webp", 4000, 3000, dict(quality=80), True),  # a phone photo as WebP
])
def test_progressive_jpegs_and_webp_cost_bounded_memory_too(tmp_path, name, width, height, save, accepted):
    path = write_plain(tmp_path / name, width, height, **save)
    extra_mb, outcome = peak_upload_memory(path)
    if accepted:
        assert outcome.startswith("read 1024x"), outcome
        assert extra_mb < 300, f"{name}: +{extra_mb:.0f} MB"
    else:
        assert outcome.startswith("refused: 'upload.png' is a") and "decoding it would take" in outcome, outcome
        assert extra_mb < 30, f"{name}: +{extra_mb:.0f} MB for a refused file"


def test_dataset_images_count_the_decoders_memory_too(tmp_path):
    from skinml.data.readers import check_image
    from skinml.images.decode import load_image

    path = write_plain(tmp_path / "p.jpg", 9000, 9000, progressive=True, subsampling=0, quality=90)
    assert check_image(path)[0] == "image too large"
    with pytest.raises(ImageError, match="too large to decode"):
        load_image(path, 32)


@pytest.mark.parametrize("fmt", ["EPS", "JPEG2000", "PPM", "SGI", "DDS", "TGA", "QOI"])
def test_an_upload_reaches_only_the_photo_decoders(fmt):
    """Pillow opens some 40 formats: an uploaded EPS went to the EPS plugin (Ghostscript, where it is
    installed), a JPEG 2000, SGI or DDS file to decoders no photo needs. Only the formats the page
    names are decoded; the rest are "not an image" before any decoder sees them."""
    import io

    from skinml.images.upload import read_image

    if fmt == "EPS":
        data = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\nnewpath 0 0 moveto 64 64 lineto stroke\n"
    else:
        buf = io.BytesIO()
        Image.fromarray(make_lesion(True, 64, seed=2)).save(buf, fmt)
        data = buf.getvalue()
    with pytest.raises(ImageError, match="is not an image"):
        read_image(data, f"x.{fmt.lower()}")


def test_decoded_size_counts_channels_and_bytes_per_channel():
    from skinml.data.readers import decoded_bytes

    assert decoded_bytes(Image.new("RGBA", (100, 10))) == 4000
    assert decoded_bytes(Image.new("I;16", (100, 10))) == 2000
    assert decoded_bytes(Image.new("L", (100, 10))) == 1000


def test_a_large_jpeg_is_still_accepted_and_decoded_reduced(tmp_path):
    from skinml.images.upload import read_image

    photo = Image.fromarray(make_lesion(True, 256, seed=1)).resize((7000, 5000))  # 105 MB decoded at full size
    buf = tmp_path / "big.jpg"
    photo.save(buf, "JPEG", quality=80)
    assert read_image(buf.read_bytes()).size == (1024, 731)


def test_dataset_images_too_large_to_decode_are_a_problem_not_a_crash(tmp_path):
    for label in ("benign", "malignant"):
        (tmp_path / label).mkdir()
        Image.fromarray(make_lesion(label == "malignant", 64, seed=1)).save(tmp_path / label / f"{label}.jpg")
    write_png(tmp_path / "malignant" / "bomb.png", 9200, 9200, 6)
    table = load_dataset(tmp_path)
    assert {(p["reason"], Path(p["path"]).name) for p in table.attrs["problems"]} == {("image too large", "bomb.png")}
    with pytest.raises(ImageError, match="too large"):
        from skinml.images.decode import load_image

        load_image(tmp_path / "malignant" / "bomb.png", 32)


def test_reading_a_file_refuses_pipes_devices_folders_and_huge_files(tmp_path):
    import os

    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.jpg"
    with open(huge, "wb") as f:
        f.truncate(settings.MAX_IMAGE_FILE_BYTES + 1)  # sparse: no disk used
    for path, sentence in ((fifo, "not an ordinary file"), ("/dev/zero", "not an ordinary file"),
                           (tmp_path, "is a folder"), (huge, "more than the 50 MB accepted"),
                           (tmp_path / "nope.jpg", "There is no file")):
        with pytest.raises(ImageError, match=sentence):
            settings.read_file(path, settings.MAX_IMAGE_FILE_BYTES, ImageError)
    (tmp_path / "ok.jpg").write_bytes(b"12345")
    assert settings.read_file(tmp_path / "ok.jpg", 5) == b"12345"


# ---------------------------------------------------------------- metadata tables

def table_folder(root: Path, write) -> Path:
    """An isic-cli folder of four 48 px lesions whose metadata.csv `write(df, path)` saves."""
    root.mkdir(parents=True)
    rows = []
    for k, (label, diagnosis) in enumerate([("benign", "nævus bénin"), ("benign", "lentigo simplex"),
                                            ("malignant", "mélanome"), ("malignant", "melanoma")]):
        Image.fromarray(make_lesion(label == "malignant", 48, seed=k)).save(root / f"ISIC_{k:07d}.jpg")
        rows.append({"isic_id": f"ISIC_{k:07d}", "benign_malignant": label, "diagnosis": diagnosis,
                     "attribution": "Hospital Clínic, Barcelona"})
    write(pd.DataFrame(rows), root / "metadata.csv")
    return root


READABLE_TABLES = {
    "utf-8": lambda df, p: df.to_csv(p, index=False),
    "utf-8 with BOM": lambda df, p: df.to_csv(p, index=False, encoding="utf-8-sig"),
    "utf-16 with BOM": lambda df, p: df.to_csv(p, index=False, encoding="utf-16"),
    "latin-1": lambda df, p: df.to_csv(p, index=False, encoding="latin-1"),
    "cp1252, semicolons": lambda df, p: df.to_csv(p, index=False, sep=";", encoding="cp1252"),
    "tabs": lambda df, p: df.to_csv(p, index=False, sep="\t"),
    "quoted commas": lambda df, p: df.assign(attribution="Clinic, Vienna; ward 3").to_csv(p, index=False),
}


@pytest.mark.parametrize("variant", READABLE_TABLES)
def test_metadata_tables_in_the_usual_encodings_and_separators(tmp_path, variant):
    table = load_dataset(table_folder(tmp_path / "d", READABLE_TABLES[variant]))
    assert table["benign_malignant"].tolist() == ["benign", "benign", "malignant", "malignant"]
    assert table.loc[0, "diagnosis"] == "nævus bénin" and table.loc[2, "diagnosis"] == "mélanome"
    # French names are none of the diagnoses skinml knows: reported as such, and nothing else is
    assert {p["reason"] for p in table.attrs["problems"]} <= {"unknown diagnosis"}


UNUSABLE_TABLES = {
    "empty": (lambda df, p: p.write_bytes(b""), "is empty"),
    "only blank lines": (lambda df, p: p.write_text("\n\n  \n"), "is empty"),
    "no id column": (lambda df, p: df.rename(columns={"isic_id": "photo"}).to_csv(p, index=False),
                     "has no image id column"),
    "binary": (lambda df, p: p.write_bytes(bytes(range(256)) * 40), "is not a text table"),
    "utf-16 without BOM": (lambda df, p: p.write_bytes(df.to_csv(index=False).encode("utf-16-le")),
                           "is not a text table"),
}


@pytest.mark.parametrize("variant", UNUSABLE_TABLES)
def test_unusable_metadata_tables_are_a_sentence_naming_the_file(tmp_path, variant):
    write, sentence = UNUSABLE_TABLES[variant]
    root = table_folder(tmp_path / "d", write)
    with pytest.raises(DataError, match=sentence) as caught:
        load_dataset(root)
    assert str(root / "metadata.csv") in str(caught.value) and "Traceback" not in str(caught.value)


def test_a_table_without_a_label_column_is_a_problem_not_no_problems(tmp_path):
    root = table_folder(tmp_path / "d", lambda df, p: df.drop(columns="benign_malignant").to_csv(p, index=False))
    report = scan_dataset(root)
    assert report["labels"] == {"benign": 0, "malignant": 0}
    counts = report["problem_counts"]
    assert counts.pop("no label column") == 1 and set(counts) <= {"unknown diagnosis"}  # the French names
    assert "benign_malignant" in report["problems"][0]["detail"]


# ---------------------------------------------------------------- the array cache

@pytest.fixture
def cached(tmp_path):
    """(paths, cache folder, the array load_array returns): six 40 px lesions, cached at 24 px."""
    from skinml.images.pipeline import load_array

    paths = []
    for k in range(6):
        paths.append(tmp_path / f"{k}.png")
        Image.fromarray(make_lesion(k % 2 == 1, 40, seed=k)).save(paths[-1])
    cache = tmp_path / "cache"
    return paths, cache, np.array(load_array(paths, 24, cache_dir=cache))


def _entry(cache: Path) -> Path:
    (entry,) = cache.glob("*.npy")
    return entry


def _damage_zero_pixels(entry: Path) -> None:
    data = bytearray(entry.read_bytes())
    data[-600:] = bytes(600)  # the last image's pixels zeroed, the header intact
    entry.write_bytes(bytes(data))


DAMAGES = {
    "zeroed pixels": _damage_zero_pixels,
    "another shape": lambda entry: np.save(entry, np.zeros((6, 12, 12, 3), np.uint8)),
    "another dtype": lambda entry: np.save(entry, np.zeros((6, 24, 24, 3), np.float32)),
    "random bytes": lambda entry: entry.write_bytes(np.random.default_rng(0).bytes(4000)),
    "damaged index": lambda entry: entry.with_suffix(".json").write_text('{"crc32": '),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_cache_entry_is_reported_and_rebuilt(cached, damage):
    """Zeroed pixels were trusted (a run "finished" with test AUC 0.50): now every load checks."""
    from skinml.images.pipeline import load_array

    paths, cache, good = cached
    DAMAGES[damage](_entry(cache))
    with pytest.warns(UserWarning, match="was damaged"):
        again = load_array(paths, 24, cache_dir=cache)
    assert np.array_equal(again, good)
    assert np.array_equal(load_array(paths, 24, cache_dir=cache), good)  # rebuilt: trusted again, quietly


def test_an_empty_cache_file_is_treated_as_missing(cached, recwarn):
    """A 0-byte cache file (a full disk) was a traceback on every run until deleted by hand."""
    from skinml.images.pipeline import load_array

    paths, cache, good = cached
    _entry(cache).write_bytes(b"")
    assert np.array_equal(load_array(paths, 24, cache_dir=cache), good)
    assert not [w for w in recwarn if "damaged" in str(w.message)]


def test_a_cache_entry_carries_its_key_shape_dtype_and_checksum(cached):
    _, cache, good = cached
    index = json.loads(_entry(cache).with_suffix(".json").read_text())
    assert index["shape"] == [6, 24, 24, 3] and index["dtype"] == "uint8"
    assert index["key"] == _entry(cache).stem.split("-")[1]
    assert index["crc32"] == f"{zlib.crc32(good.tobytes()):08x}"


# ---------------------------------------------------------------- model.json

@pytest.mark.parametrize("content", [b'{"name": "skinml_resnet", "image_size"', b"\xff\xfe\x00garbage", b"[1, 2]"])
def test_a_damaged_model_json_is_a_sentence(tmp_path, content):
    from skinml.cnn.classifier import read_info

    (tmp_path / "model.json").write_bytes(content)
    with pytest.raises(ModelError, match="model.json is damaged: it is not a whole JSON record"):
        read_info(tmp_path)
