"""Images from a folder of class sub-folders (torchvision's ImageFolder layout, e.g. ImageNet).

``root/<class>/<image>``: classes are the sub-folder names in sorted order, images the files with
an image extension below each (sub-folders included), in sorted order. Every image gets the
standard evaluation preprocessing, pixel for pixel torchvision's ``Resize(resize_size)`` +
``CenterCrop(image_size)`` on a PIL image (the official GFNet validation transform): the shorter
side becomes ``resize_size`` (256 for 224 crops) and the longer ``int(resize_size * long / short)``,
then a centre crop of ``image_size`` at ``int(round(margin / 2))``; values become ``float32`` RGB
in [0, 1]. A model's sizes and filter come from its preprocessing record
(:mod:`classifiers.preprocessing`).

- A class folder without any image file raises (naming it): counting it as a class would shift
  the labels of every later class against a classifier's outputs, skipping it silently too.

- Grayscale, palette, RGBA (alpha dropped), CMYK and 16-bit images are converted to RGB.
  Floating-point (mode ``F``) images with values in [0, 1] are scaled to [0, 255] first (Pillow
  would clip them to black); other float images are read as [0, 255] and clipped.
- Tiny images: the resize scales the shorter side *up* to ``resize_size`` as well, so any image,
  however small, yields a full ``image_size`` crop (blurry, but never a crash or padding).
- Unreadable files (corrupt, truncated, not an image): skipped with a warning and counted in
  :attr:`ImageFolderSource.skipped`; the image at the next readable index takes their place, so
  a training run or an episode never stops on one bad file (the batch's ``indices`` name the image
  actually shown, and so does the environment's ``info["image_index"]``). A folder where nothing
  is readable raises.

Decoding off the main thread. The environment draws image indices from its own seeded RNGs at
reset time and then asks for them in one ``sample_batch(indices, rngs)`` call, so a DataLoader
with a fixed sampler cannot know them in advance. Instead the source decodes in a thread pool
(Pillow releases the GIL while decoding and resizing) with a small cache keyed by index, and
*decodes ahead* the indices it expects next: the environment's next draw from each ``rngs[j]``
(predicted on a copy of the generator, which is exact because this source draws nothing itself)
and the indices that follow the batch (the evaluation harness's sequential order). A wrong guess
costs only wasted background work; the returned batch is always the pure function of the indices
that :class:`~classifiers.data.ImageSource` requires. Training (:mod:`classifiers.train`) instead
reads :class:`FolderDataset` through a ``torch.utils.data.DataLoader`` with worker processes,
where the sampler knows the order.
"""

from __future__ import annotations

import copy
import os
import stat
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from classifiers.data.base import Batch

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
INTERPOLATIONS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}


class UnreadableImageError(OSError):
    """An image file that Pillow cannot decode."""


def scan_folder(root: str | os.PathLike) -> tuple[list[str], list[tuple[Path, int]]]:
    """Classes (sorted sub-folder names) and ``(path, class index)`` of every image below them.

    Raises:
        FileNotFoundError: ``root`` does not exist or is not a folder.
        ValueError: ``root`` has no class sub-folders, or one of them holds no image file.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"image folder {str(root)!r} does not exist or is not a folder; pass the folder that "
            "holds one sub-folder per class (root/<class>/<image>.jpg)"
        )
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise ValueError(
            f"image folder {str(root)!r} has no class sub-folders; the layout is "
            "root/<class>/<image>.jpg (torchvision's ImageFolder)"
        )
    items, empty = [], []
    for label, name in enumerate(classes):
        files = sorted(
            p
            for p in (root / name).rglob("*")
            if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
        )
        items.extend((path, label) for path in files)
        if not files:
            empty.append(name)
    if empty:
        raise ValueError(
            f"{len(empty)} of the {len(classes)} class folders of {str(root)!r} hold no image "
            f"file with extensions {IMAGE_EXTENSIONS}: {empty[:5]}; remove them or add images "
            "(a class without images would shift the labels of the classes after it)"
        )
    return classes, items


def load_image(
    path: str | os.PathLike,
    image_size: int,
    resize_size: int,
    interpolation: str = "bilinear",
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Decode, convert to RGB, resize the shorter side to ``resize_size`` and centre-crop
    ``image_size``; returns ``(3, image_size, image_size)`` ``float32`` in [0, 1].

    With ``rng`` (training augmentation), the crop is placed at random and flipped
    horizontally with probability 1/2.

    Raises:
        UnreadableImageError: the file cannot be decoded (corrupt, truncated, not an image).
    """
    try:
        with _open_regular(path) as handle, Image.open(handle) as img:
            img.load()
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                img = img.point(lambda v: v / 256).convert("L")  # 16-bit gray to 8-bit
            elif img.mode == "F":
                img = float_to_gray(np.asarray(img, dtype=np.float64), path)
            rgb = img.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise UnreadableImageError(f"{path}: {type(exc).__name__}: {exc}") from None
    width, height = rgb.size
    short, long = min(width, height), max(width, height)
    sides = (resize_size, max(image_size, int(resize_size * long / short)))  # torchvision's sizes
    size = sides if width <= height else sides[::-1]
    rgb = rgb.resize(size, INTERPOLATIONS[interpolation])
    left = round((size[0] - image_size) / 2)  # torchvision's CenterCrop offsets (half to even)
    top = round((size[1] - image_size) / 2)
    if rng is not None:
        left = int(rng.integers(size[0] - image_size + 1))
        top = int(rng.integers(size[1] - image_size + 1))
    rgb = rgb.crop((left, top, left + image_size, top + image_size))
    if rng is not None and rng.random() < 0.5:
        rgb = rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1) / 255.0


def _open_regular(path: str | os.PathLike) -> BinaryIO:
    """``path`` opened for reading if it is a regular file (after symlinks), checked on the open
    file itself: a file swapped for a named pipe after the folder scan would block the read
    forever, a device (``/dev/zero``) never end.

    Raises:
        OSError: it is not a regular file, or cannot be opened.
    """
    # O_NONBLOCK: opening a named pipe for reading would wait for a writer
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _SPECIAL_KINDS if test(mode)), "special file")
            raise OSError(f"not a regular file (a {kind}); only image files are read")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "named pipe"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISDIR, "folder"),
)


def float_to_gray(values: np.ndarray, path: str | os.PathLike) -> Image.Image:
    """An 8-bit grayscale image of a floating-point one: [0, 1] scaled to [0, 255], anything
    else read as [0, 255] and clipped.

    Raises:
        ValueError: the image holds NaN or infinite values.
    """
    if not np.isfinite(values).all():
        raise ValueError(f"floating-point image {path} holds NaN or infinite values")
    if values.size and values.min() >= 0.0 and values.max() <= 1.0:
        values = values * 255.0
    return Image.fromarray(np.rint(np.clip(values, 0.0, 255.0)).astype(np.uint8))


class FolderDataset:
    """A map-style dataset (``torch.utils.data.Dataset`` protocol) over an image folder.

    ``dataset[i]`` is ``(image (3, S, S) float32 in [0, 1], label)``; an unreadable file is
    replaced by the next readable one (see the module docstring) and counted in ``skipped``
    (per process: DataLoader workers count their own).

    Args:
        root: the folder of class sub-folders.
        image_size: side of the centre crop.
        resize_size: shorter side before the crop; default ``image_size / 0.875`` (256 for 224).
        interpolation: ``"bilinear"`` or ``"bicubic"``.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        image_size: int = 224,
        resize_size: int | None = None,
        interpolation: str = "bilinear",
    ):
        if interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"interpolation must be one of {sorted(INTERPOLATIONS)}, got {interpolation!r}"
            )
        if image_size < 1:
            raise ValueError(f"image_size must be >= 1, got {image_size}")
        self.root = Path(root)
        self.classes, self.items = scan_folder(root)
        self.image_size = image_size
        self.resize_size = resize_size or int(image_size / 0.875)
        if self.resize_size < image_size:
            raise ValueError(
                f"resize_size {self.resize_size} is smaller than image_size {image_size}; the "
                "centre crop must fit in the resized image"
            )
        self.interpolation = interpolation
        self.num_classes = len(self.classes)
        self.image_shape = (3, image_size, image_size)
        self.labels = np.array([label for _, label in self.items], dtype=np.int64)
        self.skipped: set[int] = set()
        self._lock = threading.RLock()
        self.augment_seed: int | None = None
        self.epoch = 0

    def augment(self, seed: int) -> FolderDataset:
        """Switch on training augmentation (random crop position, horizontal flip), drawn from
        a generator seeded with ``(seed, epoch, index)``: reproducible, and the same in every
        DataLoader worker; call :meth:`set_epoch` before each epoch."""
        self.augment_seed = seed
        return self

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        image, label, _ = self.load(index)
        return image, label

    def load(self, index: int) -> tuple[np.ndarray, int, int]:
        """``(image, label, index of the file shown)``: ``index``, or the next readable one when
        it cannot be read."""
        for offset in range(len(self.items)):
            i = (int(index) + offset) % len(self.items)
            if i in self.skipped:
                continue
            path, label = self.items[i]
            try:
                rng = None
                if self.augment_seed is not None:
                    rng = np.random.default_rng([self.augment_seed, self.epoch, i])
                image = load_image(path, self.image_size, self.resize_size, self.interpolation, rng)
                return image, label, i
            except UnreadableImageError as exc:
                with self._lock:
                    self.skipped.add(i)
                warnings.warn(
                    f"skipping unreadable image {exc} ({len(self.skipped)} skipped so far); the "
                    f"next readable image takes its place",
                    RuntimeWarning,
                    stacklevel=2,
                )
        raise ValueError(f"no image under {str(self.root)!r} could be read ({len(self)} tried)")

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()  # locks do not pickle (DataLoader workers): make a new one
        state["_lock"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()


class ImageFolderSource(FolderDataset):
    """An :class:`~classifiers.data.ImageSource` over an image folder, decoding in threads with
    index-keyed decode-ahead (see the module docstring).

    Args:
        root, image_size, resize_size, interpolation: as :class:`FolderDataset`.
        workers: decoding threads (0: decode on the calling thread, no decode-ahead).
        cache_size: decoded images kept (the current batch, the guessed next ones and recent ones);
            default 4 batches of 64.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        image_size: int = 224,
        resize_size: int | None = None,
        interpolation: str = "bilinear",
        workers: int = 4,
        cache_size: int = 256,
    ):
        super().__init__(root, image_size, resize_size, interpolation)
        if workers < 0 or cache_size < 0:
            raise ValueError(f"workers and cache_size must be >= 0, got {workers}, {cache_size}")
        self.workers = workers
        self.cache_size = cache_size
        self._pool = ThreadPoolExecutor(workers, "gf-decode") if workers else None
        self._cache: OrderedDict[int, Future] = OrderedDict()
        self.cache_hits = 0

    def _future(self, index: int) -> Future:
        with self._lock:
            future = self._cache.get(index)
            if future is not None:
                self._cache.move_to_end(index)
                return future
            if self._pool is None:
                future = Future()
                future.set_result(self.load(index))
            else:
                future = self._pool.submit(self.load, index)
            self._cache[index] = future
            while len(self._cache) > max(self.cache_size, 1):
                self._cache.popitem(last=False)
            return future

    def sample_batch(self, indices: Sequence[int], rngs: Sequence[np.random.Generator]) -> Batch:
        indices = [int(i) for i in indices]
        with self._lock:
            self.cache_hits += sum(i in self._cache for i in indices)
        futures = [self._future(i) for i in indices]  # all submitted before any is awaited
        samples = [f.result() for f in futures]
        if self._pool is not None:
            self._decode_ahead(indices, rngs)
        return Batch(
            images=np.stack([image for image, _, _ in samples]),
            labels=np.array([label for _, label, _ in samples], dtype=np.int64),
            indices=np.array([shown for _, _, shown in samples], dtype=np.int64),
        )

    def _decode_ahead(self, indices: list[int], rngs: Sequence[np.random.Generator]) -> None:
        n = len(self)
        guesses = [int(copy.deepcopy(rng).integers(n)) for rng in rngs]
        guesses += [(max(indices) + 1 + k) % n for k in range(len(indices))]
        for index in guesses[: max(self.cache_size - len(indices), 0)]:
            self._future(index)

    def close(self) -> None:
        """Stop the decoding threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def __getstate__(self) -> dict:
        state = super().__getstate__()  # threads and futures do not pickle: start afresh
        state.update(_pool=None, _cache=OrderedDict())
        return state

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        if self.workers:
            self._pool = ThreadPoolExecutor(self.workers, "gf-decode")
