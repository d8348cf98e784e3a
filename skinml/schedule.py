"""The learning rate of every optimizer step, and the epochs that fit a time budget: one schedule for
the classifier's runs (`skinml.cnn.train`) and the segmenter's (`skinml.segment.train`).

A config here is either run's: it has `learning_rate`, `warmup_epochs`, `epochs` and
`time_budget` (seconds, 0 = none), and may have `schedule` ("constant" or "cosine"; a config
without one, the segmenter's, is cosine).
"""

from __future__ import annotations

import math
import time


def learning_rate_at(config, step: int, total_steps: int, steps_per_epoch: int) -> float:
    """The learning rate of optimizer step `step` (from 0) of `total_steps`.

    constant: the configured rate. cosine: a linear warm-up from 1% over `warmup_epochs`,
    then half a cosine down to 1% of the rate at the last step.
    """
    base = config.learning_rate
    if getattr(config, "schedule", "cosine") == "constant":
        return base
    warmup = min(config.warmup_epochs * steps_per_epoch, max(0, total_steps - 1))
    if step < warmup:
        return base * (0.01 + 0.99 * step / warmup)
    t = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return base * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))


def plan_epochs(config, done: int, seconds_so_far: float, recent: list[float]) -> int:
    """How many epochs the run has in all under its time budget: those done, and as many
    more as fit in the time left at the mean pace of the `recent` epochs (never more than
    the configured epochs, never fewer than those done)."""
    if not config.time_budget:
        return config.epochs
    pace = sum(recent) / len(recent)
    return max(done, min(config.epochs, done + int((config.time_budget - seconds_so_far) / pace)))


def make_schedule_callback(config, steps_per_epoch: int, state: dict, log):
    """A Keras callback that sets the learning rate before every batch, and fits the run to its
    time budget.

    The schedule spans `state["planned_epochs"]` (the configured epochs, or fewer when the
    time budget says so: after each epoch, the epochs that fit in the time left at the pace
    of the last epochs, this session's first one left out as it includes compiling). It reads
    the step from the optimizer, so a resumed run continues the same curve. `state` also
    gets "train_seconds"; `log(text)` is told when the plan changes.
    """
    import keras

    class ScheduleCallback(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times: list[float] = []  # per instance: a class-level list was shared by every run in a process

        def on_train_batch_begin(self, batch, logs=None):
            step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
            total = state.get("planned_epochs", config.epochs) * steps_per_epoch
            self.model.optimizer.learning_rate.assign(learning_rate_at(config, step, total, steps_per_epoch))

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.started)
            state["train_seconds"] = round(state.get("train_seconds", 0.0) + self.times[-1], 1)
            done = epoch + 1
            if not config.time_budget:
                return
            recent = self.times[1:][-3:] or self.times[-1:]  # this session's first epoch includes compiling
            planned = plan_epochs(config, done, state["train_seconds"], recent)
            if planned != state.get("planned_epochs", config.epochs):
                log(f"time budget: {planned} epochs in all ({sum(recent) / len(recent):.1f} s each)")
            state["planned_epochs"] = planned
            if done >= planned:
                self.model.stop_training = True

    return ScheduleCallback()
