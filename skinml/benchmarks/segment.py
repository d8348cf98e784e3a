"""Segmentation speed: seconds per uploaded photo (decode, segment at the photo's size, ABCD), warm.

The segmenter is loaded once; one untimed call, then the median of `--runs` calls on one
generated JPEG of `--photo` size, broken down into decoding, the mask and the ABCD measures.
With no shipped segmenter and no `--model`, an untrained U-Net of the shipped shape stands in:
speed depends on the architecture, not the weights.
"""

from __future__ import annotations

import io
import statistics
import time


def add_arguments(parser) -> None:
    parser.add_argument("--model", help="segmenter folder or run directory (default: the shipped one)")
    parser.add_argument("--runs", type=int, default=20, help="timed calls (median reported)")
    parser.add_argument("--photo", default="600x450", metavar="WxH", help="size of the generated JPEG upload")


def run(args) -> int:
    import numpy as np
    from PIL import Image

    from skinml.data.synthetic import make_lesion
    from skinml.errors import SkinmlError
    from skinml.images.upload import read_image
    from skinml.segment.abcd import measure_lesion
    from skinml.segment.config import SegmenterConfig
    from skinml.segment.predict import SHIPPED, load_segmenter, segment_photo

    try:
        width, height = (int(v) for v in args.photo.lower().split("x"))
    except ValueError:
        raise SkinmlError(f"--photo is WIDTHxHEIGHT in pixels, such as 600x450, not '{args.photo}'.") from None
    started = time.perf_counter()
    if args.model or (SHIPPED / "model.keras").is_file():
        model, which = load_segmenter(args.model or SHIPPED), str(args.model or SHIPPED)
    else:
        from skinml.segment.unet import build_unet

        config = SegmenterConfig()
        model, which = build_unet(config.image_size, config.filters), "untrained U-Net (no shipped segmenter)"
    load_s = time.perf_counter() - started
    buffer = io.BytesIO()
    Image.fromarray(make_lesion(True, 256, seed=1)).resize((width, height)).save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()

    def once() -> tuple[float, float, float]:
        t0 = time.perf_counter()
        photo = np.asarray(read_image(data, "bench.jpg"))
        t1 = time.perf_counter()
        mask = segment_photo(model, photo)
        t2 = time.perf_counter()
        measure_lesion(photo, mask)
        return t1 - t0, t2 - t1, time.perf_counter() - t2

    once()
    times = [once() for _ in range(max(1, args.runs))]
    decode, segment, abcd = (statistics.median(t[i] for t in times) for i in range(3))
    total = statistics.median(sum(t) for t in times)
    print(f"segmenter: {which} (loaded in {load_s:.2f} s)")
    print(f"photo {width}x{height} JPEG, median of {len(times)} warm calls:")
    print(f"  decode   {decode:.3f} s\n  segment  {segment:.3f} s (mask at the photo's size)\n"
          f"  ABCD     {abcd:.3f} s\n  total    {total:.3f} s per upload")
    return 0
