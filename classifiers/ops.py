"""Patch geometry shared by training, the environment and the baselines: where a location in
[0, 1]^2 puts a patch (:func:`patch_corners`), and the locations of grid cells and of patches
centred on a pixel."""

from __future__ import annotations

import math

import numpy as np
import torch


def patch_corners(
    locations: torch.Tensor, image_size: tuple[int, int], patch_size: int
) -> torch.Tensor:
    """Top-left corners of the patches at ``locations``.

    A location ``a`` in [0, 1]^2 (``a[0]`` row, ``a[1]`` column) maps to the corner
    ``floor(a * (H - P))`` per axis, so the patch is always inside the image.

    Args:
        locations: ``(..., 2)`` float tensor in [0, 1]; values outside are clipped.
        image_size: ``(H, W)`` of the full image.
        patch_size: side P of the patch; must not exceed H or W.

    Returns:
        ``(..., 2)`` ``int64`` tensor of (top, left).
    """
    height, width = image_size
    if patch_size > min(height, width):
        raise ValueError(f"patch_size {patch_size} is larger than the image {height}x{width}")
    span = torch.tensor(
        [height - patch_size, width - patch_size], dtype=torch.float64, device=locations.device
    )
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
