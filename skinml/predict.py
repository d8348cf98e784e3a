"""From an uploaded file to an honest answer: the one code path of the dashboard and `skinml predict`.

`predict_upload(classifier, data, name)` reads the bytes with the upload rules of
`skinml.images`, resizes them as the model was trained, and returns a `PredictionResult`:
p(malignant) (the mean over the eight flips and quarter turns), their spread as the
uncertainty, the dermoscopy check's warnings and a Grad-CAM heatmap. A binary model also
says which side of its saved threshold the probability falls; a diagnosis model gives the
probability of each of its diagnoses, ranked, and p(malignant) as the sum over the malignant
ones. Never a diagnosis: see `skinml.DISCLAIMER`.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from PIL import Image

from skinml import DISCLAIMER
from skinml.cnn.classifier import Classifier, predict_views
from skinml.data.diagnoses import CLASS_NAMES
from skinml.explain.gradcam import grad_cam, overlay_heatmap
from skinml.images.decode import load_image
from skinml.images.upload import read_image
from skinml.ood.detector import OODResult, check_image

DISPLAY_SIDE = 512       # longest side of the image kept in a result (for pages and summaries)
WIDE_SPREAD = 0.10       # TTA standard deviation above which the answer is called unstable
NEAR_THRESHOLD = 0.05    # |p - threshold| below which the answer is called borderline


@dataclass
class PredictionResult:
    """The answer for one upload.

    `image`: uint8 (h, w, 3), the photo reduced to DISPLAY_SIDE; `model_input`: uint8 (S, S, 3)
    as the model saw it; `p_malignant` in [0, 1]; `views`: float (8,) or (1,), p for each
    test-time view; `uncertainty`: their standard deviation; `heatmap`: float (S, S) in
    [0, 1], Grad-CAM (for `label`, or for the most probable diagnosis), or None.
    Binary model (`task` "binary"): `label` is "malignant" when p_malignant >= threshold else
    "benign" (the model's side of its threshold, not a diagnosis). Diagnosis model: `classes`
    and `class_probabilities` (float (C,), the mean over the views), `label` and `threshold`
    are None. `patient`: the age, sex and site given (None when none); `metadata_used`:
    whether the model read them (only a model trained with them does).
    """

    name: str
    image: np.ndarray
    model_input: np.ndarray
    p_malignant: float
    views: np.ndarray
    threshold: float | None
    label: str | None
    ood: OODResult
    heatmap: np.ndarray | None = None
    model_version: str = ""
    warnings: list[str] = field(default_factory=list)
    task: str = "binary"
    classes: tuple[str, ...] = ()
    class_probabilities: np.ndarray | None = None
    malignant_classes: tuple[str, ...] = ()
    patient: dict | None = None
    metadata_used: bool = False

    @property
    def uncertainty(self) -> float:
        return float(np.std(self.views))

    def ranked(self) -> list[dict]:
        """The diagnoses, most probable first: [{"class", "name", "probability"}] (diagnosis task)."""
        if self.class_probabilities is None:
            return []
        order = np.argsort(-self.class_probabilities, kind="stable")
        return [{"class": self.classes[i], "name": CLASS_NAMES.get(self.classes[i], self.classes[i]),
                 "probability": round(float(self.class_probabilities[i]), 4)} for i in order]

    def to_dict(self) -> dict:
        """The JSON fields of `skinml predict --json` for this file (documented in README.md)."""
        common = {"file": self.name, "ok": True, "task": self.task, "p_malignant": round(self.p_malignant, 4)}
        if self.task == "diagnosis":
            answer = {"diagnoses": self.ranked(), "malignant_classes": list(self.malignant_classes)}
        else:
            answer = {"label": self.label, "threshold": round(self.threshold, 4)}
        return {**common, **answer,
                "uncertainty": round(self.uncertainty, 4) if len(self.views) > 1 else None,
                "patient": self.patient, "metadata_used": self.metadata_used,
                "looks_like_dermoscopy": not self.ood.fired, "model_version": self.model_version,
                "warnings": self.warnings}


def predict_upload(classifier: Classifier, data: bytes, name: str = "", tta: bool = True,
                   heatmap: bool = True, patient: pd.DataFrame | None = None) -> PredictionResult:
    """Predict one uploaded file (its bytes). Raises ImageError when it is not a usable image.

    `patient`: the person's age, sex and site as a one-row table
    (`skinml.data.tabular.patient_table`); only a model trained with metadata reads it, and
    a result from any other model says so in a warning. Safe to call from many threads with
    one shared classifier: every model call holds the classifier's lock, so each caller gets
    the answer it would get alone.
    """
    photo = read_image(data, name)
    x = load_image(photo, classifier.image_size, classifier.resize)
    batch = x[None].astype("float32") / 255.0
    if tta:
        per_view = predict_views(classifier, batch, patient)[0]  # (8, C)
    else:
        per_view = classifier.predict_classes(batch, metadata=patient)  # (1, C)
    views = classifier.p_malignant(per_view)
    p = float(np.mean(views))
    diagnosis = classifier.task == "diagnosis"
    probabilities = per_view.mean(axis=0)
    label = None if diagnosis else classifier.side(p)
    display = photo.copy()
    display.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE))
    given = _given(patient)
    result = PredictionResult(
        name=name, image=np.asarray(display), model_input=x, p_malignant=p, views=np.asarray(views, float),
        threshold=None if diagnosis else classifier.threshold, label=label, ood=check_image(photo),
        model_version=classifier.version, task=classifier.task,
        classes=classifier.classes if diagnosis else (), class_probabilities=probabilities if diagnosis else None,
        malignant_classes=classifier.malignant_classes, patient=given,
        metadata_used=classifier.uses_metadata)
    if heatmap and not classifier.uses_metadata:  # Grad-CAM reads image-only models
        top = int(np.argmax(probabilities))
        result.heatmap = (classifier.with_model(grad_cam, x, class_index=top) if diagnosis
                          else classifier.with_model(grad_cam, x, target=label))
    result.warnings = list(result.ood.warnings)
    if given and not classifier.uses_metadata:
        result.warnings.append("This model was trained on images alone: the age, sex and site given did not "
                               "change its answer.")
    if tta and result.uncertainty > WIDE_SPREAD:
        result.warnings.append(f"The answer is unstable: turning or flipping the photo moves the probability "
                               f"by {result.uncertainty:.2f} on average.")
    if not diagnosis and abs(p - classifier.threshold) < NEAR_THRESHOLD:
        result.warnings.append("The probability is close to the model's threshold: a small change in the "
                               "photo could put it on the other side.")
    return result


def _given(patient: pd.DataFrame | None) -> dict | None:
    """The patient's values that were given, as JSON fields (None when none was)."""
    if patient is None or len(patient) == 0:
        return None
    row = patient.iloc[0]
    age = pd.to_numeric(pd.Series([row.get("age_approx")]), errors="coerce").iloc[0]
    given = {"age": None if pd.isna(age) else float(age), "sex": str(row.get("sex") or "") or None,
             "site": str(row.get("anatom_site_general") or "") or None}
    return given if any(v is not None for v in given.values()) else None


def reading(result: PredictionResult, metrics: dict | None = None) -> str:
    """A plain-language reading of a result: what the numbers mean, never a verdict."""
    test = (metrics or {}).get("test") or {}
    if result.task == "diagnosis":
        ranked = result.ranked()
        text = ("The model spreads its probability over seven diagnoses: " + ", ".join(
            f"{d['name']} {d['probability']:.0%}" for d in ranked[:3]) + ", the others less. Together the "
            f"malignant ones ({', '.join(CLASS_NAMES.get(c, c) for c in result.malignant_classes)}) add up to "
            f"{result.p_malignant:.0%}.")
        if test.get("balanced_accuracy") is not None:
            text += (f" On {test.get('n', 'its')} held-out test images its most probable diagnosis was right for "
                     f"{test['balanced_accuracy']:.0%} of the images of a diagnosis, on average over the seven: "
                     "it is often wrong, most of all for the rare diagnoses.")
    else:
        side = "at or above" if result.label == "malignant" else "below"
        text = (f"The model gives this image a probability of {result.p_malignant:.0%} of showing a malignant "
                f"lesion, {side} its threshold of {result.threshold:.0%}.")
    if result.task != "diagnosis" and test.get("sensitivity") is not None and test.get("specificity") is not None:
        text += (f" At that threshold, on {test.get('n', 'its')} held-out test images, it flagged "
                 f"{test['sensitivity']:.0%} of the malignant lesions and cleared {test['specificity']:.0%} "
                 f"of the benign ones: it misses some cancers and raises false alarms.")
    if result.ood.fired:
        text += " This photo does not look like the dermoscopy images it learned from, so the number means little."
    return text + " Only a dermatologist can examine a lesion; this is not a diagnosis."


def _png_data_uri(image: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _answer_rows(result: PredictionResult) -> str:
    """The summary table's rows of the model's answer: its threshold, or its diagnoses ranked."""
    esc = html.escape
    if result.task == "diagnosis":
        return "".join(f"<tr><td>Probability of {esc(d['name'])}</td><td>{d['probability']:.3f}</td></tr>"
                       for d in result.ranked())
    return (f"<tr><td>Model threshold</td><td>{result.threshold:.3f}</td></tr>"
            f"<tr><td>Side of the threshold</td><td>{esc(result.label)}</td></tr>")


def build_summary_html(result: PredictionResult, metrics: dict | None = None) -> str:
    """A self-contained HTML page (images inline) summarising one result, for download."""
    heat = overlay_heatmap(result.model_input, result.heatmap, 0.45) if result.heatmap is not None else None
    esc = html.escape
    items = "".join(f"<li>{esc(w)}</li>" for w in result.warnings) or "<li>None.</li>"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>skinml summary</title>
<style>body{{font-family:sans-serif;max-width:900px;margin:2em auto}} img{{max-width:45%;margin:4px}}
.warn{{background:#fff3cd;padding:.5em 1em}} small{{color:#555}}</style></head><body>
<h1>skinml: result for {esc(result.name or 'an uploaded photo')}</h1>
<p><strong>{esc(DISCLAIMER)}</strong></p>
<img src="{_png_data_uri(result.image)}" alt="the photo">
{f'<img src="{_png_data_uri(heat)}" alt="Grad-CAM heatmap">' if heat is not None else ''}
<table><tr><td>Probability of malignancy</td><td><b>{result.p_malignant:.3f}</b></td></tr>
<tr><td>Uncertainty (spread over 8 flips and turns)</td><td>{result.uncertainty:.3f}</td></tr>
{_answer_rows(result)}
<tr><td>Looks like dermoscopy</td><td>{'no' if result.ood.fired else 'yes'} (score {result.ood.score:.1f},
limit {result.ood.threshold:.1f})</td></tr>
<tr><td>Model version</td><td>{esc(result.model_version)}</td></tr></table>
<h2>Warnings</h2><div class="warn"><ul>{items}</ul></div>
<h2>Reading</h2><p>{esc(reading(result, metrics))}</p>
<p><small>The heatmap (Grad-CAM) shows which parts of the image moved the model's answer the most; it is
not a map of the lesion.</small></p></body></html>"""
