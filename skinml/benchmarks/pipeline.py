"""Input pipeline speed: images/second to batched float32 tensors, skinml against the stock ways.

Rows: skinml cold (first pass, nothing decoded yet), skinml warm from the memory cache (second
epoch) and from the on-disk cache (a new run), `keras.utils.image_dataset_from_directory`
(over a temporary class-folder view made of symlinks), a plain Pillow loop, and the raw
decode limit (decode + resize only, spread over all cores, the best of tf.data and a Pillow
thread pool). Every source file is read once first, so all rows see the same OS file cache:
"cold" means nothing decoded yet, not files on a cold disk. Each row is the best of
`--repeat` runs, interleaved so that noise from other processes hits all rows alike.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from skinml.errors import DataError

ROWS = {
    "skinml_cold": "skinml cold (first pass, memory cache filling)",
    "skinml_warm": "skinml warm (memory cache, next epoch)",
    "skinml_warm_disk": "skinml warm (on-disk cache, new run)",
    "keras": "keras.utils.image_dataset_from_directory",
    "pillow_loop": "plain Pillow loop (one thread)",
    "raw_tf": "raw decode limit: tf.data decode+resize",
    "raw_pillow": "raw decode limit: Pillow thread pool",
}


def add_arguments(parser) -> None:
    parser.add_argument("--data", help="dataset folder (any layout skinml reads, or a folder of images)")
    parser.add_argument("--generate", metavar="WxH",
                        help="benchmark on generated JPEGs of this size instead, e.g. 1024x768")
    parser.add_argument("--n", type=int, default=1000, help="how many JPEGs --generate makes")
    parser.add_argument("--size", type=int, default=256, help="square image size fed to models")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=None,
                        help="use only the first N batches of images (default: all images)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per row; the best is kept")
    parser.add_argument("--json", action="store_true", help="print only the JSON object")


# ---------------------------------------------------------------- data

def find_images(root: Path) -> tuple[list[str], list[int]]:
    """(paths, 0/1 labels) via skinml.data.load_dataset when it can, else every image file."""
    try:
        from skinml.data.readers import load_dataset

        df = load_dataset(root)
        df = df[df["image_path"].astype(str).ne("")]
        if len(df):
            return list(df["image_path"]), list(df["benign_malignant"].eq("malignant").astype(int))
    except Exception:  # noqa: BLE001 - any folder of images will do for a benchmark
        pass
    paths = sorted(p for ext in ("jpg", "jpeg", "png") for p in
                   glob.glob(str(root / "**" / f"*.{ext}"), recursive=True))
    return paths, [i % 2 for i in range(len(paths))]


def generate_jpegs(out: Path, width: int, height: int, n: int) -> list[str]:
    """n synthetic lesion photos of width x height with skin-like noise, JPEG quality 90."""
    from PIL import Image

    from skinml.data.synthetic import make_lesion

    def one(i: int) -> str:
        rng = np.random.default_rng(i)
        img = Image.fromarray(make_lesion(i % 2 == 1, 192, seed=i)).resize((width, height), Image.BICUBIC)
        noisy = np.asarray(img, np.int16) + rng.normal(0, 5, (height, width, 3)).astype(np.int16)
        path = out / f"GEN_{i:07d}.jpg"
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(path, quality=90)
        return str(path)

    out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        return list(pool.map(one, range(n)))


def make_class_view(paths: list[str], labels: list[int], root: Path) -> Path:
    """A benign/ malignant/ folder of symlinks, what image_dataset_from_directory reads."""
    for i, (path, label) in enumerate(zip(paths, labels)):
        folder = root / ("malignant" if label else "benign")
        folder.mkdir(parents=True, exist_ok=True)
        os.symlink(path, folder / f"{i:07d}_{Path(path).name}")
    return root


# ---------------------------------------------------------------- measurements

def count_rate(batches) -> float:
    """Images/second of iterating `batches` (anything whose items have a len)."""
    start, n = time.perf_counter(), 0
    for item in batches:
        n += len(item[0] if isinstance(item, tuple) else item)
    return n / (time.perf_counter() - start)


def measure_skinml(paths, labels, args, cache_dir) -> dict[str, float]:
    from skinml.images.pipeline import make_dataset

    ds = make_dataset(paths, labels, image_size=args.size, batch_size=args.batch_size,
                      shuffle=True, cache=True)
    cold = count_rate(ds)
    warm = count_rate(ds)
    disk = make_dataset(paths, labels, image_size=args.size, batch_size=args.batch_size,
                        shuffle=True, cache="disk", cache_dir=cache_dir)
    return {"skinml_cold": cold, "skinml_warm": max(warm, count_rate(ds)),
            "skinml_warm_disk": count_rate(disk)}


def measure_keras(view: Path, args) -> float:
    import keras

    ds = keras.utils.image_dataset_from_directory(
        view, image_size=(args.size, args.size), batch_size=args.batch_size, shuffle=True,
        seed=0, verbose=False)
    return count_rate(ds)


def measure_pillow_loop(paths, args) -> float:
    """The naive way: open, convert, resize, stack, scale; one image after another."""
    from PIL import Image

    def batches():
        for i in range(0, len(paths), args.batch_size):
            imgs = [np.asarray(Image.open(p).convert("RGB").resize((args.size, args.size), Image.BILINEAR))
                    for p in paths[i:i + args.batch_size]]
            yield np.stack(imgs).astype(np.float32) / 255

    return count_rate(batches())


def measure_raw_tf(paths, args) -> float:
    import tensorflow as tf

    from skinml.images.pipeline import decode_tf

    ds = tf.data.Dataset.from_tensor_slices(paths).map(
        lambda p: decode_tf(p, args.size, "squash"), num_parallel_calls=tf.data.AUTOTUNE)
    start = time.perf_counter()
    for _ in ds.prefetch(tf.data.AUTOTUNE):
        pass
    return len(paths) / (time.perf_counter() - start)


def measure_raw_pillow(paths, args) -> float:
    from skinml.images.decode import load_image

    start = time.perf_counter()
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        for _ in pool.map(lambda p: load_image(p, args.size), paths):
            pass
    return len(paths) / (time.perf_counter() - start)


def run_all(paths, labels, args, work: Path) -> dict[str, list[float]]:
    for path in paths:  # the same OS file cache for every row
        Path(path).read_bytes()
    view = make_class_view(paths, labels, work / "keras_view")
    runs: dict[str, list[float]] = {key: [] for key in ROWS}
    measure_raw_tf(paths[:64], args)  # warm-up: imports and graph tracing
    for r in range(args.repeat):
        cache_dir = work / f"cache{r}"
        for key, value in measure_skinml(paths, labels, args, cache_dir).items():
            runs[key].append(value)
        shutil.rmtree(cache_dir, ignore_errors=True)
        runs["keras"].append(measure_keras(view, args))
        runs["raw_tf"].append(measure_raw_tf(paths, args))
        runs["raw_pillow"].append(measure_raw_pillow(paths, args))
        if r == 0:  # slow and steady: once is enough
            runs["pillow_loop"].append(measure_pillow_loop(paths, args))
    return runs


def summarise(runs: dict[str, list[float]]) -> dict:
    best = {key: max(values) for key, values in runs.items() if values}
    raw = max(best["raw_tf"], best["raw_pillow"])
    return {"images_per_second": {k: round(v, 1) for k, v in best.items()},
            "runs": {k: [round(v, 1) for v in values] for k, values in runs.items()},
            "raw_decode_limit": round(raw, 1),
            "cold_vs_raw": round(best["skinml_cold"] / raw, 3),
            "warm_vs_keras": round(best["skinml_warm"] / best["keras"], 2),
            "warm_disk_vs_keras": round(best["skinml_warm_disk"] / best["keras"], 2),
            "targets": {"cold_vs_raw": 0.8, "warm_vs_keras": 20}}


def print_table(result: dict) -> None:
    rates = result["images_per_second"]
    print(f"{result['n_images']} images from {result['data']}, {result['image_size']}x"
          f"{result['image_size']} float32 batches of {result['batch_size']}, "
          f"{result['cpu_count']} CPU cores, best of {result['repeat']}")
    print(f"{'pipeline':<48} {'images/s':>10}  runs")
    for key, label in ROWS.items():
        if key in rates:
            runs = ", ".join(f"{v:.0f}" for v in result["runs"][key])
            print(f"{label:<48} {rates[key]:>10.0f}  {runs}")
    print(f"cold / raw decode limit = {result['cold_vs_raw']:.2f} (target >= 0.8); "
          f"warm / keras = {result['warm_vs_keras']:.1f}x, "
          f"warm disk / keras = {result['warm_disk_vs_keras']:.1f}x (target >= 20x)")


def run(args) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if bool(args.data) == bool(args.generate):
        raise DataError("Give either --data DIR or --generate WxH.")
    with tempfile.TemporaryDirectory(prefix="skinml-bench-") as tmp:
        work = Path(tmp)
        if args.generate:
            try:
                width, height = (int(v) for v in args.generate.lower().split("x"))
            except ValueError:
                raise DataError(f"--generate takes WIDTHxHEIGHT such as 1024x768, not '{args.generate}'.") from None
            paths = generate_jpegs(work / "images", width, height, args.n)
            labels, source = [i % 2 for i in range(len(paths))], f"generated {width}x{height} JPEGs"
        else:
            root = Path(args.data)
            if not root.is_dir():
                raise DataError(f"'{root}' is not a folder.")
            (paths, labels), source = find_images(root), str(root)
        if args.batches:
            paths, labels = paths[:args.batches * args.batch_size], labels[:args.batches * args.batch_size]
        if not paths:
            raise DataError(f"No images found in '{source}'.")
        result = {"data": source, "n_images": len(paths), "image_size": args.size,
                  "batch_size": args.batch_size, "cpu_count": os.cpu_count(), "repeat": args.repeat,
                  **summarise(run_all(paths, labels, args, work))}
    if not args.json:
        print_table(result)
    print(json.dumps(result, indent=None if args.json else 2))
    return 0
