"""Model calls that arrive together share one forward pass: a small micro-batcher for a shared model.

Eight visitors uploading at once each asked the shared classifier for their eight views in turn,
and waited on its lock for the others' calls (18 s of a 24 s answer). With `MicroBatcher` a call
that finds the model busy leaves its images in a queue; whoever gets the model next runs every
queued request as one batch and hands each caller its own rows. One visitor alone waits at most
`window_s` longer; eight at once share two or three calls instead of eight.

A long computation on the same CPU (a heatmap: integrated gradients runs the model 32 times) calls
`yield_to_predictions()` between its batches; inside `yielding_to(batcher)` it waits there while
that batcher has requests queued or running, so that a visitor's probability never queues behind
another visitor's heatmap in TensorFlow's thread pool.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np


@dataclass
class _Request:
    images: np.ndarray
    features: np.ndarray | None
    batch_size: int
    done: threading.Event = field(default_factory=threading.Event)
    output: np.ndarray | None = None
    error: BaseException | None = None


class MicroBatcher:
    """Joins the calls of many threads to `forward(images, features, batch_size) -> (N, K)` into one.

    `lock` is the model's lock (the one `Classifier.with_model` holds too): the batch runs under it.
    `window_s`: how long the thread that runs a batch waits for requests on their way before it
    starts, when it found its own request alone in the queue. Every caller gets exactly the rows it
    would get alone (the model sees each image once, in a larger batch). `calls` counts forward
    passes, `requests` the requests served.
    """

    def __init__(self, forward: Callable, lock: threading.Lock, window_s: float = 0.005):
        self.forward, self.lock, self.window_s = forward, lock, window_s
        self.calls = self.requests = 0
        self._queue: list[_Request] = []
        self._queue_lock = threading.Lock()
        self._busy = 0  # requests queued or running
        self._idle = threading.Condition()

    def __call__(self, images: np.ndarray, features: np.ndarray | None = None, batch_size: int = 32) -> np.ndarray:
        with self._idle:
            self._busy += 1
        try:
            return self._answer(_Request(images, features, batch_size))
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no request is queued or running (at most `timeout_s`); whether it is so."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._busy, timeout_s)

    def _answer(self, request: _Request) -> np.ndarray:
        with self._queue_lock:
            self._queue.append(request)
        while not request.done.is_set():
            with self.lock:
                if request.done.is_set():  # a batch run by another thread answered it
                    break
                with self._queue_lock:
                    alone = len(self._queue) == 1
                if alone and self.window_s:
                    time.sleep(self.window_s)
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._run(batch)
        if request.error is not None:
            raise request.error
        return request.output

    def _run(self, batch: list[_Request]) -> None:
        try:
            images = np.concatenate([r.images for r in batch])
            features = None if batch[0].features is None else np.concatenate([r.features for r in batch])
            out = self.forward(images, features, max(r.batch_size for r in batch))
            self.calls += 1
            self.requests += len(batch)
            start = 0
            for r in batch:
                r.output = out[start:start + len(r.images)]
                start += len(r.images)
        except BaseException as exc:  # every caller of this batch gets the error, none waits forever
            for r in batch:
                r.error = exc
        finally:
            for r in batch:
                r.done.set()


_YIELD_TO: ContextVar[MicroBatcher | None] = ContextVar("yield_to", default=None)
YIELD_AT_MOST_S = 10.0  # a heatmap never waits longer than this at one pause, however busy the server


@contextmanager
def yielding_to(batcher: MicroBatcher):
    """Within this block (in this thread), `yield_to_predictions` waits for `batcher`'s requests."""
    token = _YIELD_TO.set(batcher)
    try:
        yield
    finally:
        _YIELD_TO.reset(token)


def yield_to_predictions() -> None:
    """Between the batches of a long computation: wait while the predictions of the batcher named
    by `yielding_to` are queued or running (at most YIELD_AT_MOST_S); outside it, return at once."""
    batcher = _YIELD_TO.get()
    if batcher is not None:
        batcher.wait_idle(YIELD_AT_MOST_S)
