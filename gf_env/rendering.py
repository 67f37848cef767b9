"""Frames of glance-and-focus episodes for ``render_mode="rgb_array"``, drawn with OpenCV.

A frame shows the image, upscaled so that its longer side is at least :data:`MIN_SIDE` pixels,
with the glance (box 0, the whole image) and every focus patch so far as numbered boxes in the
colour of their step (:func:`step_colors`), and next to it the step, the label, the prediction and
a bar chart of the top class probabilities. Every frame of an environment has the same size, as
video recorders need. The environments only call :func:`render`.
"""

from __future__ import annotations

import math

import cv2
import gymnasium as gym
import numpy as np
import torch

from classifiers.patches import patch_corners
from gf_env.engine import EpisodeStateError, GlanceFocusEngine

RENDER_MODES = ("rgb_array",)
RENDER_FPS = 2
MIN_SIDE = 256
"""the image's longer side in a frame is at least this many pixels"""
PANEL_WIDTH = 190
TOP_CLASSES = 5
PALETTE = np.array(
    [
        (255, 255, 255),  # the glance
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (188, 189, 34),
        (23, 190, 207),
    ],
    dtype=np.uint8,
)
FONT = cv2.FONT_HERSHEY_SIMPLEX
TEXT = (235, 235, 235)
RIGHT, WRONG, OTHER = (60, 200, 90), (230, 70, 60), (150, 150, 150)


def step_colors(num_steps: int) -> np.ndarray:
    """RGB ``uint8`` colours ``(num_steps, 3)`` of steps 0 (the glance), 1, 2, ...; focus steps
    cycle through nine colours."""
    steps = np.arange(num_steps)
    return PALETTE[np.where(steps == 0, 0, 1 + (steps - 1) % (len(PALETTE) - 1))]


def patch_tags(corners: np.ndarray) -> list[str | None]:
    """The tag of each focus patch (``corners`` ``(t, 2)``): its step number, or, when later
    steps chose the same patch, ``None`` and the last of them shows all (``"2,3"``)."""
    steps: dict[tuple[int, int], list[int]] = {}
    for step, corner in enumerate(corners, start=1):
        steps.setdefault((int(corner[0]), int(corner[1])), []).append(step)
    last = {same[-1]: ",".join(map(str, same)) for same in steps.values()}
    return [last.get(step) for step in range(1, len(corners) + 1)]


def upscale_factor(height: int, width: int) -> int:
    """Integer zoom that brings the longer side to at least :data:`MIN_SIDE` pixels."""
    return max(1, math.ceil(MIN_SIDE / max(height, width)))


def render(
    engine: GlanceFocusEngine, ids: np.ndarray, render_mode: str | None
) -> list[np.ndarray] | None:
    """What an environment's ``render()`` returns for ``ids``: their frames in ``rgb_array`` mode,
    ``None`` (with a warning, as Gymnasium's environments do) without a render mode."""
    if render_mode is None:
        gym.logger.warn(
            "render() called without a render mode; make the env with render_mode='rgb_array'"
        )
        return None
    return render_engine(engine, ids)


def render_engine(engine: GlanceFocusEngine, ids: np.ndarray) -> list[np.ndarray]:
    """Frames ``(height, width, 3)`` ``uint8`` of the episodes ``ids`` as they are now.

    The engine must keep class probabilities (``keep_probs=True``).
    """
    if engine.probs is None:
        raise RuntimeError("rendering needs an engine built with keep_probs=True")
    steps = engine.step_count[ids]
    if (steps < 0).any():
        raise EpisodeStateError("render() called before reset(); call reset() first")
    with torch.inference_mode():
        images = engine.images[torch.as_tensor(ids, device=engine.device)].float().cpu().numpy()
    size = (engine.height, engine.width)
    frames = []
    for image, i, t in zip(images, ids, steps, strict=True):
        corners = patch_corners(torch.from_numpy(engine.locations[i, :t]), size, engine.patch_size)
        frames.append(
            draw_frame(
                image,
                corners.numpy(),
                engine.patch_size,
                engine.probs[i],
                int(engine.label[i]),
                engine.max_focus_steps,
            )
        )
    return frames


def draw_frame(
    image: np.ndarray,
    corners: np.ndarray,
    patch_size: int,
    probs: np.ndarray,
    label: int,
    max_focus_steps: int,
) -> np.ndarray:
    """One frame: ``image`` ``(C, H, W)`` in [0, 1] with the glance and the focus patches whose
    top-left ``corners`` ``(t, 2)`` (row, column) are given, and the class ``probs`` after step
    ``t``. Returns ``(height, width, 3)`` ``uint8``; the size depends only on the image size and
    ``max_focus_steps``."""
    height, width = image.shape[1:]
    zoom = upscale_factor(height, width)
    picture = draw_boxes(image, corners, patch_size, zoom)
    panel_height = 110 + 22 * TOP_CLASSES
    frame = np.zeros((max(picture.shape[0], panel_height), picture.shape[1] + PANEL_WIDTH, 3))
    frame = frame.astype(np.uint8)
    frame[: picture.shape[0], : picture.shape[1]] = picture
    _draw_panel(frame, picture.shape[1] + 10, len(corners), max_focus_steps, probs, label)
    return frame


def draw_boxes(image: np.ndarray, corners: np.ndarray, patch_size: int, zoom: int) -> np.ndarray:
    """The image ``(C, H, W)`` in [0, 1] zoomed ``zoom`` times (nearest neighbour) as RGB
    ``uint8``, with box 0 around the whole image (the glance) and box ``s`` around the patch of
    focus step ``s`` at ``corners[s - 1]`` (one tag ``"2,3"`` where steps chose the same patch)."""
    pixels = (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8).transpose(1, 2, 0)
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    elif pixels.shape[2] != 3:
        raise ValueError(f"can draw 1- or 3-channel images, got {pixels.shape[2]} channels")
    height, width = pixels.shape[:2]
    picture = cv2.resize(pixels, (width * zoom, height * zoom), interpolation=cv2.INTER_NEAREST)
    colors = step_colors(len(corners) + 1)
    boxes = [(0, 0, height, width)] + [(int(r), int(c), patch_size, patch_size) for r, c in corners]
    tags = ["0", *patch_tags(corners)]
    for step, ((top, left, box_h, box_w), tag) in enumerate(zip(boxes, tags, strict=True)):
        color = tuple(int(v) for v in colors[step])
        corner = (left * zoom, top * zoom)
        end = ((left + box_w) * zoom - 1, (top + box_h) * zoom - 1)
        cv2.rectangle(picture, corner, end, color, 2)
        if tag is None:
            continue
        (text_w, text_h), _ = cv2.getTextSize(tag, FONT, 0.5, 1)
        cv2.rectangle(
            picture, corner, (corner[0] + text_w + 5, corner[1] + text_h + 6), color, cv2.FILLED
        )
        cv2.putText(picture, tag, (corner[0] + 2, corner[1] + text_h + 3), FONT, 0.5, (0, 0, 0), 1)
    return picture


def _draw_panel(
    frame: np.ndarray, x: int, step: int, max_focus_steps: int, probs: np.ndarray, label: int
) -> None:
    prediction = int(np.argmax(probs))
    color = tuple(int(v) for v in step_colors(step + 1)[step])
    lines = [
        (f"step {step}/{max_focus_steps}" + (" (glance)" if step == 0 else ""), color),
        (f"label {label}", TEXT),
        (f"predicts {prediction}", RIGHT if prediction == label else WRONG),
        (f"p(label) {probs[label]:.2f}", TEXT),
    ]
    for row, (text, text_color) in enumerate(lines):
        cv2.putText(frame, text, (x, 22 + 22 * row), FONT, 0.5, text_color, 1, cv2.LINE_AA)
    bar_width = PANEL_WIDTH - 80
    for row, cls in enumerate(np.argsort(-probs, kind="stable")[:TOP_CLASSES]):
        y = 110 + 22 * row
        cv2.putText(frame, str(cls), (x, y + 12), FONT, 0.45, TEXT, 1, cv2.LINE_AA)
        length = round(float(probs[cls]) * bar_width)
        bar_color = RIGHT if cls == label else OTHER
        cv2.rectangle(frame, (x + 22, y), (x + 22 + max(length, 1), y + 14), bar_color, cv2.FILLED)
        cv2.putText(
            frame,
            f"{probs[cls]:.2f}",
            (x + 26 + bar_width, y + 12),
            FONT,
            0.4,
            TEXT,
            1,
            cv2.LINE_AA,
        )
