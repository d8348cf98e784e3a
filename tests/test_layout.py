"""Charts that stay readable on a 390 px phone and in a half-width column at 1280 px (#23, item 12):
figure-level properties of the Plotly figures the pages draw."""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd
import pytest

PHONE = 390 - 2 * 16  # a chart's width on a 390 px phone (Streamlit's page padding)


def lines(text: str) -> list[str]:
    """The visible lines of a Plotly text: split at <br>, tags such as <sup> removed."""
    return [re.sub(r"<[^>]+>", "", line) for line in str(text).split("<br>")]


def test_the_roc_names_the_partial_auc_region_in_its_legend_not_under_the_threshold_marker():
    """At 1280 px the threshold's marker (often near sensitivity 0.8) covered the words 'partial AUC
    region' written inside the chart."""
    from skinml.plots.eval import plot_roc

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    fig = plot_roc(y, np.clip(0.3 * y + 0.7 * rng.random(200), 0, 1), threshold=0.35)
    assert not any("partial AUC" in (a.text or "") for a in fig.layout.annotations)  # nothing written in the chart
    region = [s for s in fig.layout.shapes if s.name and "partial AUC region" in s.name]
    assert len(region) == 1 and region[0].showlegend and (region[0].y0, region[0].y1) == (0.8, 1.0)
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.y < 0  # under the chart, not beside it
    assert [t.name for t in fig.data][-1] == "threshold 0.35"


def test_the_deletion_chart_keeps_a_short_title_and_its_legend_under_it():
    """At 390 px a one-line title and a legend beside the chart left the chart without its title or axis."""
    from skinml.plots.explain import plot_perturbation_curves

    report = {"n": 40, "curves": {"fraction": [0, 0.5, 1], "random": {"deletion": [0.9, 0.6, 0.2]},
                                  "gradcam": {"deletion": [0.9, 0.3, 0.2]}, "ig": {"deletion": [0.9, 0.5, 0.2]}},
              "methods": {"gradcam": {"label": "Grad-CAM", "deletion_auc": {"mean": 0.43}},
                          "ig": {"label": "integrated gradients", "deletion_auc": {"mean": 0.51}}},
              "random_order": {"deletion_auc": {"mean": 0.58}}}
    for kind in ("deletion", "insertion"):
        report["curves"]["random"][kind] = report["curves"]["gradcam"][kind] = report["curves"]["ig"][kind] = [0, 1, 1]
        for method in report["methods"].values():
            method["insertion_auc"] = {"mean": 0.6}
        report["random_order"]["insertion_auc"] = {"mean": 0.5}
        fig = plot_perturbation_curves(report, kind)
        title = lines(fig.layout.title.text)
        assert title[0].startswith(kind.capitalize()) and "40 held-out images" in title[0]
        assert max(len(line) for line in title) <= 48  # about 8 px a character: fits 358 px
        assert max(len(line) for line in lines(fig.layout.xaxis.title.text)) <= 40
        assert fig.layout.yaxis.title.text and fig.layout.legend.orientation == "h" and fig.layout.legend.y < 0


def test_images_per_source_wraps_long_names_instead_of_cutting_them():
    """'kaggle-skin-cancer-malignant-vs-benign' was cut at the chart's left edge at 390 px."""
    from skinml.plots.data import plot_counts

    long = "kaggle-skin-cancer-malignant-vs-benign"
    df = pd.DataFrame({"attribution": [long] * 3 + ["ham10000", "a <b>tag</b> & more", ""],
                       "benign_malignant": ["benign", "malignant", "benign", "benign", "malignant", "benign"]})
    fig = plot_counts(df, "attribution", "Images per source")
    ticks = list(fig.layout.yaxis.categoryarray)
    assert all(len(html.unescape(line)) <= 18 for tick in ticks for line in tick.split("<br>"))
    assert long in ["".join(t.split("<br>")) for t in ticks]  # every character still there, on lines
    assert "a &lt;b&gt;tag&lt;/b&gt; &amp; more" in [" ".join(t.split("<br>")) for t in ticks]  # escaped, not HTML
    assert "(unknown)" in ticks
    assert fig.layout.legend.orientation == "h"  # under the chart: the bars keep the width
    assert fig.layout.height >= 16 * 3 * len(ticks)  # room for three lines a bar


def test_the_realism_distances_fit_over_their_columns_on_a_phone():
    """'d=0.123' over eight columns overlapped at 390 px."""
    from skinml.plots.gan import CAPTION_FONT, distance_captions, plot_image_pairs

    distances = np.array([0.1234, 0.0012, 0.5, 1.25, 12.5, 0.3333, 0.25, 0.9])
    captions = distance_captions(distances)
    assert captions[:4] == ["0.12", "0.00", "0.50", "1.25"] and captions[4] == "12.50"
    images = np.zeros((8, 8, 8, 3))
    fig = plot_image_pairs(images, images, captions)
    margin = fig.layout.margin
    plot_width = PHONE - margin.l - margin.r
    mosaic_width = fig.data[0].z.shape[1]  # one picture, as wide as the plot (eight columns, two rows)
    titles = [a for a in fig.layout.annotations if a.text in captions]
    assert len(titles) == 8 and all(a.font.size == CAPTION_FONT for a in titles)
    centres = sorted(a.x / mosaic_width * plot_width for a in titles)
    widest = max(0.6 * CAPTION_FONT * len(a.text) for a in titles)  # a sans-serif digit is about 0.6 em
    assert min(np.diff(centres)) > widest + 4  # at least 4 px between neighbouring captions
    assert len(fig.data) == 1  # one picture: sixteen small charts took a browser a second to draw


@pytest.mark.browser
def test_on_a_390_px_phone_the_data_charts_keep_their_labels_inside(demo_dir):
    """The Data page's charts drawn by Plotly in Chromium at a phone's width: every tick label, the
    title and the legend lie inside the chart (the sources' names were cut at its left edge), and the
    legend does not cover the bars."""
    from pathlib import Path

    import plotly
    from playwright.sync_api import sync_playwright

    from skinml.benchmarks.predict import CHROMIUM, CHROMIUM_ARGS
    from skinml.data import load_dataset
    from skinml.plots.data import plot_age, plot_counts

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is absent: apt-get install chromium")
    df = load_dataset(demo_dir)
    df["attribution"] = np.where(np.arange(len(df)) % 3 == 0, "kaggle-skin-cancer-malignant-vs-benign",
                                 "Department of Dermatology, Medical University of Vienna")
    figures = [plot_counts(df, "attribution", "Images per source"), plot_age(df)]
    script = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    body = "".join(f'<div id="f{i}" style="width:{PHONE}px"></div>' for i in range(len(figures)))
    calls = "".join(f"Plotly.newPlot('f{i}', {fig.to_json()});" for i, fig in enumerate(figures))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 800})
            page.set_content(f"<body style='margin:0'>{body}</body>")
            page.add_script_tag(path=str(script))
            page.evaluate(f"() => {{ {calls} }}")
            for i in range(len(figures)):
                chart = page.locator(f"#f{i}")
                chart.locator(".main-svg").first.wait_for()
                box = chart.bounding_box()
                parts = chart.locator(".ytick text, .xtick text, .gtitle, .legend, .xtitle, .ytitle")
                assert parts.count() > 4
                for k in range(parts.count()):
                    part = parts.nth(k).bounding_box()
                    assert part["x"] >= box["x"] - 0.5 and part["x"] + part["width"] <= box["x"] + box["width"] + 0.5, \
                        (i, parts.nth(k).text_content())
                plot = chart.locator(".nsewdrag").first.bounding_box()  # the plotting area
                legend = chart.locator(".legend").first.bounding_box()
                assert legend["y"] >= plot["y"] + plot["height"]  # under the bars, not over or beside them
        finally:
            browser.close()
