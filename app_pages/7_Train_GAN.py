"""Train a GAN in its own process and watch it live: sample grid, losses, GIF; past runs."""

import time

import streamlit as st

from skinml.app import gan_ui as ui
from skinml.app import session, setup_page, show_error
from skinml.errors import SkinmlError
from skinml.gan.models import SPECS

setup_page("Train a GAN")
st.write("The thesis trained its DCGAN for 1,000 epochs (8 h on a GPU). Here training runs in a "
         "separate process that writes a run folder; this page only reads it, so closing the tab "
         "never stops training. A stopped or killed run resumes from its last complete epoch.")

with st.form("train_gan"):
    c1, c2, c3 = st.columns(3)
    model = c1.selectbox("Model", sorted(SPECS), index=sorted(SPECS).index("skinml_gan"), key="gan_model")
    epochs = c2.number_input("Epochs", 1, 5000, 20, key="gan_epochs")
    budget = c3.number_input("Time budget (minutes, 0 = none)", 0, 24 * 60, 10, key="gan_budget")
    c4, c5, c6 = st.columns(3)
    size = c4.selectbox("Image size", [32, 64, 128], index=2, key="gan_size")
    width = c5.select_slider("Width (channels)", [0.25, 0.5, 1.0, 2.0], value=1.0, key="gan_width")
    data = c6.text_input("ISIC folder or .npz", session.current_dataset(), key="gan_data",
                         help="The session's dataset (chosen on Home or Data), or a .npz file of images.")
    name = st.text_input("Run name (optional)", key="gan_run_name", placeholder="<model>-<date>-<time>")
    go = st.form_submit_button("Start training", type="primary")
if go:
    try:
        config = ui.new_run_config(name.strip() or f"{model}-{time.strftime('%Y%m%d-%H%M%S')}", data.strip(),
                                   model=model, epochs=int(epochs), image_size=int(size), width=float(width),
                                   time_budget=float(budget * 60))
        st.session_state["gan_run_choice"] = ui.launch_gan_training(config).name  # shown below at once
        st.success(f"Started {config.run_dir}.")
    except SkinmlError as exc:
        show_error(exc)

runs = ui.list_runs()
if not runs:
    st.info("No GAN runs yet: start one above, or run `python -m skinml train --kind gan --help`.")
    st.stop()
names = [r.name for r in runs]
if st.session_state.get("gan_run_choice") not in names:
    st.session_state["gan_run_choice"] = names[0]  # the newest
run = runs[names.index(st.selectbox("Run", names, key="gan_run_choice"))]

status = ui.live_run_ui(run)
c1, c2, _ = st.columns([1, 1, 4])
if c1.button("Stop", disabled=status != "running", key="gan_stop", help="Stops this run's process only."):
    try:
        ui.stop_training(run)  # only the session that started it may stop it
        st.rerun()
    except SkinmlError as exc:
        show_error(exc)
if c2.button("Resume", disabled=status not in ("stopped", "interrupted", "failed"), key="gan_resume",
             help="Continues after the last complete epoch."):
    try:
        ui.resume_gan_training(run)
        st.rerun()
    except SkinmlError as exc:
        show_error(exc)
