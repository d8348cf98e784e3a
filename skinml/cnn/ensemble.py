"""Several trained networks joined as one Keras model whose logit is the mean of theirs.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

# ---- Ensembles -------------------------------------------------------------------------------

def ensemble(members: list[keras.Model], name: str = "skinml_ensemble") -> keras.Model:
    """One model whose logit is the mean of the members' logits (skinml designs, one input size).

    The members' convolutional trunks run side by side on the shared input, their layers
    renamed `member1_...`, `member2_...`; their last feature maps are concatenated into one
    layer, `features`, and one head (global average pooling, then a logit whose weights are
    the members' weights, each divided by its temperature and by the number of members) gives
    exactly the mean of the members' logits. So the ensemble saves, loads, calibrates and
    explains like a single model: Grad-CAM on `features` is the ensemble's Grad-CAM.
    """
    if len(members) < 2 or len({m.input_shape for m in members}) != 1:
        raise ValueError("An ensemble needs two or more models with the same input shape.")
    inputs = keras.Input(members[0].input_shape[1:], name="image")
    trunks, kernels, biases = [], [], []
    for i, member in enumerate(members, start=1):
        trunk = keras.Model(member.input, member.get_layer("gap").input)  # everything before pooling

        def renamed(layer, prefix=f"member{i}_"):
            return layer.__class__.from_config({**layer.get_config(), "name": prefix + layer.name})

        copy = keras.models.clone_model(trunk, input_tensors=inputs, clone_function=renamed)
        copy.set_weights(trunk.get_weights())
        trunks.append(copy.output)
        scale = member.get_layer("temperature").get_config()["scale"]  # 1 / temperature
        kernel, bias = member.get_layer("logit").get_weights()
        kernels.append(kernel * scale / len(members))
        biases.append(bias * scale / len(members))
    x = layers.Concatenate(name="features")(trunks)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(members[0].get_layer("head_dropout").rate, name="head_dropout")(x)
    units = members[0].get_layer("logit").units  # 1 (p(malignant)) or one per class
    activation = members[0].get_layer("output").get_config()["activation"]  # sigmoid or softmax
    logit = layers.Dense(units, name="logit")
    x = logit(x)
    x = layers.Rescaling(1.0, name="temperature")(x)
    model = keras.Model(inputs, layers.Activation(activation, name="output", dtype="float32")(x), name=name)
    logit.set_weights([np.concatenate(kernels), np.sum(biases, axis=0)])
    return model


def ensemble_size(model: keras.Model) -> int:
    """How many networks `model` joins: the members of a model made by `ensemble`, else 1.

    An ensemble is recognised by its structure, not its name: a `features` layer that
    concatenates the members' last feature maps, one input per member.
    """
    try:
        features = model.get_layer("features")
    except ValueError:
        return 1
    return len(features.input) if isinstance(features, layers.Concatenate) else 1
