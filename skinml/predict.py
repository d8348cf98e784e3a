"""From an uploaded file to an honest answer: the one code path of the dashboard and `skinml predict`.

`predict_upload(classifier, data, name)` reads the bytes with the upload rules of
`skinml.images`, resizes them as the model was trained, and returns a `PredictionResult`:
p(malignant) (the mean over the eight flips and quarter turns), their spread as the
uncertainty, which side of the model's saved threshold it falls, the dermoscopy check's
warnings and a Grad-CAM heatmap. Never a diagnosis: see `skinml.DISCLAIMER`.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from skinml import DISCLAIMER
from skinml.cnn.classifier import Classifier, predict_tta
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
    test-time view; `uncertainty`: their standard deviation; `label`: "malignant" when
    p_malignant >= threshold else "benign" (the model's side of its threshold, not a
    diagnosis); `heatmap`: float (S, S) in [0, 1], Grad-CAM for `label`, or None.
    """

    name: str
    image: np.ndarray
    model_input: np.ndarray
    p_malignant: float
    views: np.ndarray
    threshold: float
    label: str
    ood: OODResult
    heatmap: np.ndarray | None = None
    model_version: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def uncertainty(self) -> float:
        return float(np.std(self.views))

    def to_dict(self) -> dict:
        """The JSON fields of `skinml predict --json` for this file."""
        uncertainty = round(self.uncertainty, 4) if len(self.views) > 1 else None
        return {"file": self.name, "ok": True, "p_malignant": round(self.p_malignant, 4), "label": self.label,
                "threshold": round(self.threshold, 4), "uncertainty": uncertainty,
                "looks_like_dermoscopy": not self.ood.fired, "model_version": self.model_version,
                "warnings": self.warnings}


def predict_upload(classifier: Classifier, data: bytes, name: str = "", tta: bool = True,
                   heatmap: bool = True) -> PredictionResult:
    """Predict one uploaded file (its bytes). Raises ImageError when it is not a usable image.

    Safe to call from many threads with one shared classifier: every model call holds the
    classifier's lock, so each caller gets the answer it would get alone.
    """
    photo = read_image(data, name)
    x = load_image(photo, classifier.image_size, classifier.resize)
    batch = x[None].astype("float32") / 255.0
    views = predict_tta(classifier, batch)[0] if tta else classifier.predict_proba(batch)
    p = float(np.mean(views))
    label = classifier.side(p)
    display = photo.copy()
    display.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE))
    result = PredictionResult(
        name=name, image=np.asarray(display), model_input=x, p_malignant=p, views=np.asarray(views, float),
        threshold=classifier.threshold, label=label, ood=check_image(photo),
        heatmap=classifier.with_model(grad_cam, x, target=label) if heatmap else None,
        model_version=classifier.version)
    result.warnings = list(result.ood.warnings)
    if tta and result.uncertainty > WIDE_SPREAD:
        result.warnings.append(f"The answer is unstable: turning or flipping the photo moves the probability "
                               f"by {result.uncertainty:.2f} on average.")
    if abs(p - classifier.threshold) < NEAR_THRESHOLD:
        result.warnings.append("The probability is close to the model's threshold: a small change in the "
                               "photo could put it on the other side.")
    return result


def reading(result: PredictionResult, metrics: dict | None = None) -> str:
    """A plain-language reading of a result: what the number means, never a verdict."""
    side = "at or above" if result.label == "malignant" else "below"
    text = (f"The model gives this image a probability of {result.p_malignant:.0%} of showing a malignant "
            f"lesion, {side} its threshold of {result.threshold:.0%}.")
    test = (metrics or {}).get("test") or {}
    if test.get("sensitivity") is not None and test.get("specificity") is not None:
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
<tr><td>Model threshold</td><td>{result.threshold:.3f}</td></tr>
<tr><td>Side of the threshold</td><td>{esc(result.label)}</td></tr>
<tr><td>Looks like dermoscopy</td><td>{'no' if result.ood.fired else 'yes'} (score {result.ood.score:.1f},
limit {result.ood.threshold:.1f})</td></tr>
<tr><td>Model version</td><td>{esc(result.model_version)}</td></tr></table>
<h2>Warnings</h2><div class="warn"><ul>{items}</ul></div>
<h2>Reading</h2><p>{esc(reading(result, metrics))}</p>
<p><small>The heatmap (Grad-CAM) shows which parts of the image moved the model's answer the most; it is
not a map of the lesion.</small></p></body></html>"""
