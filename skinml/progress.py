"""One progress hook for the CLI and the dashboard: `on_progress(fraction, logs)`."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

OnProgress = Callable[[float, dict], None]


def __getattr__(name: str):
    # ProgressCallback subclasses a Keras class; building it on first use keeps commands
    # that never train (data scan, predict --help) free of the Keras/TensorFlow import.
    if name == "ProgressCallback":
        return _progress_callback_class()
    raise AttributeError(name)


@cache
def _progress_callback_class():
    import keras

    class ProgressCallback(keras.callbacks.Callback):
        """Reports `on_progress(fraction_done, logs)` after every batch and epoch of `fit`."""

        def __init__(self, on_progress: OnProgress, epochs: int, steps_per_epoch: int | None,
                     initial_epoch: int = 0):
            super().__init__()
            self.on_progress = on_progress
            self.epochs = max(1, epochs)
            self.steps = steps_per_epoch or 1
            self.epoch = initial_epoch

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            done = (self.epoch + min(1.0, (batch + 1) / self.steps)) / self.epochs
            self.on_progress(min(done, 1.0), dict(logs or {}, epoch=self.epoch + 1))

        def on_epoch_end(self, epoch, logs=None):
            self.on_progress(min((epoch + 1) / self.epochs, 1.0), dict(logs or {}, epoch=epoch + 1))

    return ProgressCallback


def tqdm_progress(total: int = 100, desc: str = "", file=None) -> tuple[OnProgress, Callable[[], None]]:
    """An `on_progress` that draws a tqdm bar on stderr (or `file`) with the time spent and the
    time left (from the average pace so far), and a function that closes it."""
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit="%", leave=False, file=file, smoothing=0, mininterval=0,
               bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed} spent, about {remaining} left{postfix}")

    def on_progress(fraction: float, logs: dict) -> None:
        shown = {k: f"{v:.3f}" for k, v in logs.items() if isinstance(v, float)}
        bar.set_postfix(shown, refresh=False)
        bar.update(max(0, round(fraction * total) - bar.n))  # update, not n =: tqdm's pace needs it
        bar.refresh()

    return on_progress, bar.close
