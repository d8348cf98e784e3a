"""skinml: learn and teach deep learning on dermoscopy images of skin lesions (ISIC archive)."""

__version__ = "0.1.0"

DISCLAIMER = (
    "skinml is a teaching and research tool. It is not a medical device and does not "
    "diagnose: its outputs are probabilities from a model trained on a small public dataset. "
    "Anyone worried about a skin lesion should see a dermatologist."
)
