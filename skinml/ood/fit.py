"""Fit and measure the dermoscopy check of `skinml.ood`: `python -m skinml.ood.fit [ISIC_FOLDER]`.

Fits the reference on the train and validation splits of a real ISIC folder, then measures
how often the check fires on its held-out test split (should be rare) and on clearly
non-dermoscopic images: faces, documents, blank images, landscapes and screenshots drawn
here, and the two photos scikit-learn ships (should be common). Writes
`skinml/assets/ood.json` with the measured rates.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from skinml.ood.detector import REFERENCE_PATH, fit_reference, measure, score_stats

SKIN = [(236, 200, 180), (225, 184, 155), (198, 150, 120), (160, 112, 84), (110, 75, 55)]


def _colour(rng) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(0, 256, 3))


def _jpeg(image: Image.Image, rng) -> Image.Image:
    """Half of the drawings go through JPEG, as photos of them would."""
    if rng.random() < 0.5:
        return image
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=int(rng.integers(60, 95)))
    return Image.open(buf).convert("RGB")


def draw_face(rng, size: int = 256) -> Image.Image:
    """A cartoon face: skin-coloured oval on a background, eyes, brows, mouth, hair."""
    img = Image.new("RGB", (size, size), _colour(rng))
    d = ImageDraw.Draw(img)
    skin = SKIN[rng.integers(len(SKIN))]
    m = size * rng.uniform(0.12, 0.22)
    d.ellipse([m, m * 1.2, size - m, size - m * 0.3], fill=skin)
    d.chord([m * 0.9, m * 0.6, size - m * 0.9, size * 0.55], 180, 360, fill=_colour(rng))  # hair
    for x in (0.38, 0.62):
        d.ellipse([size * x - 12, size * 0.48 - 7, size * x + 12, size * 0.48 + 7], fill="white")
        d.ellipse([size * x - 5, size * 0.48 - 5, size * x + 5, size * 0.48 + 5], fill=_colour(rng))
        d.line([size * x - 14, size * 0.42, size * x + 14, size * 0.41], fill=(60, 40, 30), width=3)
    d.arc([size * 0.38, size * 0.6, size * 0.62, size * 0.75], 20, 160, fill=(150, 40, 40), width=4)
    return _jpeg(img.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.5))), rng)


def draw_document(rng, size: int = 256) -> Image.Image:
    """A page of text: lines of characters on white or light grey paper."""
    paper = int(rng.integers(225, 256))
    img = Image.new("RGB", (size, int(size * 1.3)), (paper, paper, paper - int(rng.integers(0, 12))))
    d = ImageDraw.Draw(img)
    y = 10
    while y < img.height - 12:
        words = " ".join("".join(chr(97 + int(c)) for c in rng.integers(0, 26, rng.integers(2, 9)))
                         for _ in range(8))
        d.text((10, y), words, fill=(int(rng.integers(0, 60)),) * 3)
        y += int(rng.integers(11, 18))
    return _jpeg(img, rng)


def draw_blank(rng, size: int = 256) -> Image.Image:
    """A uniform image (any colour, skin included), sometimes with a gentle gradient."""
    colour = np.array(SKIN[rng.integers(len(SKIN))] if rng.random() < 0.4 else _colour(rng), float)
    ramp = np.linspace(-1, 1, size)[None, :, None] * rng.uniform(0, 20)
    return _jpeg(Image.fromarray(np.clip(colour + ramp + np.zeros((size, size, 3)), 0, 255).astype(np.uint8)), rng)


def draw_landscape(rng, size: int = 256) -> Image.Image:
    """Sky, sun, mountains and a green field, with some texture."""
    y = np.linspace(0, 1, size)[:, None, None]
    sky = np.array([90, 150, 230]) * (1 - y) + np.array([200, 220, 250]) * y
    img = Image.fromarray(np.broadcast_to(sky, (size, size, 3)).astype(np.uint8))
    d = ImageDraw.Draw(img)
    d.ellipse([size * 0.7, 20, size * 0.7 + 30, 50], fill=(255, 230, 120))
    peaks = [(0, size * 0.6)] + [(x, size * rng.uniform(0.25, 0.55)) for x in np.linspace(30, size - 30, 5)] + \
        [(size, size * 0.6), (size, size), (0, size)]
    d.polygon(peaks, fill=tuple(int(v) for v in rng.integers(60, 130, 3)))
    d.rectangle([0, size * rng.uniform(0.6, 0.75), size, size], fill=(60, int(rng.integers(110, 170)), 50))
    noise = rng.normal(0, 8, (size, size, 3))
    return _jpeg(Image.fromarray(np.clip(np.asarray(img) + noise, 0, 255).astype(np.uint8)), rng)


def draw_screenshot(rng, size: int = 256) -> Image.Image:
    """An application window: title bar, side bar, panels, buttons and text."""
    img = Image.new("RGB", (int(size * 1.6), size), (245, 245, 245) if rng.random() < 0.7 else (30, 30, 35))
    d = ImageDraw.Draw(img)
    d.rectangle([0, 0, img.width, 24], fill=_colour(rng))
    d.rectangle([0, 24, 70, size], fill=(225, 228, 232))
    for _ in range(int(rng.integers(3, 8))):
        x, y = rng.integers(80, img.width - 60), rng.integers(30, size - 30)
        d.rectangle([x, y, x + rng.integers(30, 120), y + rng.integers(12, 60)], fill=_colour(rng))
        d.text((x + 4, y + 2), "Button", fill="white")
    for y in range(40, size - 10, 16):
        d.text((8, y), "Menu item", fill=(40, 40, 40))
    return _jpeg(img, rng)


DRAWINGS = {"face": draw_face, "document": draw_document, "blank": draw_blank,
            "landscape": draw_landscape, "screenshot": draw_screenshot}


def sample_photos(rng, crops: int = 10) -> list[Image.Image]:
    """scikit-learn's two sample photos (a temple, a flower), whole and as random crops."""
    from sklearn.datasets import load_sample_images

    out = []
    for array in load_sample_images().images:
        image = Image.fromarray(array)
        out.append(image)
        for _ in range(crops):
            w = int(rng.integers(120, 400))
            x, y = rng.integers(0, image.width - w), rng.integers(0, image.height - w)
            out.append(image.crop((x, y, x + w, y + w)))
    return out


def make_non_dermoscopy(per_kind: int = 40, seed: int = 0) -> dict[str, list[Image.Image]]:
    """Clearly non-dermoscopic images by kind: {"face": [...], ..., "photo": [...]}."""
    rng = np.random.default_rng(seed)
    kinds = {name: [draw(rng) for _ in range(per_kind)] for name, draw in DRAWINGS.items()}
    kinds["photo"] = sample_photos(rng)
    return kinds


def _measure_paths(paths) -> np.ndarray:
    from concurrent.futures import ThreadPoolExecutor

    def one(path):
        with Image.open(path) as image:
            return measure(image.convert("RGB"))
    with ThreadPoolExecutor(2) as pool:
        return np.array(list(pool.map(one, paths)))


def fit_and_measure(root: str | Path, out: Path = REFERENCE_PATH, seed: int = 0) -> dict:
    """Fit on the train+val split of `root`, measure firing rates, write `out`; returns the reference."""
    from skinml.data.policy import split_grouped
    from skinml.data.readers import load_dataset

    df = split_grouped(load_dataset(root, verify=False).query("image_path != ''"), seed=seed)
    fit = df[df["split"] != "test"]
    test = df[df["split"] == "test"]
    reference = fit_reference(_measure_paths(fit["image_path"]))
    test_fired = score_stats(_measure_paths(test["image_path"]), reference) > reference["threshold"]
    by_source = test.assign(fired=test_fired).groupby("attribution")["fired"].agg(["size", "mean"])
    rates = {"dermoscopy_test": {"n": int(len(test)), "fired": float(test_fired.mean())},
             "dermoscopy_test_by_source": {s: {"n": int(r["size"]), "fired": float(r["mean"])}
                                           for s, r in by_source.iterrows()}}
    for kind, images in make_non_dermoscopy(seed=seed).items():
        fired = score_stats(np.array([measure(i) for i in images]), reference) > reference["threshold"]
        rates[kind] = {"n": len(images), "fired": float(fired.mean())}
    non = [rates[k] for k in list(DRAWINGS) + ["photo"]]
    rates["non_dermoscopy"] = {"n": sum(r["n"] for r in non),
                               "fired": sum(r["n"] * r["fired"] for r in non) / sum(r["n"] for r in non)}
    reference.update(rates=rates, data=str(Path(root).name), seed=seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(reference, indent=1))
    return reference


def main(argv: list[str] | None = None) -> int:
    from skinml.data.readers import default_data_dir

    parser = argparse.ArgumentParser(prog="python -m skinml.ood.fit", description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default=None, help="ISIC folder (default: the shared sample)")
    parser.add_argument("--out", type=Path, default=REFERENCE_PATH)
    args = parser.parse_args(argv)
    reference = fit_and_measure(args.root or default_data_dir(), args.out)
    print(json.dumps(reference["rates"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
