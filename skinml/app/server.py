"""The dashboard as a server (`streamlit run streamlit_app.py`): ready to answer when it starts,
its training processes stopped when it ends, every error shown without a traceback.

`streamlit_app.py` builds a `streamlit.App` with `lifespan` and `show_any_error` when
Streamlit imports it to start the server (Streamlit 1.5x and later). The server accepts
visitors once `warm_up` has loaded the models the clinician's page opens with (the binary and
the diagnosis model, the segmenter) and answered one photo with each (TensorFlow imported, the
models read, their functions traced), so that the first visitor gets an answer at once instead
of waiting for all of that. TensorFlow's thread pools are sized to the cores the server may run
on (`settings.tf_threads`) before it starts. Then, in the background, `prime_pages` computes
what the other pages' first visitors waited for (the default dataset's table and splits, Inside
the CNN's first example with every heatmap, GAN realism's first view) into the shared caches.
Before all that it limits glibc's heaps (`limit_malloc_arenas`) and keeps Streamlit from
resetting Keras after every page run (`keep_keras_state`): with eight visitors, those resets held
the interpreter for most of the server's time.
"""

from __future__ import annotations

import asyncio
import threading
import time
from contextlib import asynccontextmanager

from skinml import runs, settings
from skinml.app import server_log, show_any_error
from skinml.errors import SkinmlError

__all__ = ["keep_keras_state", "lifespan", "limit_malloc_arenas", "prime_pages", "show_any_error", "size_threads",
           "warm_up"]


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


def prime_pages() -> None:
    """Compute, into the caches every session shares, what the pages' first visitors waited for (up to
    22 s on Inside the CNN and 15 s on Train classifier on a loaded classroom machine): the default
    dataset's table, charts and image sizes (Home, Data), its splits with the default rules (Data, Train
    classifier), and Inside the CNN's first model and first example: feature maps, probabilities,
    Grad-CAM and the four methods' heatmaps of the class it points to, and GAN realism's first view.
    The same cached calls with
    the same arguments as the pages, so a page finds them ready; an error is logged, never raised."""
    from skinml.app import explain_ui
    from skinml.app.classifiers import load_model, model_options
    from skinml.app.data_ui import first_data_dir, folder_stamp, load_sizes, load_split, load_table, metadata_figures
    from skinml.cnn.config import TrainConfig
    from skinml.data.policy import DataPolicy

    start = time.perf_counter()
    try:
        root = first_data_dir()  # where a new session starts (this thread has no session)
        stamp = folder_stamp(root)
        load_table(root)
        metadata_figures(root, stamp, None)  # Data's charts (all images: the toggle starts off)
        config = TrainConfig()
        load_split(root, stamp, DataPolicy(), config.balance, config.seed, task="binary")  # Data, Train classifier
        load_split(root, stamp, DataPolicy(), False, config.seed, task="diagnosis")  # Data's diagnosis split
        options = model_options(untrained=True, unfinished=True)  # Inside the CNN's picker
        if options:
            path = next(iter(options.values()))
            classifier = load_model(path)
            name, data = next(iter(explain_ui.example_images(root).items()))
            _, x = explain_ui.read_for_model(data, name, classifier.image_size, classifier.resize)
            explain_ui.feature_maps_cached(path, x)
            probabilities = explain_ui.class_probabilities_cached(path, x)
            target = classifier.classes[int(probabilities.argmax())] if classifier.task == "diagnosis" \
                else classifier.decide(probabilities)
            index = list(classifier.classes).index(target)
            explain_ui.grad_cam_cached(path, x, index)
            for method in explain_ui.PAGE_METHODS:
                explain_ui.method_map_cached(path, x, index, method)
        prime_realism(root)
        load_sizes(root, stamp)  # reads every image's header: last
    except Exception as exc:  # noqa: BLE001 (a page computes it again and shows its own error)
        server_log().warning("could not prime the pages: %s", exc)
        return
    server_log().info("pages primed in %.1f s", time.perf_counter() - start)


def prime_realism(root) -> None:
    """GAN realism's first view (the first generator its picker offers, the slider's first value):
    generating and comparing the images took a first visitor 5 to 11 s."""
    from skinml.app import gan_ui

    shipped = gan_ui.load_generator_cached(None, False)
    if shipped is not None:
        gan_ui.realism_basics(shipped, gan_ui.generator_key(shipped), root, gan_ui.REALISM_N)


MALLOC_ARENAS = 2
M_ARENA_MAX = -8  # glibc's mallopt parameter


def limit_malloc_arenas() -> bool:
    """At most MALLOC_ARENAS glibc heaps for the server's threads (what MALLOC_ARENA_MAX=2 does; an
    operator's own MALLOC_ARENA_MAX is left alone). glibc gives threads that allocate at once heaps of
    their own, up to eight per core, and each visitor's page runs in a thread of its own: with eight
    visitors the server's peak memory was 2.23 GB, 2.00 GB with two heaps. True when the limit was set."""
    import ctypes
    import ctypes.util
    import os

    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        return bool(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt(M_ARENA_MAX, MALLOC_ARENAS))
    except (OSError, AttributeError):  # not glibc
        return False


def keep_keras_state() -> None:
    """Stop Streamlit from resetting Keras after every page run of every visitor.

    Streamlit's script runner ends each run with `_clean_problem_modules`, which calls
    `keras.backend.clear_session()`: a full garbage collection of a process holding TensorFlow's
    models, and TensorFlow's kernel caches emptied, so the next heatmap traces its functions again.
    With eight visitors it held the interpreter for a third of the server's time. The server builds
    no Keras models in its page runs that need that reset (trainings run in processes of their own),
    so the reset is replaced by the rest of Streamlit's clean-up (closing matplotlib's figures).
    Streamlit's private function: if a later Streamlit renames it, nothing is changed."""
    from streamlit.runtime.scriptrunner import script_runner

    if not hasattr(script_runner, "_clean_problem_modules"):
        server_log().info("Streamlit has no _clean_problem_modules: its Keras reset is left as it is")
        return

    def close_figures() -> None:
        import sys

        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")

    script_runner._clean_problem_modules = close_figures


@asynccontextmanager
async def lifespan(app):
    """Warm up before the first visitor is let in, prime the other pages in the background; stop every
    training process at shutdown."""
    limit_malloc_arenas()
    keep_keras_state()
    await asyncio.to_thread(warm_up)
    threading.Thread(target=prime_pages, name="prime-pages", daemon=True).start()
    try:
        yield
    finally:
        await asyncio.to_thread(runs.stop_children)
