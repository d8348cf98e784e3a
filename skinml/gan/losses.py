"""GAN losses and the generator's moving-average schedule, in `keras.ops` (any backend).
"""

from __future__ import annotations

from keras import ops


def discriminator_loss(kind: str, real, fake):
    """Mean D loss from real and fake logits (float (B, 1))."""
    if kind == "hinge":
        return ops.mean(ops.relu(1.0 - real)) + ops.mean(ops.relu(1.0 + fake))
    # bce == nonsat for D: -log sigmoid(real) - log(1 - sigmoid(fake))
    return ops.mean(ops.softplus(-real)) + ops.mean(ops.softplus(fake))


def generator_loss(kind: str, fake):
    """Mean G loss: "fake judged real" (bce/nonsat: -log sigmoid(D(G(z)))), hinge: -D(G(z))."""
    return -ops.mean(fake) if kind == "hinge" else ops.mean(ops.softplus(-fake))


def ema_decay_at(decay: float, step):
    """The EMA decay after `step` generator updates: min(decay, (1 + t) / (10 + t)).

    A fixed 0.999 would keep the average near the random initial weights for the first few
    thousand steps; warming it up lets short runs (a CPU budget) sample a useful generator.
    """
    t = ops.cast(step, "float32")
    return ops.minimum(decay, (1.0 + t) / (10.0 + t))
