"""Data-parallel training with Keras's own engines: the same loop on one device or several.

Under JAX, `keras.distribution.DataParallel` replicates the variables on every device and
splits each batch between them inside one compiled program; under TensorFlow,
`tf.distribute.MirroredStrategy` does the same with one replica per device. Either way the
global batch is the configured batch size, so the loss, the gradients and the schedule are
those of one device (a batch norm layer averages over the replica's share of the batch under
TensorFlow, over the whole batch under JAX). For several machines, see the README (multi-host
JAX, or TensorFlow's `MultiWorkerMirroredStrategy`).
"""

from __future__ import annotations

import contextlib

from skinml.errors import SkinmlError


def visible_devices() -> list[str]:
    """The accelerators if there are any, else the CPUs, as Keras lists them."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        return [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    devices = keras.distribution.list_devices()
    accelerators = [d for d in devices if not d.lower().startswith("cpu")]
    return accelerators or devices


@contextlib.contextmanager
def data_parallel(devices: int = 1, batch_size: int | None = None):
    """Build, compile and fit the model inside this context to train on `devices` devices
    (1: as usual; 0: every visible device). Yields the number of devices used."""
    import keras

    if devices == 1:
        yield 1
        return
    names = visible_devices()
    n = len(names) if devices == 0 else devices
    if n > len(names):
        raise SkinmlError(f"{n} devices asked for, but this machine shows {len(names)}: {', '.join(names)}.")
    if batch_size is not None and batch_size % n:
        raise SkinmlError(f"The batch size ({batch_size}) must split evenly over {n} devices.")
    backend = keras.backend.backend()
    if backend == "jax":
        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=names[:n]))
        try:
            yield n
        finally:
            keras.distribution.set_distribution(previous)
    elif backend == "tensorflow":
        import tensorflow as tf

        with tf.distribute.MirroredStrategy(devices=names[:n]).scope():
            yield n
    else:
        raise SkinmlError(f"Training on several devices needs the JAX or TensorFlow backend, not {backend}.")
