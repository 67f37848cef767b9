"""A timm-style registry of glance/focus classifiers.

Register a factory with :func:`register_classifier`, build it with :func:`create_classifier`, list
names with :func:`list_classifiers`. A factory takes keyword overrides and returns an object that
implements :class:`~classifiers.GlanceFocusClassifier`.

A classifier can ship more than one set of weights. The default set goes with the plain name; any
other set is a *tag* (:func:`register_weights`), named as timm names them: ``<name>.<tag>``, e.g.
``gf-mnist-cluttered100.mnist50k`` (trained on 50,000 MNIST training digits instead of the
embedded 4,000). A tagged name works wherever a name does (``create_classifier``, an env's
``classifier=``, ``--classifier``), and builds the same architecture as the plain name.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import multiprocessing
import os
import re
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from classifiers.checkpoint import load_file, load_into
from classifiers.data.canvas import CANVAS_PRESETS
from classifiers.gfnet_import import gfnet_to_classifier_checkpoint, is_gfnet_checkpoint
from classifiers.interface import GlanceFocusClassifier
from classifiers.preprocessing import Preprocessing
from classifiers.utils import did_you_mean, name_hints, resolve_device

WEIGHTS_DIR = Path(__file__).parent / "weights"


@dataclass(frozen=True)
class ClassifierEntry:
    """A registered classifier.

    Args:
        name: registry name.
        factory: ``factory(**overrides)`` builds the untrained model.
        weights: file name of the shipped weights in ``classifiers/weights``, if any.
        data: name of the data the weights were trained on (e.g. a canvas preset). With a canvas
            preset, :func:`create_classifier` checks that the model is built for its canvas size.
        train_command: the command that reproduces the shipped weights.
        description: one line for listings.
        preprocessing: the model's preprocessing record (``None``: read it off the built model,
            see :func:`preprocessing_of`).
        tags: further shipped weights by tag (:func:`register_weights`); the entry of
            ``<name>.<tag>`` (:func:`get_entry`) holds that tag's file and command.
    """

    name: str
    factory: Callable[..., GlanceFocusClassifier]
    weights: str | None = None
    data: str | None = None
    train_command: str | None = None
    description: str = ""
    preprocessing: Preprocessing | None = None
    tags: dict[str, ClassifierEntry] = field(default_factory=dict, repr=False)

    @property
    def weights_path(self) -> Path | None:
        return None if self.weights is None else WEIGHTS_DIR / self.weights


_REGISTRY: dict[str, ClassifierEntry] = {}


def register_classifier(
    name: str,
    *,
    weights: str | None = None,
    data: str | None = None,
    train_command: str | None = None,
    description: str = "",
    overwrite: bool = False,
    preprocessing: Preprocessing | None = None,
) -> Callable[[Callable[..., GlanceFocusClassifier]], Callable[..., GlanceFocusClassifier]]:
    """Decorator that registers a classifier factory under ``name``.

    ``name`` is ASCII (letters, digits, ``.``, ``-``, ``_``). A name that is taken, or that
    names a shipped weights tag (``gf-mnist-cluttered100.mnist50k``, which it would replace), is
    refused unless ``overwrite=True``.

    Example:
        >>> from classifiers import GFConfig, GFModel, register_classifier
        >>> @register_classifier("my-gf-60", description="my own GF model")
        ... def my_gf_60(**overrides):
        ...     return GFModel(GFConfig(image_size=(60, 60), patch_size=28, **overrides))
    """

    _check_name("classifier names", name, _NAME)
    base, _, tag = name.rpartition(".")
    if base in _REGISTRY and tag in _REGISTRY[base].tags and not overwrite:
        raise ValueError(
            f"{name!r} names the weights tagged {tag!r} of classifier {base!r}; registering it "
            "would replace those weights wherever the name is used. Pick another name or pass "
            "overwrite=True"
        )
    if name in _REGISTRY and not overwrite:
        raise ValueError(
            f"classifier {name!r} is already registered; pick another name or pass overwrite=True"
        )

    def wrap(factory: Callable[..., GlanceFocusClassifier]) -> Callable[..., GlanceFocusClassifier]:
        _REGISTRY[name] = ClassifierEntry(
            name, factory, weights, data, train_command, description, preprocessing
        )
        if getattr(factory, "__module__", None) == "__main__" and _main_is_interactive():
            warnings.warn(
                f"classifier {name!r} is registered in an interactive __main__ (python -c, a "
                f"notebook, a REPL): worker processes started with 'spawn' (async vector envs "
                f"with context='spawn', TorchRL's ParallelEnv and collectors; the default on "
                f"macOS and Windows) never run it and stop with: unknown classifier {name!r}. "
                "Register it in a module file that the workers import too (a script run as "
                "`python script.py` is fine: spawned workers re-run its top level)",
                stacklevel=2,
            )
        return factory

    return wrap


def register_weights(
    name: str,
    tag: str,
    *,
    weights: str,
    train_command: str,
    description: str,
    overwrite: bool = False,
) -> None:
    """Ship another set of weights for the registered classifier ``name``, chosen as
    ``<name>.<tag>``.

    Args:
        name: a registered (untagged) classifier name.
        tag: the tag; ASCII letters, digits, ``-`` and ``_``.
        weights: file name in ``classifiers/weights`` (or an absolute path).
        train_command: the command that reproduces the file.
        description: what the weights were trained on (one line, for listings).
        overwrite: replace a tag registered before.

    Example:
        >>> from classifiers import register_weights
        >>> register_weights("gf-mnist-cluttered100", "my-run", weights="mine.pt",
        ...                  train_command="python -m classifiers.train ...",
        ...                  description="my own training run")  # doctest: +SKIP
    """
    entry = get_entry(name)
    if entry.name != name or "." in name:
        raise ValueError(f"register_weights takes an untagged classifier name, got {name!r}")
    _check_name("weights tags", tag, _TAG)
    if (tag in entry.tags or f"{name}.{tag}" in _REGISTRY) and not overwrite:
        raise ValueError(
            f"{name}.{tag} is already registered; pick another tag or pass overwrite=True"
        )
    entry.tags[tag] = dataclasses.replace(
        entry,
        name=f"{name}.{tag}",
        weights=weights,
        train_command=train_command,
        description=f"{entry.description} [{tag}: {description}]",
        tags={},
    )


# Names and tags are ASCII: a look-alike letter from another script (Cyrillic "і" for "i") would
# name different weights than the ones a reader sees.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_TAG = re.compile(r"[A-Za-z0-9_-]+")


def _check_name(what: str, value: object, pattern: re.Pattern[str]) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        allowed = "'.', '-'" if "." in pattern.pattern else "'-'"
        odd = sorted({c for c in value if not c.isascii()}) if isinstance(value, str) else []
        where = f" (non-ASCII: {', '.join(f'{c!r} U+{ord(c):04X}' for c in odd)})" if odd else ""
        raise ValueError(
            f"{what} are ASCII letters, digits, {allowed} and '_', got {value!r}{where}; a "
            "look-alike letter from another script would name other weights than it shows. "
            "Spell it in ASCII"
        )


def get_entry(name: str) -> ClassifierEntry:
    """The registry entry of ``name`` (or of a tagged ``<name>.<tag>``: the same factory with that
    tag's weights and command); unknown names raise with the closest registered names."""
    base, _, tag = name.rpartition(".")
    if name not in _REGISTRY and base in _REGISTRY:
        tags = _REGISTRY[base].tags
        if tag not in tags:
            raise KeyError(
                f"classifier {base!r} has no weights tagged {tag!r}.{did_you_mean(tag, tags)} "
                f"Tags: {sorted(tags) or 'none'}; the plain name {base!r} takes its default weights"
            )
        return tags[tag]
    if name not in _REGISTRY:
        hint = did_you_mean(name, _REGISTRY, n=3, cutoff=0.5)
        if multiprocessing.parent_process() is not None:
            hint += (
                " (This is a worker process: a registration made in the parent's interactive "
                "__main__, python -c or a notebook, is not seen here under 'spawn'; register it "
                "in a module file and import that module in the workers.)"
            )
        raise KeyError(
            f"unknown classifier {name!r}.{hint} Registered: {sorted(_REGISTRY)} "
            "(see classifiers.list_classifiers())"
        )
    return _REGISTRY[name]


def preprocessing_of(classifier: str | GlanceFocusClassifier) -> Preprocessing | None:
    """The preprocessing record of ``classifier``: a registry name or a model object.

    A registry name gives its entry's record (or, for an entry registered without one, the record
    of the model its factory builds); an object gives its ``preprocessing`` attribute. ``None``
    when neither says (a user's own classifier without the attribute).

    Args:
        classifier: a name of :func:`list_classifiers`, or a classifier object.
    """
    if isinstance(classifier, str):
        entry = get_entry(classifier)
        if entry.preprocessing is not None:
            return entry.preprocessing
        classifier = entry.factory()
    record = getattr(classifier, "preprocessing", None)
    return record if isinstance(record, Preprocessing) else None


def list_classifiers(pattern: str = "*", pretrained: bool = False) -> list[str]:
    """Registered names matching the glob ``pattern``. With ``pretrained``, the names whose
    shipped weights are present, tagged names (``<name>.<tag>``) included."""
    if not pretrained:
        return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))
    entries = [e for base in _REGISTRY.values() for e in (base, *base.tags.values())]
    return sorted(
        e.name
        for e in entries
        if fnmatch.fnmatch(e.name, pattern)
        and e.weights_path is not None
        and e.weights_path.is_file()
    )


def create_classifier(
    name: str,
    *,
    pretrained: bool = False,
    checkpoint: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    **overrides,
) -> GlanceFocusClassifier:
    """Build a registered classifier, optionally with weights.

    Args:
        name: registry name (see :func:`list_classifiers`), or ``<name>.<tag>`` for weights
            shipped under a tag (:func:`register_weights`).
        pretrained: load the weights the project ships for ``name`` (for a tagged name: that
            tag's).
        checkpoint: load weights from this file instead (a checkpoint written by
            :mod:`classifiers.train`, or an official GFNet file: :mod:`classifiers.gfnet_import`).
        device: where to put the model; ``None`` means CUDA when available, else CPU.
        **overrides: passed to the factory (architecture fields such as ``hidden_size``).

    Returns:
        The model in eval mode.
    """
    entry = get_entry(name)
    target = resolve_device(device)  # a bad device fails before any work
    try:
        model = entry.factory(**overrides)
    except TypeError as exc:
        if not overrides or "unexpected keyword argument" not in str(exc):
            raise
        raise TypeError(f"classifier {name!r} {_override_hint(entry, overrides)}") from None
    _check_data(entry, model)
    path = Path(checkpoint) if checkpoint is not None else None
    if path is None and pretrained:
        path = entry.weights_path
        if path is None:
            raise ValueError(f"classifier {name!r} has no shipped weights; pass checkpoint=PATH")
        if not path.is_file():
            raise FileNotFoundError(
                f"shipped weights of {name!r} are missing at {path!s}; rebuild them with: "
                f"{entry.train_command}"
            )
    if path is not None:
        data = load_file(path)
        if is_gfnet_checkpoint(data):  # an official GFNet release or training file
            data = gfnet_to_classifier_checkpoint(data, model, source=str(path))
        load_into(model, data, source=str(path))
    if isinstance(model, nn.Module):
        model.to(target).eval()
    return model


def _main_is_interactive() -> bool:
    """Whether ``__main__`` has no file that a spawned worker could run again."""
    return not getattr(sys.modules.get("__main__"), "__file__", None)


def _check_data(entry: ClassifierEntry, model: GlanceFocusClassifier) -> None:
    """A model registered with a canvas preset as ``data`` must be built for its canvas size (read
    from ``model.config.image_size`` or ``model.image_size``, when the model declares one)."""
    spec = CANVAS_PRESETS.get(entry.data) if isinstance(entry.data, str) else None
    declared = getattr(getattr(model, "config", None), "image_size", None)
    declared = declared if declared is not None else getattr(model, "image_size", None)
    if spec is None or declared is None:
        return
    height, width = (declared, declared) if isinstance(declared, int) else tuple(declared)
    if (height, width) != (spec.size, spec.size):
        raise ValueError(
            f"classifier {entry.name!r} builds a model for {height}x{width} images, but it is "
            f"registered with data={entry.data!r}, whose canvases are {spec.size}x{spec.size}; "
            f"register it with the canvases it takes (data=...) or build it for "
            f"{spec.size}x{spec.size} images"
        )


def _override_hint(entry: ClassifierEntry, overrides: dict) -> str:
    """Which of ``overrides`` the model's config dataclass lacks, with close names."""
    config = getattr(entry.factory(), "config", None)
    if not dataclasses.is_dataclass(config):
        return f"does not take the override(s) {sorted(overrides)}"
    names = [f.name for f in dataclasses.fields(config)]
    unknown = sorted(set(overrides) - set(names))
    return f"has no setting {name_hints(unknown, names)}; valid overrides: {names}"
