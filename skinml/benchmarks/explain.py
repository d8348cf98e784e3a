"""Explanation speed: seconds per image for each heatmap method, and for one deletion + insertion curve.

Each method runs once untimed (compilation, sub-models), then on `--images` synthetic
lesions at the model's size; the median is reported. With no `--model` and no shipped model,
an untrained `skinml_resnet` at 128 px stands in (speed depends on the architecture, not the
weights). When Google's `saliency` package is importable, its integrated gradients (fed by
skinml's compiled gradient) are timed beside skinml's, with the rank correlation of the maps.
"""

from __future__ import annotations

import os
import statistics
import time


def add_arguments(parser) -> None:
    parser.add_argument("--model", help="classifier folder or run directory (default: shipped, else untrained)")
    parser.add_argument("--images", type=int, default=10, help="images timed per method (median reported)")
    parser.add_argument("--image-size", type=int, default=128, help="input size of the untrained stand-in")


def _model(path: str | None, size: int):
    from skinml.cnn.classifier import SHIPPED_DIR, load_classifier

    if path or (SHIPPED_DIR / "model.keras").exists():
        clf = load_classifier(path)
        return clf.model, clf.info.get("name", clf.model.name)
    from skinml.cnn.models import build_model

    return build_model("skinml_resnet", image_size=size), f"untrained skinml_resnet {size} px"


def _median_seconds(fn, images) -> float:
    fn(images[0])  # untimed: traces and sub-models
    times = []
    for image in images:
        start = time.perf_counter()
        fn(image)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _saliency_ig(model):
    """Integrated gradients by Google's `saliency` package on skinml's gradient, or None."""
    try:
        import saliency.core as saliency
    except ImportError:
        return None
    import numpy as np

    from skinml.explain.scores import compiled, gradient, score_function

    grad = compiled(model, ("input_gradient", 1), lambda: lambda v: gradient(score_function(model, 1), v))
    call = lambda batch, call_model_args=None, expected_keys=None: {
        saliency.INPUT_OUTPUT_GRADIENTS: np.asarray(grad(batch.astype("float32")))}

    def explain(image):
        x = image.astype("float32") / 255.0
        baseline = np.broadcast_to(x.mean(axis=(0, 1)), x.shape).astype("float32")
        return saliency.IntegratedGradients().GetMask(x, call, x_baseline=baseline, x_steps=32, batch_size=32)
    return explain


def run(args) -> int:
    import numpy as np

    from skinml.data.synthetic import make_lesion
    from skinml.explain.integrated_gradients import integrated_gradients
    from skinml.explain.measures import blurred, perturbation_curve, salience_order
    from skinml.explain.scores import class_probability
    from skinml.explain.trust import METHODS

    model, which = _model(args.model, args.image_size)
    size = int(model.input_shape[1])
    images = [make_lesion(k % 2 == 1, size, seed=k) for k in range(args.images)]
    print(f"model: {which}; {args.images} synthetic lesions at {size} px; median seconds per image; "
          f"{os.cpu_count()} CPU cores")
    for label, explain in METHODS.values():
        print(f"  {label:<44} {_median_seconds(lambda x, f=explain: f(model, x, 1), images):8.3f} s")

    def curves(image):
        x = image.astype("float32") / 255.0
        order = salience_order(np.random.default_rng(0).random(size * size))
        predict = lambda batch: class_probability(model, batch, 1)
        perturbation_curve(predict, x, blurred(x), order)
        perturbation_curve(predict, blurred(x), x, order)
    print(f"  {'deletion + insertion curve (16 steps each)':<44} {_median_seconds(curves, images):8.3f} s")

    theirs = _saliency_ig(model)
    if theirs is None:
        print("  (Google's saliency package is not installed: pip install saliency to time it beside ours)")
        return 0
    from skinml.explain.measures import rank_correlation

    ours = lambda x: integrated_gradients(model, x, class_index=1, raw=True)
    print(f"  {'integrated gradients, saliency package':<44} {_median_seconds(theirs, images):8.3f} s")
    print(f"  {'integrated gradients, skinml (raw)':<44} {_median_seconds(ours, images):8.3f} s")
    rho = [rank_correlation(ours(x).sum(-1), theirs(x).sum(-1)) for x in images[:3]]
    print(f"  rank correlation of the two maps: {', '.join(f'{r:.3f}' for r in rho)}")
    return 0
