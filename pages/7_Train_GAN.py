"""Train a GAN in its own process and watch it live: sample grid, losses, GIF; past runs."""

import time

import streamlit as st

from skinml.app import gan_ui as ui
from skinml.app import setup_page, show_error
from skinml.gan.models import SPECS
from skinml.gan.train import read_losses, read_state
from skinml.plots.gan import plot_losses

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
    from skinml.data.readers import default_data_dir
    data = c6.text_input("ISIC folder or .npz", str(default_data_dir()))
    name = st.text_input("Run name", f"{model}-{time.strftime('%Y%m%d-%H%M%S')}")
    go = st.form_submit_button("Start training")
if go:
    try:
        kind = "--data-npz" if data.endswith(".npz") else "--data-dir"
        run_dir = ui.gan_runs_root() / name
        ui.start_training(["--model", model, "--epochs", str(epochs), "--image-size", str(size),
                           "--width", str(width), kind, data, "--time-budget", str(budget * 60)], run_dir)
        st.session_state["gan_run"] = str(run_dir)
        st.success(f"Started: {run_dir}")
    except Exception as exc:  # noqa: BLE001
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
    from skinml.runs import run_status

    status, state = run_status(run), read_state(run)
    st.write(f"Status **{status}** · epoch {state.get('epoch', 0)} / {state.get('epochs', '?')} · "
             f"{state.get('images_seen', 0):,} images seen · {state.get('seconds', 0):.0f} s")
    if state.get("epochs"):
        st.progress(min(1.0, state.get("epoch", 0) / state["epochs"]))
    left, right = st.columns(2)
    grids = sorted((run / "samples").glob("epoch_*.png"))
    if grids:
        left.image(str(grids[-1]), caption=f"fixed latent seed, {grids[-1].stem}", use_container_width=True)
    rows = read_losses(run)
    if rows:
        right.plotly_chart(plot_losses(rows), use_container_width=True)
    if (run / "training.gif").exists():
        right.image(str(run / "training.gif"), caption="training, epoch by epoch")
    if status == "running" and st.button("Stop", key=f"stop-{run.name}"):
        ui.stop_training(run)
    if (run / "log.txt").exists() and status in ("failed", "interrupted"):
        st.code((run / "log.txt").read_text()[-2000:])


live(run)
