"""The GAN's train_step for the JAX backend: pure, so that `fit` jit-compiles it into one call.

State in and state out, as Keras's JAX trainer wants: (trainable, non-trainable, optimizer,
metrics) value lists. The model's generator, discriminator, EMA generator, seed generator
and both Adam optimizers' variables are found in those lists by identity once, at trace time.
"""

from __future__ import annotations

import jax
import keras
from keras import ops

from skinml.gan.losses import discriminator_loss, generator_loss


def _index(model, attr: str) -> dict[int, int]:
    return {id(v): i for i, v in enumerate(getattr(model, attr))}


def _slots(gan) -> dict:
    """Positions of each part's variables in the model's trainable/non-trainable lists."""
    if getattr(gan, "_jax_slots", None) is None:
        t, n = _index(gan, "trainable_variables"), _index(gan, "non_trainable_variables")
        pick = lambda idx, vs: [idx[id(v)] for v in vs]
        gan._jax_slots = {
            "g_t": pick(t, gan.generator.trainable_variables),
            "g_n": pick(n, gan.generator.non_trainable_variables),
            "d_t": pick(t, gan.discriminator.trainable_variables),
            "d_n": pick(n, gan.discriminator.non_trainable_variables),
            "e": pick(n, gan.ema_generator.weights) if gan.ema_generator is not None else [],
            "g_w": [("t", t[id(v)]) if id(v) in t else ("n", n[id(v)]) for v in gan.generator.weights],
            "seed": n[id(gan.seed_generator.state)],
            "g_opt": pick(n, gan.g_optimizer.variables),
            "d_opt": pick(n, gan.d_optimizer.variables),
        }
    return gan._jax_slots


def jax_train_step(gan, state, data):
    s, slot = gan.spec, _slots(gan)
    tv, ntv, opt_vars, metric_vars = state
    tv, ntv = list(tv), list(ntv)
    take = lambda vals, idx: [vals[i] for i in idx]
    G, D = gan.generator, gan.discriminator

    real, labels = gan._prepare(data)
    with keras.StatelessScope(state_mapping=[(gan.seed_generator.state, ntv[slot["seed"]])]) as scope:
        z_d, z_g, real, fake_labels = gan._draw(real, labels)
    ntv[slot["seed"]] = scope.get_current_value(gan.seed_generator.state)

    g_t, g_n = take(tv, slot["g_t"]), take(ntv, slot["g_n"])
    d_t, d_n = take(tv, slot["d_t"]), take(ntv, slot["d_n"])

    # ---- discriminator step
    fake, g_n = G.stateless_call(g_t, g_n, gan._g_in(z_d, labels), training=True)
    fake = jax.lax.stop_gradient(fake)

    def d_objective(d_t, d_n):
        def real_sum(images, d_n):
            logits, d_n = D.stateless_call(d_t, d_n, gan._d_in(images, labels), training=True)
            return ops.sum(logits), (logits, d_n)

        if s.r1_gamma:
            grad, (real_logits, d_n) = jax.grad(real_sum, has_aux=True)(real, d_n)
            r1 = ops.mean(ops.sum(ops.square(grad), axis=(1, 2, 3)))
        else:
            _, (real_logits, d_n) = real_sum(real, d_n)
            r1 = ops.zeros(())
        fake_logits, d_n = D.stateless_call(d_t, d_n, gan._d_in(fake, labels), training=True)
        d_loss = discriminator_loss(s.loss, real_logits, fake_logits)
        return d_loss + 0.5 * s.r1_gamma * r1, (d_n, d_loss, r1, real_logits, fake_logits)

    grads, (d_n, d_loss, r1, real_logits, fake_logits) = jax.grad(d_objective, has_aux=True)(d_t, d_n)
    d_t, d_opt = gan.d_optimizer.stateless_apply(take(ntv, slot["d_opt"]), grads, d_t)

    # ---- generator step, against the updated discriminator
    def g_objective(g_t, g_n, d_n):
        fake, g_n = G.stateless_call(g_t, g_n, gan._g_in(z_g, fake_labels), training=True)
        logits, d_n = D.stateless_call(d_t, d_n, gan._d_in(fake, fake_labels), training=True)
        return generator_loss(s.loss, logits), (g_n, d_n)

    (g_loss, (g_n, d_n)), grads = jax.value_and_grad(g_objective, has_aux=True)(g_t, g_n, d_n)
    g_t, g_opt = gan.g_optimizer.stateless_apply(take(ntv, slot["g_opt"]), grads, g_t)

    for idx, vals in (("g_t", g_t), ("d_t", d_t)):
        for i, v in zip(slot[idx], vals):
            tv[i] = v
    for idx, vals in (("g_n", g_n), ("d_n", d_n), ("g_opt", g_opt), ("d_opt", d_opt)):
        for i, v in zip(slot[idx], vals):
            ntv[i] = v
    if slot["e"]:
        from skinml.gan.losses import ema_decay_at

        d = ema_decay_at(s.ema_decay, g_opt[0])  # the optimizer's first variable is its iteration count
        for i, (kind, j) in zip(slot["e"], slot["g_w"]):
            g = tv[j] if kind == "t" else ntv[j]
            ntv[i] = d * ntv[i] + (1.0 - d) * g

    values = {"d_loss": d_loss, "g_loss": g_loss, "r1": r1,
              "d_real": ops.mean(real_logits), "d_fake": ops.mean(fake_logits)}
    logs, new_metric_vars, k = {}, [], 0
    for metric in gan.metrics:
        mv = metric_vars[k:k + len(metric.variables)]
        k += len(metric.variables)
        mv = metric.stateless_update_state(mv, values[metric.name])
        logs[metric.name] = metric.stateless_result(mv)
        new_metric_vars += list(mv)
    return logs, (tv, ntv, opt_vars, new_metric_vars)


def device_state(gan) -> tuple:
    """The model's variables as the (trainable, non-trainable, optimizer, metrics) value lists."""
    return ([v.value for v in gan.trainable_variables], [v.value for v in gan.non_trainable_variables],
            [v.value for v in gan.optimizer.variables], [v.value for m in gan.metrics for v in m.variables])


def load_device_state(gan, state) -> None:
    """Write a state from `train_on_device` back into the model's variables (to save or sample)."""
    for variables, values in ((gan.trainable_variables, state[0]), (gan.non_trainable_variables, state[1])):
        for v, value in zip(variables, values):
            v.assign(value)


def train_on_device(gan, images, labels=None, seconds: float = 60.0, steps_per_call: int = 100, seed: int = 0):
    """Train `gan` with the whole image set on the accelerator, for about `seconds`.

    The uint8 images (N, H, W, 3) are copied to the device once; each jitted step draws its
    random batch there (with replacement), so no image crosses the host link during training
    and steps are queued without waiting (JAX dispatches asynchronously). After every
    `steps_per_call` steps it yields `(state, logs, images_seen, seconds)`, logs being the
    mean losses of those steps; the caller keeps the generator (`load_device_state`) when it
    likes and may stop early. (A `lax.scan` over steps would save dispatches but runs the
    convolutions many times slower on XLA's CPU backend.)
    """
    import time

    import jax
    import jax.numpy as jnp

    x = jax.device_put(images)
    y = jax.device_put(jnp.asarray(labels if labels is not None else jnp.zeros(len(images)), "int32"))
    n, batch = len(images), gan.spec.batch_size

    @jax.jit
    def step(state, key):
        idx = jax.random.randint(key, (batch,), 0, n)
        data = (x[idx], y[idx]) if gan.spec.conditional else (x[idx],)
        logs, state = jax_train_step(gan, state, data)
        return state, logs

    state, key, seen, start = device_state(gan), jax.random.key(seed), 0, time.time()
    while True:
        t0 = time.time()
        tv, ntv, ov, mv = state
        state = (tv, ntv, ov, [jnp.zeros_like(v) for v in mv])  # logs: the mean of these steps
        key, *keys = jax.random.split(key, steps_per_call + 1)
        for k in keys:
            state, logs = step(state, k)
        logs = {k: float(v) for k, v in logs.items()}  # waits for the queued steps
        call_seconds = time.time() - t0
        seen += steps_per_call * batch
        yield state, logs, seen, call_seconds
        if time.time() - start + call_seconds > seconds:
            return
