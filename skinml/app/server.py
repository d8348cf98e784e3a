"""The dashboard as a server (`streamlit run streamlit_app.py`): ready to answer when it starts,
its training processes stopped when it ends, every error shown without a traceback.

`streamlit_app.py` builds a `streamlit.App` with `lifespan` and `show_any_error` when
Streamlit imports it to start the server (Streamlit 1.5x and later). The server accepts
visitors once `warm_up` has loaded the model the clinician's page opens with and answered one
photo (TensorFlow imported, the model read, its functions traced), so that the first visitor
gets an answer at once instead of waiting for all of that.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager

from skinml import runs
from skinml.app import server_log, show_any_error
from skinml.errors import SkinmlError

__all__ = ["lifespan", "show_any_error", "warm_up"]


def warm_up() -> None:
    """Load the first model the pages offer (`SKINML_MODEL`, else the shipped one) into the shared
    model cache and answer the clinician page's first example with it, heatmap included (the
    same cached calls the page makes, so its first visitor finds the answer ready)."""
    from skinml.app.classifiers import load_model, model_options
    from skinml.app.data_ui import demo_dir
    from skinml.app.explain_ui import example_images, grad_cam_cached, predict_cached
    from skinml.data.readers import LABELS

    options = model_options(task="binary")  # the clinician page's first choice
    if not options:
        server_log().info("no model to warm up")
        return
    path = next(iter(options.values()))
    start = time.perf_counter()
    try:
        classifier = load_model(path)
        name, data = next(iter(example_images(demo_dir()).items()))  # a synthetic lesion
        result = predict_cached(path, data, name, tta=True)
        # the page draws Grad-CAM after the probability: traced here too
        if result.heatmap_class in LABELS and not classifier.uses_metadata:
            grad_cam_cached(path, result.model_input, LABELS.index(result.heatmap_class))
    except SkinmlError as exc:
        server_log().warning("could not warm up the model %s: %s", path, exc)
        return
    server_log().info("model %s ready in %.1f s", path, time.perf_counter() - start)


@asynccontextmanager
async def lifespan(app):
    """Warm up before the first visitor is let in; stop every training process at shutdown."""
    await asyncio.to_thread(warm_up)
    try:
        yield
    finally:
        await asyncio.to_thread(runs.stop_children)
