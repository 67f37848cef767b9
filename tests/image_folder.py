"""A generated image folder for the tests: a few classes of small photos and one corrupt file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("cat", "dog", "fox")
PER_CLASS = 8
CORRUPT = "dog/zz_corrupt.jpg"  # sorts last in its class


def write_folder(root: Path) -> Path:
    """Three classes of 8 images of assorted sizes and modes, plus one truncated JPEG."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(CLASSES):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(PER_CLASS):
            h, w = (
                (40, 30) if i == 0 else (int(rng.integers(230, 300)), int(rng.integers(230, 300)))
            )
            pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            pixels[..., c] = 255  # a class colour, so that images differ by class
            image = Image.fromarray(pixels)
            if i == 1:
                image.convert("L").save(folder / f"{i:02d}.jpg")
            elif i == 2:
                image.convert("RGBA").save(folder / f"{i:02d}.png")
            elif i == 3:
                image.convert("CMYK").save(folder / f"{i:02d}.jpg")
            else:
                image.save(folder / f"{i:02d}.jpg", quality=80)
    good = (root / "dog" / "04.jpg").read_bytes()
    (root / CORRUPT).write_bytes(good[: len(good) // 3])
    return root
