"""Convolution explained on a lesion image: kernel, stride, padding, output size, transposed convolution."""

import numpy as np
import pandas as pd
import streamlit as st

from skinml.app import explain_ui as ui
from skinml.app import setup_page, show_error
from skinml.errors import SkinmlError
from skinml.explain.convolution import convolve, output_size, transposed_convolve, transposed_output_size
from skinml.explain.features import KERNELS, scale_channel

setup_page("Convolution")
st.markdown("A convolutional layer slides a small grid of numbers, the **kernel** (or filter), over the "
            "image; at each stop it multiplies the pixels under it by the kernel and adds them up. "
            "**Stride** is the step between stops, **padding** the zeros added around the border.")

picked = ui.choose_image_ui("conv_image", dataset=True)
if picked is None:
    st.stop()
c1, c2, c3, c4 = st.columns(4)
n = c1.select_slider("Image side n (px)", [16, 32, 64, 96, 128, 192, 256], value=128, key="conv_n")
choice = c2.selectbox("Kernel", list(KERNELS) + ["your own numbers"], index=1, key="conv_kernel")
stride = c3.slider("Stride s", 1, 4, 1, key="conv_stride")
padding = c4.slider("Padding p", 0, 4, 1, key="conv_padding")

try:
    _, x = ui.read_for_model(picked[1], picked[0], n, "squash")
except SkinmlError as exc:
    show_error(exc)
    st.stop()
gray = ui.grayscale(x)

if choice == "your own numbers":
    f = st.radio("Kernel size f", [3, 5], horizontal=True, key="conv_f")
    start = pd.DataFrame(np.pad([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], (f - 3) // 2).astype(float))
    kernel = st.data_editor(start, key=f"conv_own_{f}").to_numpy(float)
else:
    kernel = KERNELS[choice]
    st.dataframe(pd.DataFrame(kernel).round(3))
f = kernel.shape[0]

if output_size(n, f, padding, stride) < 1:
    st.error("With these settings the kernel does not fit in the image: add padding or use a larger image.")
    st.stop()
out = convolve(gray, kernel, stride, padding)
m = out.shape[0]
st.latex(rf"\text{{output side}} = \left\lfloor \frac{{n + 2p - f}}{{s}} \right\rfloor + 1 = "
         rf"\left\lfloor \frac{{{n} + 2\cdot{padding} - {f}}}{{{stride}}} \right\rfloor + 1 = {m}")
back = transposed_convolve(out, kernel, stride, padding)
st.latex(rf"\text{{transposed}}: (m - 1)\,s - 2p + f = ({m} - 1)\cdot{stride} - 2\cdot{padding} + {f} = "
         rf"{transposed_output_size(m, f, padding, stride)}")

show = lambda a: ui.zoomed(scale_channel(a), 256)
a, b, c = st.columns(3)
a.image(show(gray), caption=f"input, {n}x{n} (grayscale)", width="stretch")
b.image(show(out), caption=f"convolution output, {m}x{m} (values {out.min():.2f} to {out.max():.2f})",
        width="stretch")
c.image(show(back), caption=f"transposed convolution of the output, {back.shape[0]}x{back.shape[1]}",
        width="stretch")
lost = (n + 2 * padding - f) % stride  # input pixels the last stride step could not reach
if back.shape[0] == n:
    size_note = f"here it gives {n} px again, the input's size, but not the input's image."
else:
    size_note = (f"here it gives {back.shape[0]} px, not {n}: with stride {stride} the convolution's last step "
                 f"left {lost} px of the input unvisited, and nothing in its output remembers them (a "
                 "generator's layer adds them back with `output_padding`). It never brings back the image.")
st.caption("Deep-learning libraries compute a cross-correlation (the kernel is not flipped), as here. A "
           "transposed convolution (the DCGAN generator's upsampling layer) stamps the kernel once per "
           f"input pixel, stride pixels apart, and adds the overlaps: {size_note} "
           "Each output is shown stretched between its own minimum and maximum.")
