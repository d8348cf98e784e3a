"""Train a GAN in its own process and watch it live: sample grid, losses, GIF; past runs."""

import time

import streamlit as st

from skinml.app import gan_ui as ui
from skinml.app import setup_page, show_error
from skinml.app.data_ui import data_dir
from skinml.errors import SkinmlError
from skinml.gan.models import SPECS

setup_page("Train a GAN")
st.write("The thesis trained its DCGAN for 1,000 epochs (8 h on a GPU). Here training runs in a "
         "separate process that writes a run folder; this page only reads it, so closing the tab "
         "never stops training. A killed run resumes from its last complete epoch.")

with st.form("train_gan"):
    c1, c2, c3 = st.columns(3)
    model = c1.selectbox("Model", sorted(SPECS), index=sorted(SPECS).index("skinml_gan"))
    epochs = c2.number_input("Epochs", 1, 5000, 20)
    budget = c3.number_input("Time budget (minutes, 0 = none)", 0, 24 * 60, 10)
    c4, c5, c6 = st.columns(3)
    size = c4.selectbox("Image size", [32, 64, 128], index=2)
    width = c5.select_slider("Width (channels)", [0.25, 0.5, 1.0, 2.0], value=1.0)
    data = c6.text_input("ISIC folder or .npz", data_dir())
    name = st.text_input("Run name", f"{model}-{time.strftime('%Y%m%d-%H%M%S')}")
    go = st.form_submit_button("Start training")
if go:
    try:
        config = ui.new_run_config(name, data.strip(), model=model, epochs=int(epochs), image_size=int(size),
                                   width=float(width), time_budget=float(budget * 60))
        st.session_state["gan_run"] = str(ui.launch_gan_training(config))
        st.success(f"Started: {st.session_state['gan_run']}")
    except SkinmlError as exc:
        show_error(exc)

runs = ui.list_runs()
if not runs:
    st.info("No GAN runs yet.")
    st.stop()
names = [r.name for r in runs]
current = st.session_state.get("gan_run")
index = names.index(current.split("/")[-1]) if current and current.split("/")[-1] in names else 0
run = runs[names.index(st.selectbox("Run", names, index=index))]


@st.fragment(run_every=3)
def live(run):
    ui.run_view_ui(run)


live(run)
