"""The benchmarks run end to end at toy sizes and print their figures (speed itself is not tested)."""

from __future__ import annotations

import re

import pytest

from skinml.cli import main


@pytest.mark.slow
def test_gan_benchmark_prints_our_step_against_both_plain_loops(capsys):
    assert main(["bench", "gan", "--models", "thesis_dcgan", "--image-size", "16", "--steps", "2"]) == 0
    out = capsys.readouterr().out
    figures = re.findall(r"([\d.]+) images/s", out)
    assert len(figures) == 3 and all(float(f) > 0 for f in figures)
    assert "keras.io style" in out and "TF tutorial style" in out and "skinml fit / this" in out
