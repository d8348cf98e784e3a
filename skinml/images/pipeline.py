"""Images to model inputs: decode, resize, cache, shuffle, batch, augment, prefetch.

Two paths give the same pixels (within rounding): `load_image` / `load_array` (Pillow and
NumPy, for prediction and for backends without TensorFlow) and `make_dataset` (tf.data, for
training). Large JPEGs are decoded at a reduced scale (libjpeg's DCT scaling by 1/2, 1/4 or
1/8) whenever the reduced image is still at least `size` on its short side, so a 6780x4519
photo is never decoded at full size.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
import warnings
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from skinml import settings
from skinml.errors import ImageError
from skinml.images.augment import build_augmenter  # noqa: F401  (part of the pipeline API)
from skinml.images.decode import check_resize, load_image
from skinml.io import read_json, write_json

CACHE_VERSION = 1  # bump when the decoded pixels change, so old caches are not reused


def default_cache_dir() -> Path:
    """`$SKINML_CACHE/arrays`, else `~/.cache/skinml/arrays`."""
    return settings.cache_root() / "arrays"


def cache_key(paths: Sequence[str], size: int, resize: str) -> tuple[str, str]:
    """(key of the path list, key of its current state): sizes and mtimes of every file."""
    try:
        stats = [os.stat(p) for p in paths]
    except FileNotFoundError as exc:
        raise ImageError(f"Image file '{exc.filename}' does not exist.") from exc
    names = json.dumps([CACHE_VERSION, size, resize, list(paths)]).encode()
    state = json.dumps([(s.st_size, s.st_mtime_ns) for s in stats]).encode()
    list_key = hashlib.sha256(names).hexdigest()[:20]
    return list_key, hashlib.sha256(names + state).hexdigest()[:20]


def load_array(paths: Sequence[str | os.PathLike], size: int = 256, resize: str = "squash",
               cache_dir: str | os.PathLike | None = None,
               on_progress: Callable[[float, dict], None] | None = None) -> np.ndarray:
    """All images as uint8 (N, size, size, 3), through an on-disk cache.

    The first call decodes in a thread pool (Pillow releases the GIL) straight into a
    temporary `.npy` that is renamed when complete, so a killed run never leaves half a
    cache; its index (`.json` beside it) records the key, shape, dtype and a CRC-32 of the
    pixels. Later calls check all of that and return the file memory-mapped (read-only)
    without decoding; an entry that does not match its index is reported (a warning) and
    rebuilt, an empty file is treated as missing. The key covers the paths, each file's size
    and mtime, `size` and `resize`: touching a file or changing the size builds a new cache,
    and the stale one for the same paths is removed.
    """
    check_resize(resize)
    paths = [os.path.abspath(os.fspath(p)) for p in paths]
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    list_key, key = cache_key(paths, size, resize)
    target = folder / f"{list_key}-{key}.npy"
    shape = (len(paths), size, size, 3)
    cached = _read_cache(target, key, shape)
    if cached is not None:
        return cached
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{list_key}-{key}.{uuid.uuid4().hex}.tmp"
    try:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)

        def decode(i: int) -> None:
            out[i] = load_image(paths[i], size, resize)

        pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2)
        try:
            for done, _ in enumerate(pool.map(decode, range(len(paths))), 1):
                if on_progress and (done % 64 == 0 or done == len(paths)):
                    on_progress(done / len(paths), {"images": done})
        finally:  # on an error or Ctrl-C, stop decoding the rest at once
            pool.shutdown(wait=True, cancel_futures=True)
        out.flush()
        write_json(_index_file(target), {"key": key, "shape": list(shape), "dtype": "uint8", "crc32": _crc32(out)})
        out = None  # closes the memory map before the rename
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    for stale in folder.glob(f"{list_key}-*"):
        if stale not in (target, _index_file(target)):
            stale.unlink(missing_ok=True)
    return np.load(target, mmap_mode="r")


def _index_file(target: Path) -> Path:
    return target.with_suffix(".json")


def _crc32(array: np.ndarray) -> str:
    """CRC-32 of an array's bytes (C order), as 8 hex digits: catches zeroed or changed pixels."""
    return f"{zlib.crc32(np.ascontiguousarray(array).reshape(-1).data):08x}"


def _read_cache(target: Path, key: str, shape: tuple[int, ...]) -> np.ndarray | None:
    """The cached array at `target` (memory-mapped) when it is whole and what its index says.

    None when it is missing or empty (a disk that filled up), or damaged: unreadable, another
    shape or dtype, another key or pixels that fail the checksum. Damage is reported with a
    warning and the entry removed, so that the caller rebuilds it.
    """
    try:
        if target.stat().st_size == 0:
            return None
    except FileNotFoundError:
        return None
    index = read_json(_index_file(target))
    try:
        array = np.load(target, mmap_mode="r")
    except (OSError, ValueError, EOFError) as exc:
        problem = f"it cannot be read: {exc}"
    else:
        if not isinstance(index, dict):
            problem = "its index is missing or damaged"
        elif array.dtype != np.uint8 or array.shape != shape:
            problem = f"it holds {array.dtype} {array.shape} instead of uint8 {shape}"
        elif index.get("key") != key or index.get("shape") != list(shape) or index.get("dtype") != "uint8":
            problem = "its index describes another array"
        elif index.get("crc32") != _crc32(array):
            problem = "its pixels do not match their checksum"
        else:
            return array
        del array
    warnings.warn(f"The image cache {target} was damaged ({problem}): it is rebuilt from the images.",
                  stacklevel=3)
    target.unlink(missing_ok=True)
    _index_file(target).unlink(missing_ok=True)
    return None


# ---------------------------------------------------------------- augmentation

# ---------------------------------------------------------------- tf.data path

def decode_tf(path, size: int, resize: str):
    """tf graph: a file path -> uint8 (size, size, 3); JPEGs decoded at a reduced scale."""
    import tensorflow as tf

    data = tf.io.read_file(path)

    def decode_jpeg():
        shape = tf.io.extract_jpeg_shape(data)
        short = tf.minimum(shape[0], shape[1]) // size
        # decode_jpeg's ratio is an attribute, not a tensor: one branch per ratio.
        branch = tf.cast(short >= 2, tf.int32) + tf.cast(short >= 4, tf.int32) + tf.cast(short >= 8, tf.int32)
        return tf.switch_case(branch, [
            lambda r=r: tf.io.decode_jpeg(data, channels=3, ratio=r, dct_method="INTEGER_ACCURATE")
            for r in (1, 2, 4, 8)])

    def decode_other():
        return tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)

    img = tf.cond(tf.io.is_jpeg(data), decode_jpeg, decode_other)
    img.set_shape([None, None, 3])
    if resize == "crop":
        h, w = tf.shape(img)[0], tf.shape(img)[1]
        side = tf.minimum(h, w)
        img = tf.image.crop_to_bounding_box(img, (h - side) // 2, (w - side) // 2, side, side)
    # No antialias: after the DCT scale-down the image is at most about twice the target,
    # and antialiased resizing would halve the decode rate.
    out = tf.image.resize(img, (size, size))
    return tf.saturate_cast(out + 0.5, tf.uint8)  # round to the nearest level, as Pillow


def to_unit_float(images):
    """uint8 (B, H, W, 3) -> float32 in [0, 1] in one pass (Dequantize), about twice as fast
    as cast-then-multiply on these memory-bound batches."""
    import tensorflow as tf

    return tf.quantization.dequantize(tf.bitcast(images, tf.quint8), 0.0, 1.0, mode="MIN_COMBINED")


def make_array_batches(images: np.ndarray, labels, batch_size: int, shuffle: bool, seed: int,
                       drop_remainder: bool):
    """tf.data of uint8 batches gathered from an (N, H, W, 3) array (a memory map is fine)."""
    import tensorflow as tf

    n, h, w, _ = images.shape
    ids = tf.data.Dataset.range(n)
    if shuffle:
        ids = ids.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    ids = ids.batch(batch_size, drop_remainder=drop_remainder)
    label_array = None if labels is None else np.asarray(labels, np.float32)

    def gather(idx):
        return images[idx] if label_array is None else (images[idx], label_array[idx])

    def gather_tf(idx):
        if label_array is None:
            x = tf.numpy_function(gather, [idx], tf.uint8, stateful=False)
            return tf.ensure_shape(x, [None, h, w, 3])
        x, y = tf.numpy_function(gather, [idx], (tf.uint8, tf.float32), stateful=False)
        return tf.ensure_shape(x, [None, h, w, 3]), tf.ensure_shape(y, [None])

    return ids.map(gather_tf, num_parallel_calls=tf.data.AUTOTUNE)


def make_dataset(paths: Sequence[str | os.PathLike], labels=None, *, image_size: int = 256,
                 batch_size: int = 64, resize: str = "squash", shuffle: bool = False,
                 augment=None, cache: bool | str = True, seed: int = 0,
                 drop_remainder: bool = False, cache_dir: str | os.PathLike | None = None):
    """A tf.data.Dataset of float32 (B, image_size, image_size, 3) batches in [0, 1].

    With `labels` (N numbers, 0 benign / 1 malignant) it yields (images, float32 (B,)).
    Order: parallel decode and resize -> cache -> shuffle -> batch -> augment per batch ->
    prefetch; decoded images are cached as uint8 before any random augmentation.
    `cache=True` keeps them in memory after the first pass; `cache="disk"` uses
    `load_array`'s on-disk cache (decoded once, reused by later runs: the fast warm path);
    `cache=False` decodes every epoch. `augment` is None, a strength name for
    `build_augmenter` ("none", "thesis", "strong"), or a Keras layer / callable on batches.
    """
    import tensorflow as tf

    check_resize(resize)
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise ImageError("No images to read: the list of image paths is empty.")
    if labels is not None:
        labels = np.asarray(labels, np.float32).reshape(-1)
        if len(labels) != len(paths):
            raise ImageError(f"Got {len(paths)} images but {len(labels)} labels.")
    if cache not in (True, False, "disk"):
        raise ImageError(f"cache must be True, False or 'disk', not {cache!r}.")
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise ImageError(f"{len(missing)} image file(s) do not exist, for example '{missing[0]}'.")

    if cache == "disk":
        array = load_array(paths, image_size, resize, cache_dir=cache_dir)
        ds = make_array_batches(array, labels, batch_size, shuffle, seed, drop_remainder)
    else:
        ds = tf.data.Dataset.from_tensor_slices(paths)
        if labels is not None:
            ds = tf.data.Dataset.zip(ds, tf.data.Dataset.from_tensor_slices(labels))
        if shuffle and not cache:  # shuffle the cheap file names, not decoded images
            ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)

        def decode(path, *label):
            return (decode_tf(path, image_size, resize), *label)

        ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
        if cache:
            ds = ds.cache()
            if shuffle:  # the buffer holds references to cached tensors, not copies
                ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=tf.data.AUTOTUNE)

    augmenter = build_augmenter(augment, seed=seed) if isinstance(augment, str) and augment != "none" \
        else (None if augment in (None, "none") else augment)

    def finish(x, *label):
        x = to_unit_float(x)
        if augmenter is not None:
            x = augmenter(x, training=True)
        return (x, *label) if label else x

    # The augmenter's random layers draw from one stateful seed generator: batches augmented in
    # parallel would take its states in whatever order the threads run, so one seed could give two
    # augmentations under load. One batch at a time (each batch's ops still use every core).
    ds = ds.map(finish, num_parallel_calls=1 if augmenter is not None else tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
