"""GAN training speed: images/second of one compiled GAN step (fit) against a plain DCGAN loop.

For each model, `fit` on random uint8 images for `--steps` batches per epoch; the second
epoch is timed (the first compiles). Two baselines with the same thesis_dcgan layers, each a
`tf.function` step in a Python loop over NumPy batches (TensorFlow backend only):
- keras.io style (the keras.io DCGAN example): update D on real + fake, then draw new
  latents and update G against the updated D. Our step does the same work (plus random
  flips of the real images), so this is the like-for-like comparison;
- TF tutorial style (the thesis's way): one generator pass, both updates from the same
  forward pass (simultaneous, not alternating): less work per step.
Prints one line per measurement.
"""

from __future__ import annotations

import time

import numpy as np


def add_arguments(parser) -> None:
    parser.add_argument("--models", default="thesis_dcgan,skinml_gan", help="comma-separated GAN names")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=0, help="0: each model's own")
    parser.add_argument("--steps", type=int, default=10, help="batches per timed epoch")
    parser.add_argument("--width", type=float, default=1.0)


def time_fit(name: str, image_size: int, batch_size: int, steps: int, width: float = 1.0) -> float:
    """Images/second of `fit` on the GAN `name` (second epoch of `steps` batches)."""
    import keras

    from skinml.gan.models import build_gan

    gan = build_gan(name, image_size=image_size, width=width, batch_size=batch_size or None)
    b = gan.spec.batch_size
    x = np.random.default_rng(0).integers(0, 256, (b * steps, image_size, image_size, 3), dtype="uint8")
    y = np.arange(len(x)) % 2
    times = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            float(logs["d_loss"])  # waits for the device
            times.append(time.perf_counter() - self.t0)

    gan.fit(x, y if gan.spec.conditional else None, batch_size=b, epochs=2, verbose=0, callbacks=[Clock()],
            shuffle=False)
    return len(x) / times[-1]


def time_plain_dcgan(image_size: int, batch_size: int, steps: int, style: str = "keras_io") -> float:
    """Images/second of a plain DCGAN loop with the thesis's layers (TensorFlow only).

    style "keras_io": alternating D then G updates (two generator passes); "tutorial": the
    TensorFlow tutorial's simultaneous update from one generator pass.
    """
    import keras
    import tensorflow as tf

    from skinml.gan.models import build_thesis_dcgan, spec_for

    spec = spec_for("thesis_dcgan", image_size=image_size)
    g, d = build_thesis_dcgan(spec)
    g_opt, d_opt = keras.optimizers.Adam(1e-4), keras.optimizers.Adam(1e-4)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)

    @tf.function
    def keras_io_step(images):
        b = tf.shape(images)[0]
        fake = g(tf.random.normal([b, spec.latent_dim]), training=True)
        with tf.GradientTape() as dt:
            real_out, fake_out = d(images, training=True), d(fake, training=True)
            d_loss = bce(tf.ones_like(real_out), real_out) + bce(tf.zeros_like(fake_out), fake_out)
        d_opt.apply_gradients(zip(dt.gradient(d_loss, d.trainable_variables), d.trainable_variables))
        with tf.GradientTape() as gt:
            fake_out = d(g(tf.random.normal([b, spec.latent_dim]), training=True), training=True)
            g_loss = bce(tf.ones_like(fake_out), fake_out)
        g_opt.apply_gradients(zip(gt.gradient(g_loss, g.trainable_variables), g.trainable_variables))
        return d_loss

    @tf.function
    def tutorial_step(images):
        noise = tf.random.normal([tf.shape(images)[0], spec.latent_dim])
        with tf.GradientTape() as gt, tf.GradientTape() as dt:
            fake = g(noise, training=True)
            real_out, fake_out = d(images, training=True), d(fake, training=True)
            g_loss = bce(tf.ones_like(fake_out), fake_out)
            d_loss = bce(tf.ones_like(real_out), real_out) + bce(tf.zeros_like(fake_out), fake_out)
        g_opt.apply_gradients(zip(gt.gradient(g_loss, g.trainable_variables), g.trainable_variables))
        d_opt.apply_gradients(zip(dt.gradient(d_loss, d.trainable_variables), d.trainable_variables))
        return d_loss

    step = keras_io_step if style == "keras_io" else tutorial_step
    x = np.random.default_rng(0).random((batch_size * steps, image_size, image_size, 3)).astype("float32")
    batches = [x[i:i + batch_size] for i in range(0, len(x), batch_size)]
    for batch in batches[:2]:
        step(batch)
    t0 = time.perf_counter()
    for batch in batches:
        loss = step(batch)
    float(loss)
    return len(x) / (time.perf_counter() - t0)


def run(args) -> int:
    import keras

    backend = keras.backend.backend()
    results = {}
    for name in args.models.split(","):
        results[name] = time_fit(name, args.image_size, args.batch_size, args.steps, args.width)
        print(f"{name} fit (one compiled GAN step, {backend}): {results[name]:.1f} images/s at {args.image_size} px")
    if "thesis_dcgan" in args.models and backend == "tensorflow":
        styles = (("keras_io", "keras.io style, alternating"), ("tutorial", "TF tutorial style, simultaneous"))
        for style, what in styles:
            ips = time_plain_dcgan(args.image_size, args.batch_size or 64, args.steps, style)
            print(f"thesis_dcgan plain tf.function loop ({what}): {ips:.1f} images/s at {args.image_size} px"
                  f" (skinml fit / this: {results['thesis_dcgan'] / ips:.2f})")
    return 0
