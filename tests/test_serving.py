"""Eight visitors on two cores (#22): uploads that arrive together share one forward pass, a heatmap
never keeps the others from their probabilities, and a training started by the dashboard yields
the CPU to the server."""

from __future__ import annotations

import io
import os
import sys
import threading

import numpy as np
import pytest
from PIL import Image

from skinml import runs, settings
from skinml.errors import SkinmlError

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


@pytest.fixture(scope="module")
def tiny():
    """A small untrained skinml_resnet classifier (48 px)."""
    import keras

    from skinml.cnn.classifier import Classifier
    from skinml.cnn.models import build_model

    keras.utils.set_random_seed(0)
    model = build_model("skinml_resnet", image_size=48, widths=(8, 16))
    return Classifier(model=model, info={"name": "skinml_resnet", "image_size": 48, "threshold": 0.5})


def jpeg(seed: int) -> bytes:
    from skinml.data.synthetic import make_lesion

    buffer = io.BytesIO()
    Image.fromarray(make_lesion(seed % 2 == 1, 96, seed=seed)).save(buffer, format="JPEG")
    return buffer.getvalue()


def in_threads(function, n: int) -> list:
    """`function(k)` for k < n, each in its own thread, started together; their results in order."""
    results = [None] * n
    threads = [threading.Thread(target=lambda k=k: results.__setitem__(k, function(k))) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_eight_concurrent_uploads_share_forward_passes_and_get_their_own_answers(tiny):
    """Each upload's eight views (TTA) go into one batch with the other visitors' views."""
    from skinml.predict import predict_upload

    photos = [jpeg(k) for k in range(8)]
    alone = [predict_upload(tiny, data, f"p{k}.jpg", heatmap=False) for k, data in enumerate(photos)]
    tiny.batcher.calls = tiny.batcher.requests = 0
    together = in_threads(lambda k: predict_upload(tiny, photos[k], f"p{k}.jpg", heatmap=False), 8)
    for a, b in zip(alone, together):
        assert b.p_malignant == pytest.approx(a.p_malignant, abs=1e-6)
        np.testing.assert_allclose(b.views, a.views, atol=1e-6)
    assert tiny.batcher.requests == 8 and tiny.batcher.calls < 8


def test_a_heatmap_in_progress_does_not_hold_up_the_predictions(tiny):
    """Grad-CAM held the predictions' lock: eight visitors' heatmaps (3 s each) queued every probability."""
    entered, release = threading.Event(), threading.Event()
    heatmap = threading.Thread(target=tiny.with_model, args=(lambda model: (entered.set(), release.wait(300)),))
    heatmap.start()
    try:
        assert entered.wait(60)
        x = np.random.default_rng(0).random((2, 48, 48, 3), dtype="float32")
        predicted = []
        visitor = threading.Thread(target=lambda: predicted.append(tiny.predict_proba(x, tta=True)))
        visitor.start()
        visitor.join(60)  # the heatmap holds its model until released (300 s): the probability does not wait
        assert predicted and predicted[0].shape == (2, 2) and heatmap.is_alive()
    finally:
        release.set()
        heatmap.join(60)


def test_a_heatmap_pauses_between_its_batches_while_predictions_wait():
    """Integrated gradients' batches filled TensorFlow's thread pool ahead of the visitors' probabilities."""
    from skinml.cnn.batcher import MicroBatcher, yield_to_predictions, yielding_to

    running, release = threading.Event(), threading.Event()

    def forward(images, features, batch_size):
        running.set()
        release.wait(60)
        return images.reshape(len(images), -1)

    batcher = MicroBatcher(forward, threading.Lock())
    yield_to_predictions()  # outside `yielding_to`: returns at once
    visitor = threading.Thread(target=batcher, args=(np.zeros((2, 3)),))
    visitor.start()
    assert running.wait(60)
    done = []

    def between_two_batches():
        with yielding_to(batcher):
            yield_to_predictions()
        done.append(batcher.calls)  # the prediction's forward pass had finished

    paused = threading.Thread(target=between_two_batches)
    paused.start()
    paused.join(0.5)
    release.set()
    visitor.join(60)
    paused.join(60)
    assert done == [1]


def test_the_slow_parts_of_a_page_wait_while_another_visitors_photo_is_answered():
    """With eight visitors, the others' diagnosis, heatmap and outline held the two cores while a visitor
    waited for the probability (p95 6 s): they now start once no photo is being answered, or after at most
    a bound, so that a stream of uploads never starves them."""
    import time

    from skinml.app.explain_ui import after_the_answers, answering

    t = time.perf_counter()
    after_the_answers()  # nothing being answered: at once
    assert time.perf_counter() - t < 0.5
    started, release, order = threading.Event(), threading.Event(), []

    def answer():
        with answering():
            started.set()
            release.wait(60)
            order.append("answered")

    def slow_part():
        after_the_answers()
        order.append("heatmap")

    visitor = threading.Thread(target=answer)
    visitor.start()
    assert started.wait(60)
    other = threading.Thread(target=slow_part)
    other.start()
    other.join(0.5)
    assert order == []  # still waiting
    release.set()
    visitor.join(60)
    other.join(60)
    assert order == ["answered", "heatmap"]

    release.clear()
    started.clear()
    visitor = threading.Thread(target=answer)
    visitor.start()
    assert started.wait(60)
    t = time.perf_counter()
    after_the_answers(at_most_s=0.3)  # bounded: a photo answered forever does not stop the others' pages
    assert 0.25 < time.perf_counter() - t < 5
    release.set()
    visitor.join(60)


def test_heatmaps_on_the_explanation_copy_equal_those_of_the_model(tiny):
    from skinml.explain.gradcam import grad_cam
    from skinml.explain.trust import method_maps

    image = np.asarray(Image.open(io.BytesIO(jpeg(3))).resize((48, 48)))
    np.testing.assert_array_equal(tiny.with_model(grad_cam, image, class_index=1),
                                  grad_cam(tiny.model, image, class_index=1))
    shared, bare = method_maps(tiny, image, 1, ["gradcam"]), method_maps(tiny.model, image, 1, ["gradcam"])
    np.testing.assert_array_equal(shared["Grad-CAM"], bare["Grad-CAM"])


def started(run_dir) -> int:
    """The pid of the run's process once it runs its command (`nice` has replaced itself with it)."""
    import time
    from pathlib import Path

    pid = int((run_dir / "pid").read_text())
    for _ in range(600):
        if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0] == sys.executable.encode():
            return pid
        time.sleep(0.1)
    raise AssertionError("the child never started its command")


def test_a_training_started_by_the_dashboard_runs_at_a_lower_cpu_priority(tmp_path, launched):
    launched.append(runs.launch(SLEEPER, tmp_path / "run", owner="alice"))
    child = started(tmp_path / "run")
    server = os.getpriority(os.PRIO_PROCESS, 0)
    assert os.getpriority(os.PRIO_PROCESS, child) == min(19, server + settings.training_niceness()) > server


def test_training_niceness_is_a_setting(monkeypatch, tmp_path, launched):
    monkeypatch.setenv("SKINML_TRAINING_NICE", "0")
    launched.append(runs.launch(SLEEPER, tmp_path / "run"))
    child = started(tmp_path / "run")
    assert os.getpriority(os.PRIO_PROCESS, child) == os.getpriority(os.PRIO_PROCESS, 0)
    for wrong in ("20", "-1", "low"):
        monkeypatch.setenv("SKINML_TRAINING_NICE", wrong)
        with pytest.raises(SkinmlError, match="SKINML_TRAINING_NICE"):
            settings.training_niceness()


def test_tensorflow_threads_default_to_the_cores_the_server_may_use(monkeypatch):
    monkeypatch.delenv("SKINML_TF_THREADS", raising=False)
    assert settings.tf_threads() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("SKINML_TF_THREADS", "3")
    assert settings.tf_threads() == 3
    monkeypatch.setenv("SKINML_TF_THREADS", "0")
    with pytest.raises(SkinmlError, match="SKINML_TF_THREADS"):
        settings.tf_threads()


def test_the_server_keeps_keras_state_and_skips_the_full_collection_after_each_page_run(monkeypatch):
    """Streamlit ended every visitor's page run with `keras.backend.clear_session()` (a full garbage
    collection, TensorFlow's kernel caches emptied) and another full collection: with eight visitors
    that held the interpreter for three quarters of the server's busy time (py-spy)."""
    import tomllib
    from pathlib import Path

    import keras
    from streamlit.runtime.scriptrunner import script_runner

    from skinml.app import server

    monkeypatch.setattr(script_runner, "_clean_problem_modules", script_runner._clean_problem_modules)  # restored
    resets = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *a, **kw: resets.append(1))
    script_runner._clean_problem_modules()
    assert resets == [1]  # Streamlit's own clean-up resets Keras
    server.keep_keras_state()
    script_runner._clean_problem_modules()
    assert resets == [1]  # the server's does not
    config = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False


def test_the_server_limits_glibcs_heaps_unless_the_operator_did(monkeypatch):
    """Each visitor's page runs in a thread of its own, and glibc gave busy threads heaps of their own:
    8 visitors took the server to 2.23 GB, 2.00 GB with two heaps (MALLOC_ARENA_MAX=2)."""
    import platform

    from skinml.app import server

    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert server.limit_malloc_arenas() is False  # the operator's setting stands
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    if platform.libc_ver()[0] == "glibc":
        assert server.limit_malloc_arenas() is True
