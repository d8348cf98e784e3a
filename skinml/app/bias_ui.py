"""The teaching view of the bias test: does the model look at the lesion? (skinml.explain.bias)"""

from __future__ import annotations

import numpy as np
import streamlit as st

from skinml.app import plain
from skinml.app.explain_ui import class_probabilities_cached, model_folder

AIM = "lesion only within 0.03 of the photos' AUC, lesion removed at most 0.60"


@st.cache_data(show_spinner=False, max_entries=16)
def bias_report(model_path: str, stamp: int) -> dict | None:
    """The classifier folder's measured `bias.json` (None when it has none); `stamp` makes a
    rewritten file read again."""
    from skinml.explain.bias import load_bias

    return load_bias(model_folder(model_path))


def bias_stamp(model_path: str) -> int:
    from skinml.app import mtime_stamp
    from skinml.explain.bias import BIAS_FILE

    return mtime_stamp([model_folder(model_path) / BIAS_FILE])


@st.cache_data(show_spinner=False, max_entries=32)
def example_variants(image: np.ndarray, mask: np.ndarray, fill: tuple[int, int, int] | None) -> dict[str, np.ndarray]:
    """The photo, the lesion removed and the lesion only of one model input uint8 (S, S, 3) and its mask."""
    from skinml.explain.bias import skin_colour, variants

    return variants(image, mask, skin_colour([(image, mask)]) if fill is None else fill)


def summary(report: dict) -> str:
    """Two sentences: the three AUCs with their intervals, and what they say."""
    a = report["auc"]
    shown = lambda name: f"{a[name]['auc']:.2f} ({a[name]['low']:.2f} to {a[name]['high']:.2f})"
    drop = a["photo"]["auc"] - a["lesion_removed"]["auc"]
    kept = a["photo"]["auc"] - a["lesion_only"]["auc"]
    text = (f"On **{report['n']}** held-out photos ({report['n_malignant']} malignant) with a dermatologist's "
            f"outline, the AUC of p(malignant) is **{shown('photo')}** on the photos, "
            f"**{shown('lesion_removed')}** with the lesion removed and **{shown('lesion_only')}** with only "
            "the lesion (95% intervals, resampled by lesion). ")
    if a["lesion_removed"]["low"] > 0.6:
        text += (f"With the lesion gone it still ranks malignant above benign far better than chance (the AUC drops "
                 f"by {drop:.2f}): much of what it knows comes from outside the lesion (the skin around it, the "
                 "corners, rulers or ink) and from the size of the filled area. ")
    else:
        text += "With the lesion gone it is close to chance: what it knows comes mostly from the lesion. "
    text += (f"With only the lesion its AUC changes by {-kept:+.2f}. The aim for a model that looks where a "
             f"dermatologist looks: {AIM}.")
    return text


def bias_ui(model_path: str, clf, x: np.ndarray, mask: np.ndarray | None, key: str = "bias") -> None:
    """The section: the measured AUC bars from the model's `bias.json` (or how to make one), then
    this image's three versions and the model's p(malignant) on each when it has a lesion outline."""
    from skinml.plots.bias import plot_bias_aucs, plot_bias_examples
    from skinml.predict import format_probability

    st.subheader("Does it look at the lesion? The bias test")
    st.markdown("A model can score well for the wrong reasons: dark corners, rulers, ink, the skin around the "
                "lesion. The test asks it again with the **lesion removed** (its outline filled with the colour "
                "of the skin around it) and with **only the lesion** (everything else one skin colour). A model "
                "that looks at the lesion falls towards chance (AUC 0.5) without it and keeps its AUC with it alone.")
    report = None if model_path.startswith("untrained:") else bias_report(model_path, bias_stamp(model_path))
    if report is None:
        st.info("No bias test for this model yet. Measure it on held-out images with lesion outlines with "
                "`python train/measure_bias.py <model folder> --trained-on <its training folders>` (it writes "
                "`bias.json` beside the model) or see it in `python -m skinml evaluate --bias-test`.")
    else:
        st.plotly_chart(plot_bias_aucs(report), key=f"{key}_aucs")
        st.markdown(summary(report))
        if report.get("patient_data"):
            st.caption("Measured with the patients' age, sex and site given to the model, as in training.")
    if mask is None or not mask.any() or mask.all():
        st.caption("Pick a dataset image with a dermatologist's outline (HAM10000) to see its three versions.")
        return
    fill = tuple(report["fill_rgb"]) if report and "fill_rgb" in report else None
    shown = example_variants(x, mask, fill)
    p = {name: float(clf.p_malignant(class_probabilities_cached(model_path, image)[None])[0])
         for name, image in shown.items()}
    st.plotly_chart(plot_bias_examples([shown]), key=f"{key}_examples")
    st.caption("This image as the model sees it, and its p(malignant) on each version: "
               + ", ".join(f"{plain(name.replace('_', ' '))} {format_probability(v)}" for name, v in p.items())
               + (" (patient data unknown)." if clf.uses_metadata else "."))
