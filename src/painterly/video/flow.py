"""Optical flow between frames, warping along it, and where the warp can be trusted.

Ruder, Dosovitskiy & Brox (2016), "Artistic style transfer for videos", §3: a frame's
stylisation is tied to the previous one warped along the optical flow, except where the flow
is unreliable. The flow here is OpenCV's DIS (Kroeger et al. 2016, "Fast Optical Flow using
Dense Inverse Search"): no learned weights, 3.7 ms a flow at 256 × 192 on a 2-core CPU
(docs/video.md), in place of the paper's DeepFlow/EpicFlow.

Conventions: images are H×W×3 float32 arrays in [0, 1] (or uint8); a flow is an H×W×2
float32 array of (dx, dy); ``flow(a, b)`` is the backward flow that says, for each pixel x of
``a``, where it came from in ``b``: a(x) ≈ b(x + flow(x)).
"""

from __future__ import annotations

import cv2
import numpy as np

OCCLUSION_RELATIVE = 0.01
OCCLUSION_ABSOLUTE = 0.5
"""The forward–backward check of Ruder et al. (§3.1, after Sundaram et al. 2010): a pixel is
disoccluded where |w̃ + w|² > 0.01 (|w̃|² + |w|²) + 0.5, w̃ the forward flow read at x + w."""
BOUNDARY_RELATIVE = 0.01
BOUNDARY_ABSOLUTE = 0.002
"""Motion boundaries (ibid.): |∇u|² + |∇v|² > 0.01 |w|² + 0.002."""


def gray(image: np.ndarray) -> np.ndarray:
    """The 8-bit luma that DIS reads, from an RGB frame (uint8 or float in [0, 1])."""
    if image.dtype != np.uint8:
        image = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def optical_flow(frame: np.ndarray, other: np.ndarray) -> np.ndarray:
    """The flow from ``frame`` back to ``other`` (both RGB, same size): for each pixel x of
    ``frame``, frame(x) ≈ other(x + flow(x)). DIS at its "medium" preset, which its authors
    tuned for quality at video rates."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)  # type: ignore[attr-defined]  # missing from OpenCV's stubs
    return dis.calc(gray(frame), gray(other), None)


def _sample_maps(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs + flow[..., 0], ys + flow[..., 1]


def warp(image: np.ndarray, flow: np.ndarray, cubic: bool = False) -> np.ndarray:
    """``image`` moved along ``flow``: out(x) = image(x + flow(x)), bilinear (or bicubic,
    which blurs less); a point that falls outside takes the nearest edge pixel (and
    :func:`inside` marks it)."""
    map_x, map_y = _sample_maps(flow)
    method = cv2.INTER_CUBIC if cubic else cv2.INTER_LINEAR
    return cv2.remap(image, map_x, map_y, method, borderMode=cv2.BORDER_REPLICATE)


def inside(flow: np.ndarray) -> np.ndarray:
    """Where x + flow(x) lies within the image (H×W bool)."""
    h, w = flow.shape[:2]
    map_x, map_y = _sample_maps(flow)
    return (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)


def consistency(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """The weights c of Ruder et al. (§3.1) for a frame: 1 where its backward flow is
    trusted, 0 at disocclusions, motion boundaries and points that come from outside the
    previous frame (H×W float32).

    ``backward`` is the flow from this frame to the previous one, ``forward`` from the
    previous one to this; where both are right, following one and then the other comes back
    to the start, so their sum at corresponding points is about zero.
    """
    there = warp(forward, backward)  # w̃(x) = forward(x + backward(x))
    round_trip = np.sum((there + backward) ** 2, axis=-1)
    lengths = np.sum(there**2, axis=-1) + np.sum(backward**2, axis=-1)
    disoccluded = round_trip > OCCLUSION_RELATIVE * lengths + OCCLUSION_ABSOLUTE
    du_y, du_x = np.gradient(backward[..., 0])
    dv_y, dv_x = np.gradient(backward[..., 1])
    slope = du_x**2 + du_y**2 + dv_x**2 + dv_y**2
    boundary = slope > BOUNDARY_RELATIVE * np.sum(backward**2, axis=-1) + BOUNDARY_ABSOLUTE
    return (~disoccluded & ~boundary & inside(backward)).astype(np.float32)


def warping_error(
    current: np.ndarray, previous: np.ndarray, backward: np.ndarray, weights: np.ndarray
) -> float:
    """Mean |current − warp(previous)| over the trusted pixels, in 0–255 levels: how much a
    stylised clip changes where the scene itself only moved (0 for a perfectly stable one)."""
    a = current.astype(np.float32)
    b = warp(previous.astype(np.float32), backward)
    scale = 1.0 if current.dtype == np.uint8 else 255.0
    trusted = weights > 0.5
    if not trusted.any():
        return 0.0
    return float(np.abs(a - b)[trusted].mean() * scale)
