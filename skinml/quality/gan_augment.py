"""GAN as data augmentation: the same classifier trained with and without generated images.

One seed's AUC difference is mostly noise (two trainings of one model differ by a few
hundredths), so the experiment repeats both trainings with `repeats` seeds and reports the
mean difference with its standard deviation next to every repeat's figures.
"""

from __future__ import annotations

import numpy as np


def _fit_auc(name: str, x, y, x_test, y_test, image_size: int, epochs: int, seed: int) -> float:
    import keras
    from sklearn.metrics import roc_auc_score

    from skinml.cnn.models import build_model

    keras.utils.set_random_seed(seed)
    model = build_model(name, image_size=image_size)
    model.compile(keras.optimizers.RMSprop(1e-4), "binary_crossentropy")
    model.fit(x, y, epochs=epochs, batch_size=32, shuffle=True, verbose=0)
    p = model.predict(x_test, batch_size=64, verbose=0).reshape(-1)
    return float(roc_auc_score(y_test, p))


def gan_augment_experiment(data_dir, generator=None, n_generated: int = 1000, classifier: str = "thesis_l2_dropout",
                           image_size: int = 64, epochs: int = 5, seed: int = 0, max_images: int = 0,
                           repeats: int = 1, on_progress=None) -> dict:
    """Test AUC of `classifier` trained on the train split alone and with `n_generated` images.

    The generated images come from a conditional generator, half benign and half malignant;
    the test split (grouped by lesion, never generated) is the same for both. Each of
    `repeats` seeds (seed, seed + 1, ...) trains both. Returns a dict with the mean AUCs,
    the mean difference (augmented - real only) and its standard deviation, every repeat,
    and the counts. `on_progress(fraction, logs)` is called after each training.
    """
    from skinml.data.policy import prepare
    from skinml.errors import DataError
    from skinml.gan.latent import sample_latents
    from skinml.gan.models import load_generator
    from skinml.images.decode import load_image
    from skinml.images.pipeline import load_array

    df = prepare(data_dir, seed=seed)
    if max_images:
        df = df.sample(n=min(max_images, len(df)), random_state=seed)
    train, test = df[df["split"] != "test"], df[df["split"] == "test"]
    if train["benign_malignant"].nunique() < 2 or test["benign_malignant"].nunique() < 2:
        raise DataError("The experiment needs both benign and malignant images in the train and test splits.")
    load = lambda part: load_array(part["image_path"].tolist(), size=image_size).astype("float32") / 255.0
    y = lambda part: (part["benign_malignant"] == "malignant").to_numpy("float32")
    x_train, x_test = load(train), load(test)

    gen = load_generator(generator, conditional=True)
    labels = np.arange(n_generated) % 2
    fake = gen.generate(sample_latents(range(10_000, 10_000 + n_generated), gen.spec.latent_dim), labels)
    fake = np.stack([load_image(im, image_size) for im in (fake * 255).round().astype("uint8")])
    fake = fake.astype("float32") / 255.0

    x_aug, y_aug = np.concatenate([x_train, fake]), np.concatenate([y(train), labels])
    runs = []
    for r in range(repeats):
        real_only = _fit_auc(classifier, x_train, y(train), x_test, y(test), image_size, epochs, seed + r)
        if on_progress:
            on_progress((2 * r + 1) / (2 * repeats), {"auc_real_only": real_only})
        with_generated = _fit_auc(classifier, x_aug, y_aug, x_test, y(test), image_size, epochs, seed + r)
        if on_progress:
            on_progress((2 * r + 2) / (2 * repeats), {"auc_with_generated": with_generated})
        runs.append({"seed": seed + r, "auc_real_only": real_only, "auc_with_generated": with_generated,
                     "auc_difference": with_generated - real_only})
    diffs = np.array([run["auc_difference"] for run in runs])
    return {"classifier": classifier, "image_size": image_size, "epochs": epochs, "repeats": repeats,
            "n_real_train": int(len(train)), "n_generated": int(n_generated), "n_test": int(len(test)),
            "auc_real_only": float(np.mean([run["auc_real_only"] for run in runs])),
            "auc_with_generated": float(np.mean([run["auc_with_generated"] for run in runs])),
            "auc_difference": float(diffs.mean()),
            "auc_difference_sd": float(diffs.std(ddof=1)) if repeats > 1 else None,
            "runs": runs, "generator": str(gen.path)}
