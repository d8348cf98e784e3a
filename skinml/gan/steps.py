"""The `GAN` keras.Model: one compiled training step, written once per backend (TF and JAX).

Keras 3 has no backend-agnostic way to write a two-optimizer `train_step`, so the step is
written twice over the same `keras.ops` losses: with `tf.GradientTape` for TensorFlow (as in
the keras.io DCGAN example) and functionally with `stateless_call` + `jax.grad` for JAX (as
in Keras's "custom train_step in JAX" guide), where `fit` jit-compiles it into one XLA call.
Each step: draw latents, update D on real + fake (with the loss and R1 penalty the spec
names), then update G against the updated D, then the generator's moving average (EMA).
The two Adam optimizers' variables are tracked by the model, so they live in the JAX state
and in `save_weights` (which is what makes training resumable).
"""

from __future__ import annotations

import keras
from keras import ops

from skinml.gan.losses import discriminator_loss, ema_decay_at, generator_loss


class GAN(keras.Model):
    """Generator + discriminator (+ EMA generator) trained adversarially by `fit`.

    `fit(x=images)` or, when conditional, `fit(x=images, y=labels)`: images uint8 or float32
    (N, H, W, 3) ([0, 255] or [0, 1]), labels int (N,) 0/1. Logs `d_loss`, `g_loss`, `r1`,
    `d_real` and `d_fake` (mean logits).
    """

    def __init__(self, generator, discriminator, spec, ema_generator=None, seed: int | None = None, **kw):
        super().__init__(name=f"{spec.name}_gan", **kw)
        self.generator, self.discriminator, self.spec = generator, discriminator, spec
        self.ema_generator = ema_generator
        if ema_generator is not None:
            ema_generator.set_weights(generator.get_weights())
            ema_generator.trainable = False
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = {n: keras.metrics.Mean(name=n) for n in ("d_loss", "g_loss", "r1", "d_real", "d_fake")}
        self.built = True  # all parts are built functional models; `fit` must not call us to build

    def compile(self, **kwargs):
        s = self.spec
        self.g_optimizer = keras.optimizers.Adam(s.g_lr, beta_1=s.beta_1, beta_2=s.beta_2, name="g_adam")
        self.d_optimizer = keras.optimizers.Adam(s.d_lr, beta_1=s.beta_1, beta_2=s.beta_2, name="d_adam")
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)
        # Tracked, so that they are part of the model's state (JAX) and of save_weights.
        self.optimizer_state = list(self.g_optimizer.variables) + list(self.d_optimizer.variables)
        # Keras's trainers expect one `optimizer`; ours are the two above, so this one is an
        # inert placeholder (plain SGD has no slot variables and is never applied).
        super().compile(optimizer=keras.optimizers.SGD(0.0, name="unused"), **kwargs)

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, inputs, training=False):
        return self.sampler(inputs, training=training)

    @property
    def sampler(self) -> keras.Model:
        """The generator to sample from: the EMA one when the spec keeps one."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    # ---- shared pieces ---------------------------------------------------------------------

    def _prepare(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        if isinstance(x, (tuple, list)):
            x, y = x[0], (x[1] if len(x) > 1 else y)
        real = ops.cast(x, "float32")
        if "int" in keras.backend.standardize_dtype(x.dtype):
            real = real / 255.0
        labels = ops.reshape(ops.cast(y, "int32"), (-1, 1)) if self.spec.conditional else None
        return real, labels

    def _draw(self, real, labels):
        """Latents for the D and G steps, G's labels, and randomly flipped/transposed reals."""
        b = ops.shape(real)[0]
        z_d = keras.random.normal((b, self.spec.latent_dim), seed=self.seed_generator)
        z_g = keras.random.normal((b, self.spec.latent_dim), seed=self.seed_generator)
        fake_labels = labels
        if self.spec.conditional:  # G's labels for its own step: the data's labels, shuffled
            fake_labels = keras.random.shuffle(labels, seed=self.seed_generator)
        if self.spec.flips:
            coin = keras.random.uniform((3, b, 1, 1, 1), seed=self.seed_generator) < 0.5
            real = ops.where(coin[0], ops.flip(real, axis=1), real)
            real = ops.where(coin[1], ops.flip(real, axis=2), real)
            if real.shape[1] == real.shape[2]:
                real = ops.where(coin[2], ops.transpose(real, (0, 2, 1, 3)), real)
        return z_d, z_g, real, fake_labels

    def _g_in(self, z, labels):
        return [z, labels] if self.spec.conditional else z

    def _d_in(self, images, labels):
        return [images, labels] if self.spec.conditional else images

    def _logs(self, values: dict) -> dict:
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: t.result() for name, t in self.trackers.items()}

    # ---- per backend -----------------------------------------------------------------------

    def train_step(self, *args):
        if keras.backend.backend() == "jax":
            from skinml.gan.steps_jax import jax_train_step
            return jax_train_step(self, *args)
        if keras.backend.backend() == "tensorflow":
            return self._tf_train_step(*args)
        raise NotImplementedError("GAN training needs the TensorFlow or the JAX backend.")

    def _tf_train_step(self, data):
        import tensorflow as tf

        s = self.spec
        real, labels = self._prepare(data)
        z_d, z_g, real, fake_labels = self._draw(real, labels)
        fake = self.generator(self._g_in(z_d, labels), training=True)
        with tf.GradientTape() as tape:
            with tf.GradientTape() as r1_tape:
                r1_tape.watch(real)
                real_logits = self.discriminator(self._d_in(real, labels), training=True)
                real_sum = ops.sum(real_logits)
            fake_logits = self.discriminator(self._d_in(fake, labels), training=True)
            d_loss = discriminator_loss(s.loss, real_logits, fake_logits)
            r1 = ops.zeros(())
            if s.r1_gamma:
                grad = r1_tape.gradient(real_sum, real)
                r1 = ops.mean(ops.sum(ops.square(grad), axis=(1, 2, 3)))
            total = d_loss + 0.5 * s.r1_gamma * r1
        grads = tape.gradient(total, self.discriminator.trainable_variables)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_variables))

        with tf.GradientTape() as tape:
            fake = self.generator(self._g_in(z_g, fake_labels), training=True)
            g_loss = generator_loss(s.loss, self.discriminator(self._d_in(fake, fake_labels), training=True))
        grads = tape.gradient(g_loss, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))

        if self.ema_generator is not None:
            d = ema_decay_at(s.ema_decay, self.g_optimizer.iterations)
            for e, g in zip(self.ema_generator.weights, self.generator.weights):
                e.assign(d * e + (1.0 - d) * g)
        return self._logs({"d_loss": d_loss, "g_loss": g_loss, "r1": r1,
                           "d_real": ops.mean(real_logits), "d_fake": ops.mean(fake_logits)})
