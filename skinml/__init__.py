"""skinml: learn and teach deep learning on dermoscopy images of skin lesions (ISIC archive)."""

from pathlib import Path as _Path

__version__ = "0.1.0"

DISCLAIMER = (
    "skinml is a teaching and research tool. It is not a medical device and does not "
    "diagnose: its outputs are probabilities from a model trained on a small public dataset. "
    "Anyone worried about a skin lesion should see a dermatologist."
)

# The one line every page shows; it links to the full text on Home ("Not a medical device").
SHORT_DISCLAIMER = "A teaching and research tool, not a medical device: it never gives a diagnosis."
DISCLAIMER_LINK = "/#not-a-medical-device"


ASSETS = _Path(__file__).parent / "assets"  # the shipped models and reference files
# The project's real data lives next to a development checkout (never inside the package).
SHARED_DATA = _Path(__file__).resolve().parents[1].parent / "shared" / "data"
ISIC_SAMPLE = SHARED_DATA / "isic-sample"
