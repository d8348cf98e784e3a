"""The metadata-only baseline: age, sex and anatomic site alone, no image (scikit-learn).

How much do the patient's data tell without looking at the lesion? This model answers it for
the ablation (metadata only / image only / image + metadata), on exactly the rows and split
of a training run (`skinml.cnn.splits.load_splits`) and with exactly the encoding the image +
metadata network reads (`skinml.data.tabular`). A gradient-boosted tree ensemble learns
interactions (age by site) that a linear model would miss; its classes are weighted
"balanced", like the networks' loss.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from skinml.cnn.config import TrainConfig
from skinml.data.diagnoses import DIAGNOSIS_CLASSES, MALIGNANT_DIAGNOSES
from skinml.data.tabular import metadata_features


def fit_metadata_model(train: pd.DataFrame, seed: int = 0):
    """A HistGradientBoostingClassifier fitted on the rows `train` (`label` column: 0/1 or
    the diagnosis class index) from their metadata alone."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(learning_rate=0.05, max_iter=150, max_leaf_nodes=15,
                                           class_weight="balanced", early_stopping=False, random_state=seed)
    return model.fit(metadata_features(train), train["label"].to_numpy().astype(int))


def metadata_probabilities(model, rows: pd.DataFrame, n_classes: int) -> np.ndarray:
    """float (N, n_classes) class probabilities of `rows` (classes the model never saw get 0)."""
    p = np.zeros((len(rows), n_classes))
    p[:, model.classes_] = model.predict_proba(metadata_features(rows))
    return p


def evaluate_metadata_baseline(config: TrainConfig, n_boot: int = 1000) -> dict:
    """Fit on the run's training split, measure on its validation and test splits.

    Returns {"task", "n_features", "val": figures, "test": figures}: for the diagnosis task
    the figures of `evaluate_multiclass` (balanced accuracy, macro AUC, p(malignant) AUC, ...),
    for the binary task those of `evaluate_predictions` at the threshold 0.5.
    """
    from skinml.cnn.splits import load_splits
    from skinml.metrics.binary import evaluate_predictions
    from skinml.metrics.multiclass import evaluate_multiclass

    df = load_splits(config)
    diagnosis = config.task == "diagnosis"
    n_classes = len(DIAGNOSIS_CLASSES) if diagnosis else 2
    model = fit_metadata_model(df[df["split"] == "train"], config.seed)
    out = {"task": config.task, "n_features": int(model.n_features_in_)}
    for split in ("val", "test"):
        part = df[df["split"] == split]
        y, p = part["label"].to_numpy().astype(int), metadata_probabilities(model, part, n_classes)
        if diagnosis:
            out[split] = evaluate_multiclass(y, p, list(DIAGNOSIS_CLASSES), list(MALIGNANT_DIAGNOSES),
                                             n_boot=n_boot, seed=config.seed)
        else:
            out[split] = evaluate_predictions(y, p[:, 1], 0.5, n_boot=n_boot, seed=config.seed)
    return out
