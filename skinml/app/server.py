"""The dashboard as a server (`streamlit run streamlit_app.py`): ready to answer when it starts,
its training processes stopped when it ends, every error shown without a traceback.

`streamlit_app.py` builds a `streamlit.App` with `lifespan` and `show_any_error` when
Streamlit imports it to start the server (Streamlit 1.5x and later). The server accepts
visitors once `warm_up` has loaded the models the clinician's page opens with (the binary and
the diagnosis model, the segmenter) and answered one photo with each (TensorFlow imported, the
models read, their functions traced), so that the first visitor gets an answer at once instead
of waiting for all of that. TensorFlow's thread pools are sized to the cores the server may run
on (`settings.tf_threads`) before it starts.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager

from skinml import runs, settings
from skinml.app import server_log, show_any_error
from skinml.errors import SkinmlError

__all__ = ["lifespan", "show_any_error", "size_threads", "warm_up"]


def size_threads() -> None:
    """TensorFlow's intra- and inter-op thread pools sized to `settings.tf_threads()` (the cores
    this process may run on): TensorFlow counts the machine's cores, more than a container or a
    CPU set gives the server. Only before TensorFlow has started (later it keeps its pools)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    threads = settings.tf_threads()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow already started in this process
        server_log().info("TensorFlow had started: its thread pools keep their sizes")


def warm_up() -> None:
    """Load the first model the pages offer (`SKINML_MODEL`, else the shipped one) into the shared
    model cache and answer the clinician page's first example with it, heatmap included (the
    same cached calls the page makes, so its first visitor finds the answer ready); then the
    diagnosis model and the segmenter the page opens with, the same way."""
    from skinml.app.classifiers import load_model, model_options
    from skinml.app.data_ui import demo_dir
    from skinml.app.explain_ui import example_images, grad_cam_cached, predict_cached
    from skinml.data.readers import LABELS
    from skinml.explain.trust import method_maps
    from skinml.predict import heatmap_method_of

    size_threads()
    options = model_options(task="binary")  # the clinician page's first choice
    if not options:
        server_log().info("no model to warm up")
        return
    path = next(iter(options.values()))
    start = time.perf_counter()
    name, data = next(iter(example_images(demo_dir()).items()))  # a synthetic lesion
    try:
        classifier = load_model(path)
        result = predict_cached(path, data, name, tta=True)
        # the page draws the heatmap after the probability: Grad-CAM and the method measured best for the
        # model traced here too (on the heatmaps' copy of the model; not cached: the example has a stored map)
        if result.heatmap_class in LABELS and not classifier.uses_metadata:
            index = LABELS.index(result.heatmap_class)
            grad_cam_cached(path, result.model_input, index)
            try:
                method_maps(classifier, result.model_input, index, [heatmap_method_of(classifier)])
            except ValueError:  # the method does not fit this architecture: the page falls back to Grad-CAM
                pass
    except SkinmlError as exc:
        server_log().warning("could not warm up the model %s: %s", path, exc)
        return
    server_log().info("model %s ready in %.1f s", path, time.perf_counter() - start)
    warm_up_after_the_probability(data, name)


def warm_up_after_the_probability(data: bytes, name: str) -> None:
    """The diagnosis model the clinician's page offers first and the segmenter answer one photo
    (they answer after the probability on the page; a failure is logged, never fatal)."""
    from skinml.app import mtime_stamp
    from skinml.app.classifiers import model_options
    from skinml.app.explain_ui import predict_cached
    from skinml.app.segment_ui import SHIPPED, outline_cached

    start = time.perf_counter()
    try:
        diagnosis = model_options(task="diagnosis")
        if diagnosis:
            predict_cached(next(iter(diagnosis.values())), data, name, tta=True)
        if (SHIPPED / "model.keras").is_file():
            outline_cached(str(SHIPPED), mtime_stamp([SHIPPED / "model.keras"]), data, name, None)
    except SkinmlError as exc:
        server_log().warning("could not warm up the diagnosis model or the segmenter: %s", exc)
        return
    server_log().info("diagnosis model and segmenter ready in %.1f s", time.perf_counter() - start)


@asynccontextmanager
async def lifespan(app):
    """Warm up before the first visitor is let in; stop every training process at shutdown."""
    await asyncio.to_thread(warm_up)
    try:
        yield
    finally:
        await asyncio.to_thread(runs.stop_children)
