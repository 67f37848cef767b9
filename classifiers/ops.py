"""Patch geometry shared by training and the environment."""

from __future__ import annotations

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
