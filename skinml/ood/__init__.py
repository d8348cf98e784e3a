"""Out-of-distribution check: does an image look like a dermoscopy image at all?"""
