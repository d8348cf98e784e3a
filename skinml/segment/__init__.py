"""Lesion segmentation: a U-Net that outlines the lesion, masks at the photo's size, ABCD measures.

`config` holds the settings of a training run (`SegmenterConfig`); `data` reads HAM10000's
photos and masks, splits them by lesion and caches them decoded; `unet` builds the model and
its loss; `train` fits its epochs (`fit_run`; the lock, status, entry point and ship are
`skinml.runs.segmenter`); `run` keeps the run directory; `predict` turns a
photo into a mask at its own size; `abcd` measures the lesion as dermatologists do.
"""
