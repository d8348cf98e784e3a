"""How real do generated lesions look? PCA, KID/FID, precision/recall, two-sample judges, memorisation,
each read against real vs real on the same data."""

import json

import streamlit as st

from skinml.app import gan_ui as ui
from skinml.app import plain, session, setup_page, show_error
from skinml.app.data_ui import has_synthetic_images, load_table
from skinml.errors import SkinmlError
from skinml.plots.gan import distance_captions, plot_image_pairs, plot_pca_overlay

setup_page("GAN realism")
st.write("The thesis judged its GAN by one PCA plot. Here are that plot and numbers that can be compared "
         "between generators, each next to what two samples of real images score on the same data: the "
         "best a generator could do.")
gen = ui.generator_ui(conditional=False, key="real_gen")
data = session.current_dataset()
synthetic = has_synthetic_images(load_table(data))
n = st.slider("Images of each kind", 20, 400, ui.REALISM_N, step=20, key="real_n")
st.caption(f"Real images: a random sample of the session's dataset {plain(data)}"
           + (" (the built-in demo: synthetic drawings, not real lesions)." if synthetic else "."))

try:
    basics = ui.realism_basics(gen, ui.generator_key(gen), data, n)
except SkinmlError as exc:
    show_error(exc)
    st.stop()
held, train, fake = basics["held"], basics["train"], basics["fake"]  # held: never seen; train: its training set
if gen.info.get("demo"):
    st.warning("These figures are for the untrained demo generator (it makes noise): they show how the "
               "measures read, not how good a GAN can be.")

st.plotly_chart(plot_pca_overlay(basics["pca"], "Pixels (flattened, min-max scaled, as in the thesis)"),
                width="stretch")
st.caption("Each dot is an image. Generated dots among the real ones is a weak sign: a PCA of pixels sees overall "
           "colour and brightness, not lesion structure. The measures below see more.")

if st.button("Compute the full report (about a minute: two judges are trained, twice)", key="real_report"):
    bar = st.progress(0.0)
    report, baseline, source = ui.realism_report(held, fake, train, lambda f, text: bar.progress(f, text=text))
    bar.empty()
    st.session_state["real_result"] = (report, baseline, source)
if st.session_state.get("real_result"):
    report, baseline, source = st.session_state["real_result"]
    st.markdown(ui.realism_reading(report, baseline))
    st.table(ui.report_table(report, baseline).set_index("measure"))  # a table wraps "what it says" (a grid cut it)
    st.caption(f"Feature space: {source}; {report['n_real']:,} real and {report['n_fake']:,} generated images. "
               "Real vs real compares two disjoint samples of the same folder: the yardstick, what the measures "
               "read when there is nothing to find, with its own chance scatter (a KID below 0, a judge below 50%). "
               "The real images may include the "
               "generator's own training images: the shipped generators' model cards give the figures against "
               "images they never saw.")
    st.download_button("Download the report (JSON)", json.dumps({"generated_vs_real": report, "real_vs_real": baseline},
                                                                indent=2, default=float),
                       "gan_report.json", mime="application/json")

st.subheader("Memorisation: each generated image and its nearest real image")
idx, dist = basics["nearest"], basics["distance"]
what = "nearest image of the demo (a synthetic drawing)" if synthetic else "nearest real image"
st.plotly_chart(plot_image_pairs(fake[:8], train[idx], distance_captions(dist)), width="stretch")
st.caption(f"Top: generated; bottom: the {what}. The number over each pair is their distance: the RMS pixel "
           "difference at 32 px; a copy scores near 0. The bottom row comes from the sample "
           "of the dataset above, which stands in for the generator's training images"
           + (": here synthetic drawings of the built-in demo, not real lesions." if synthetic else "."))
