"""Patch geometry shared by training, the environment and the baselines: where a location in
[0, 1]^2 puts a patch (:func:`patch_corners`), and the locations of grid cells and of patches
centred on a pixel."""

from __future__ import annotations

import math

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view


def patch_corners(
    locations: torch.Tensor | np.ndarray, image_size: tuple[int, int], patch_size: int
) -> torch.Tensor | np.ndarray:
    """Top-left corners of the patches at ``locations``.

    A location ``a`` in [0, 1]^2 (``a[0]`` row, ``a[1]`` column) maps to the corner
    ``floor(a * (H - P))`` per axis, so the patch is always inside the image.

    Args:
        locations: ``(..., 2)`` float tensor or NumPy array in [0, 1]; values outside are clipped.
            An array (the environments' per-step case) is computed in NumPy, without the
            per-call overhead of a few small torch ops; both give the same corners bit for bit.
        image_size: ``(H, W)`` of the full image.
        patch_size: side P of the patch; must not exceed H or W.

    Returns:
        ``(..., 2)`` ``int64`` tensor (an ``int64`` array for an array) of (top, left).
    """
    height, width = image_size
    if patch_size > min(height, width):
        raise ValueError(f"patch_size {patch_size} is larger than the image {height}x{width}")
    span = (height - patch_size, width - patch_size)
    if isinstance(locations, np.ndarray):
        clipped = np.clip(locations.astype(np.float64), 0.0, 1.0)
        return np.floor(clipped * np.array(span, dtype=np.float64)).astype(np.int64)
    span = torch.tensor(span, dtype=torch.float64, device=locations.device)
    return torch.floor(locations.to(torch.float64).clamp(0.0, 1.0) * span).to(torch.int64)


def crop_patches(
    images: torch.Tensor,
    corners: torch.Tensor,
    patch_size: int,
    image_index: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cut one ``patch_size`` square per corner.

    Args:
        images: ``(N, C, H, W)``.
        corners: ``(M, 2)`` ``int64`` (top, left), as from :func:`patch_corners`.
        image_index: ``(M,)`` which image each corner belongs to; default ``arange(N)`` (M = N).

    Returns:
        ``(M, C, P, P)`` patches.
    """
    if images.device.type == "cpu" and images.dtype == torch.float32 and not images.requires_grad:
        # the same strided gather in NumPy, at half the fixed cost of torch's advanced indexing
        # (the environments' per-step case); the patches are the same values
        rows = np.arange(images.shape[0]) if image_index is None else image_index.cpu().numpy()
        top_left = corners.cpu().numpy()
        windows = sliding_window_view(images.numpy(), (patch_size, patch_size), axis=(2, 3))
        # into a fresh tensor: torch's own strides (a size-1 channel axis keeps stride P * P,
        # which the convolutions' memory-format choice, and so their rounding, depends on)
        patches = torch.empty((len(rows), images.shape[1], patch_size, patch_size))
        patches.numpy()[...] = windows[rows, :, top_left[:, 0], top_left[:, 1]]
        return patches
    # A strided view of every P x P window, indexed once per patch: no index tensor of M*C*P*P.
    windows = images.unfold(2, patch_size, 1).unfold(3, patch_size, 1)  # (N, C, H-P+1, W-P+1, P, P)
    corners = corners.to(images.device)
    if image_index is None:
        image_index = torch.arange(images.shape[0], device=images.device)
    return windows[image_index.to(images.device), :, corners[:, 0], corners[:, 1]]


def tiling_grid(image_size: tuple[int, int], patch_size: int) -> int:
    """Cells per side of the square grid whose patches tile the image: ``ceil(max(H, W) / P)``."""
    return math.ceil(max(image_size) / patch_size)


def cell_locations(cells: np.ndarray, grid: int) -> np.ndarray:
    """Locations ``(..., 2)`` ``float32`` of grid cells: cell ``k`` of a ``grid x grid`` grid is
    row ``k // grid``, column ``k % grid``, at location ``(row, column) / (grid - 1)`` (the first
    cell at the top-left corner, the last at the bottom-right)."""
    rows, cols = np.divmod(np.asarray(cells), grid)
    return np.stack([rows, cols], axis=-1).astype(np.float32) / max(grid - 1, 1)


def centre_locations(
    centres: np.ndarray, image_size: tuple[int, int], patch_size: int
) -> np.ndarray:
    """Locations ``(..., 2)`` in [0, 1] of the patches centred on pixel ``centres`` ``(..., 2)``
    (row, column), clipped where the patch would leave the image; the inverse of
    :func:`patch_corners` up to its rounding."""
    span = np.maximum(np.array(image_size, dtype=np.float64) - patch_size, 1.0)
    return np.clip((centres - patch_size / 2) / span, 0.0, 1.0)
