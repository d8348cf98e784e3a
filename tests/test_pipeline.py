"""The input pipeline: shapes, dtypes, ranges, both resize modes, reduced decode, augmentation
determinism, the on-disk cache (reuse, invalidation, never half-written), NumPy = tf.data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from skinml.errors import ImageError, SkinmlError
from skinml.images import pipeline
from skinml.images.decode import load_image
from skinml.images.pipeline import build_augmenter, load_array, make_dataset


def write_image(path: Path, width: int, height: int, seed: int = 0, quality: int = 92) -> Path:
    """A smooth colourful test picture (gradients plus a disc), JPEG or PNG by suffix."""
    yy, xx = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(seed)
    r = 255 * xx / max(width - 1, 1)
    g = 255 * yy / max(height - 1, 1)
    b = np.where(np.hypot(xx - width / 2, yy - height / 2) < min(width, height) / 3, 200, 40)
    img = np.stack([r, g, b], -1) + rng.normal(0, 3, (height, width, 3))
    options = {"quality": quality} if path.suffix == ".jpg" else {}
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, **options)
    return path


@pytest.fixture()
def mixed(tmp_path) -> list[Path]:
    """JPEGs and PNGs of several sizes and aspect ratios, one greyscale, one RGBA."""
    paths = [write_image(tmp_path / f"a{i}.jpg", w, h, seed=i)
             for i, (w, h) in enumerate([(64, 48), (40, 40), (90, 60), (600, 450)])]
    paths.append(write_image(tmp_path / "b.png", 50, 70, seed=9))
    Image.open(paths[0]).convert("L").save(tmp_path / "grey.jpg")
    Image.open(paths[4]).convert("RGBA").save(tmp_path / "rgba.png")
    return paths + [tmp_path / "grey.jpg", tmp_path / "rgba.png"]


@pytest.fixture()
def cache_dir(tmp_path) -> Path:
    return tmp_path / "cache"


# ---------------------------------------------------------------- load_image

@pytest.mark.parametrize("resize", ["squash", "crop"])
def test_load_image_shape_dtype(mixed, resize):
    for path in mixed:
        img = load_image(path, 32, resize)
        assert img.shape == (32, 32, 3) and img.dtype == np.uint8


def test_load_image_accepts_bytes_and_pil(mixed):
    by_path = load_image(mixed[0], 24)
    assert np.array_equal(load_image(mixed[0].read_bytes(), 24), by_path)
    assert load_image(Image.open(mixed[4]), 24).shape == (24, 24, 3)


def test_crop_keeps_aspect_ratio(tmp_path):
    # Left half red, right half blue, wide: the centre crop shows both halves equally and
    # no stretching; a squash too, but a crop of a wide image loses its far left and right.
    img = np.zeros((40, 120, 3), np.uint8)
    img[:, :20] = (0, 255, 0)  # a green band only at the far left
    img[:, 20:60] = (255, 0, 0)
    img[:, 60:] = (0, 0, 255)
    Image.fromarray(img).save(tmp_path / "wide.png")
    crop = load_image(tmp_path / "wide.png", 20, "crop")
    squash = load_image(tmp_path / "wide.png", 20, "squash")
    assert crop[..., 1].max() < 10  # green band cut away
    assert squash[:, 0, 1].min() > 200  # green band squashed in
    assert abs(int(crop[:, :10, 0].mean()) - 255) < 10 and abs(int(crop[:, 10:, 2].mean()) - 255) < 10


def test_large_jpeg_is_decoded_reduced(tmp_path, monkeypatch):
    path = write_image(tmp_path / "big.jpg", 2400, 1600)
    seen = {}
    original = Image.Image.resize

    def spy(self, size, *args, **kw):
        seen["decoded"] = self.size
        return original(self, size, *args, **kw)

    monkeypatch.setattr(Image.Image, "resize", spy)
    img = load_image(path, 100)
    assert img.shape == (100, 100, 3)
    assert seen["decoded"] == (300, 200)  # 1/8 scale: short side 200 >= 100
    load_image(path, 256)
    assert seen["decoded"] == (600, 400)  # 1/4 scale keeps the short side >= 256


def test_bad_images_raise_image_error(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "junk.jpg").write_bytes(b"not an image at all")
    good = write_image(tmp_path / "good.jpg", 64, 64)
    (tmp_path / "cut.jpg").write_bytes(good.read_bytes()[:200])
    for name in ("empty.jpg", "junk.jpg", "cut.jpg", "missing.jpg"):
        with pytest.raises(ImageError, match="Cannot read"):
            load_image(tmp_path / name, 32)
    with pytest.raises(ImageError, match="resize mode"):
        load_image(good, 32, "stretch")


# ---------------------------------------------------------------- make_dataset

@pytest.mark.parametrize("resize", ["squash", "crop"])
def test_dataset_shapes_dtypes_ranges_labels(mixed, resize):
    labels = np.arange(len(mixed)) % 2
    ds = make_dataset(mixed, labels, image_size=32, batch_size=3, resize=resize)
    batches = list(ds)
    assert [len(x) for x, _ in batches] == [3, 3, 1]
    x = np.concatenate([b[0].numpy() for b in batches])
    y = np.concatenate([b[1].numpy() for b in batches])
    assert x.shape == (len(mixed), 32, 32, 3) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.5
    assert y.dtype == np.float32 and np.array_equal(y, labels)  # aligned, in order


def test_dataset_without_labels_and_drop_remainder(mixed):
    ds = make_dataset(mixed, image_size=16, batch_size=3, drop_remainder=True, cache=False)
    shapes = [tuple(x.shape) for x in ds]
    assert shapes == [(3, 16, 16, 3), (3, 16, 16, 3)]


def test_numpy_path_matches_tf_path(mixed, cache_dir):
    for resize in ("squash", "crop"):
        tf_images = np.concatenate([x.numpy() for x in make_dataset(mixed, image_size=32, resize=resize)])
        np_images = load_array(mixed, 32, resize, cache_dir=cache_dir) / 255.0
        diff = np.abs(tf_images - np_images)
        assert diff.mean() < 0.02, (resize, diff.mean())
        assert np.median(diff) < 0.02


def test_large_jpeg_tf_path_reduced(tmp_path):
    path = write_image(tmp_path / "big.jpg", 2400, 1600)
    x = next(iter(make_dataset([path], image_size=64))).numpy()
    assert x.shape == (1, 64, 64, 3)
    assert np.abs(x[0] - load_image(path, 64) / 255.0).mean() < 0.02


def test_shuffle_keeps_pairs_and_is_seeded(tmp_path):
    # Image i is a flat grey of level 10*i, label i: after shuffling each pair still matches.
    paths = []
    for i in range(12):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(np.full((8, 8, 3), 10 * i, np.uint8)).save(paths[-1])
    for cache in (True, False, "disk"):
        ds = make_dataset(paths, np.arange(12), image_size=8, batch_size=5, shuffle=True, seed=3,
                          cache=cache, cache_dir=tmp_path / "c")
        xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
        x, y = np.concatenate(xs), np.concatenate(ys)
        assert sorted(y) == list(range(12)) and list(y) != list(range(12))
        assert np.allclose(x[:, 0, 0, 0] * 255, 10 * y, atol=0.5)
        again = np.concatenate([y.numpy() for _, y in make_dataset(
            paths, np.arange(12), image_size=8, batch_size=5, shuffle=True, seed=3, cache=cache,
            cache_dir=tmp_path / "c")])
        assert np.array_equal(again, y)


def test_dataset_errors(mixed, tmp_path):
    with pytest.raises(ImageError, match="labels"):
        make_dataset(mixed, [0, 1])
    with pytest.raises(ImageError, match="do not exist"):
        make_dataset([tmp_path / "nope.jpg"])
    with pytest.raises(ImageError, match="empty"):
        make_dataset([])


# ---------------------------------------------------------------- augmentation

def test_augmenter_is_seeded_and_clipped():
    rng = np.random.default_rng(0)
    batch = rng.random((4, 32, 32, 3)).astype(np.float32)
    for strength in ("thesis", "strong"):
        a = np.asarray(build_augmenter(strength, seed=1)(batch, training=True))
        b = np.asarray(build_augmenter(strength, seed=1)(batch, training=True))
        c = np.asarray(build_augmenter(strength, seed=2)(batch, training=True))
        assert a.shape == batch.shape and a.dtype == np.float32
        assert np.array_equal(a, b)
        assert not np.allclose(a, c)
        assert a.min() >= 0.0 and a.max() <= 1.0
    assert np.allclose(build_augmenter("none")(batch), batch)
    with pytest.raises(SkinmlError):
        build_augmenter("wild")


def test_dataset_augmentation_deterministic(mixed):
    def first(seed):
        ds = make_dataset(mixed, image_size=32, batch_size=4, augment="thesis", seed=seed)
        return next(iter(ds)).numpy()

    plain = next(iter(make_dataset(mixed, image_size=32, batch_size=4))).numpy()
    a, b, c = first(5), first(5), first(6)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c) and not np.allclose(a, plain)
    assert a.min() >= 0.0 and a.max() <= 1.0


# ---------------------------------------------------------------- on-disk cache

def cache_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.npy"))


def test_cache_reused_without_decoding(mixed, cache_dir, monkeypatch):
    first = load_array(mixed, 24, cache_dir=cache_dir)
    assert first.shape == (len(mixed), 24, 24, 3) and first.dtype == np.uint8
    assert len(cache_files(cache_dir)) == 1

    def fail(*a, **kw):
        raise AssertionError("decoded again")

    monkeypatch.setattr(pipeline, "load_image", fail)
    again = load_array(mixed, 24, cache_dir=cache_dir)
    assert isinstance(again, np.memmap) and np.array_equal(again, first)


def test_cache_invalidated_by_change(mixed, cache_dir):
    load_array(mixed, 24, cache_dir=cache_dir)
    before = cache_files(cache_dir)

    st = os.stat(mixed[1])  # touch: same bytes, newer mtime
    os.utime(mixed[1], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    load_array(mixed, 24, cache_dir=cache_dir)
    touched = cache_files(cache_dir)
    assert touched != before and len(touched) == 1  # rebuilt, stale one removed

    write_image(mixed[1], 50, 50, seed=42)  # new content
    changed = load_array(mixed, 24, cache_dir=cache_dir)
    assert cache_files(cache_dir) != touched
    assert np.array_equal(changed[1], load_image(mixed[1], 24))

    resized = load_array(mixed, 16, cache_dir=cache_dir)  # another size: its own cache
    assert resized.shape[1:3] == (16, 16) and len(cache_files(cache_dir)) == 2
    load_array(mixed, 16, "crop", cache_dir=cache_dir)
    assert len(cache_files(cache_dir)) == 3


def test_cache_never_half_written(mixed, cache_dir, tmp_path):
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    with pytest.raises(ImageError):
        load_array(mixed + [tmp_path / "corrupt.jpg"], 24, cache_dir=cache_dir)
    assert list(cache_dir.iterdir()) == []

    def interrupt(fraction, logs):
        raise KeyboardInterrupt

    many = mixed * 20  # more than one progress report
    with pytest.raises(KeyboardInterrupt):
        load_array(many, 24, cache_dir=cache_dir, on_progress=interrupt)
    assert list(cache_dir.iterdir()) == []
    done = []
    load_array(many, 24, cache_dir=cache_dir, on_progress=lambda f, logs: done.append(f))
    assert done[-1] == 1.0 and len(cache_files(cache_dir)) == 1


def test_cache_dir_from_environment(mixed, tmp_path, monkeypatch):
    monkeypatch.setenv("SKINML_CACHE", str(tmp_path / "env"))
    load_array(mixed[:2], 8)
    assert len(cache_files(tmp_path / "env" / "arrays")) == 1


def test_disk_cache_dataset_matches_memory(mixed, cache_dir):
    mem = np.concatenate([x.numpy() for x in make_dataset(mixed, image_size=24)])
    disk = np.concatenate([x.numpy() for x in make_dataset(mixed, image_size=24, cache="disk",
                                                             cache_dir=cache_dir)])
    assert disk.shape == mem.shape and np.abs(disk - mem).mean() < 0.02


def test_synthetic_demo_folder(demo_dir):
    paths = sorted(str(p) for p in Path(demo_dir).glob("*.jpg"))
    ds = make_dataset(paths, np.zeros(len(paths)), image_size=32, batch_size=16, shuffle=True,
                      augment="thesis", seed=0)
    n = 0
    for x, _ in ds:
        assert x.shape[1:] == (32, 32, 3) and float(x.numpy().max()) <= 1.0
        n += len(x)
    assert n == len(paths)
