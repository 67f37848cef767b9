"""Import of the official GFNet checkpoints (the released files and the training-time ones).

A GFNet file is a dict with ``model_prime_state_dict`` (the global encoder),
``model_state_dict`` (the local encoder), ``fc`` (the head: ``rnn.*`` + ``fc.*``, or the cascaded
``fc_2.*`` ..) and ``policy`` (see :mod:`agents.gfnet_policy`). The released files also carry
``model_name``, ``patch_size`` and FLOP/accuracy tables, and their encoder keys start with
``module.`` (saved from ``nn.DataParallel``); training-time files carry ``epoch``, ``acc``,
``optimizer`` .. and no prefix. Both load with ``create_classifier(name, checkpoint=PATH)``: the
registry reads the file with ``torch.load(weights_only=True)`` and this module maps it onto the
model, naming every missing, unexpected or mis-shaped key by its place in the file.

Encoder keys are matched by torchvision module names (``conv1``, ``layer1`` .. for ResNet), which
is how GFNet's ResNet and DenseNet encoders are named.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from classifiers.checkpoint import FORMAT, FORMAT_VERSION, CheckpointError

SECTIONS = {
    "model_prime_state_dict": "global_encoder.",
    "model_state_dict": "local_encoder.",
    "fc": "head.",
}
"""Section of a GFNet file -> prefix of the GF model's parameters it holds."""

PREFIX = "module."


def is_gfnet_checkpoint(data: dict[str, Any]) -> bool:
    """Whether ``data`` (a loaded file) is laid out as a GFNet release or training checkpoint."""
    return all(key in data for key in SECTIONS)


def strip_module_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys without the ``module.`` that ``nn.DataParallel`` adds."""
    return {k[len(PREFIX) :] if k.startswith(PREFIX) else k: v for k, v in state.items()}


def gfnet_state_dict(
    data: dict[str, Any], model: nn.Module, source: str
) -> dict[str, torch.Tensor]:
    """The GF model state dict of a GFNet file, checked against ``model``.

    BatchNorm ``num_batches_tracked`` counters missing from the file keep the model's values
    (older PyTorch did not save them; inference does not use them).

    Raises:
        CheckpointError: a section is missing or malformed, the patch size differs, or keys or
            shapes do not match; the message names each key as ``section['key']``.
    """
    patch = data.get("patch_size")
    model_patch = getattr(model, "patch_size", None)
    if patch is not None and model_patch is not None and int(patch) != model_patch:
        raise CheckpointError(
            f"{source} is a GFNet {data.get('model_name', '')} checkpoint for patch size {patch}, "
            f"but the model uses {model_patch}; create the registry entry ending in -p{patch}"
        )
    expected = model.state_dict()
    state: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    for section, prefix in SECTIONS.items():
        part = data[section]
        if not isinstance(part, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in part.items()
        ):
            raise CheckpointError(
                f"{source}: GFNet section {section!r} is a {type(part).__name__}, expected a "
                "state dict (parameter names to tensors)"
            )
        part = {k: (v, k) for k, v in strip_module_prefix(part).items()}
        if prefix != "head.":
            part = by_position(
                part, {k[len(prefix) :]: v for k, v in expected.items() if k.startswith(prefix)}
            )
        for key, (value, name) in part.items():
            state[prefix + key] = value
            origin[prefix + key] = f"{section}[{name!r}]"
    for key, value in expected.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = value
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(origin[k] for k in set(state) - set(expected))
    shapes = [
        f"{origin[k]}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or shapes:
        where = {prefix: section for section, prefix in SECTIONS.items()}
        named = [f"{where[k.split('.')[0] + '.']}[{k.split('.', 1)[1]!r}]" for k in missing]
        raise CheckpointError(
            f"{source} (GFNet {data.get('model_name', 'checkpoint')}) does not match the model: "
            f"missing {len(named)} keys {named[:10]}, unexpected {len(unexpected)} keys "
            f"{unexpected[:10]}, shape mismatches {shapes[:10]}; check that the registry entry "
            "is the file's backbone and patch size"
        )
    return state


def by_position(
    part: dict[str, tuple[torch.Tensor, str]], expected: dict[str, torch.Tensor]
) -> dict[str, tuple[torch.Tensor, str]]:
    """An encoder whose module names differ from torchvision's, matched by order.

    GFNet's MobileNet-V3/EfficientNet (geffnet) and RegNet (pycls) encoders hold the same layers
    as torchvision's in the same order under other names; some names may coincide (pycls and
    torchvision both call RegNet's last layer ``fc``). Unless every name matches, when both
    state dicts list tensors of the same shapes in the same order across the whole encoder
    (BatchNorm counters aside; a 1x1 convolution may stand for a linear layer), the file's
    tensors are renamed to the model's; otherwise ``part`` is returned unchanged, to be reported
    key by key.
    """

    def listed(names):
        return [k for k in names if not k.endswith("num_batches_tracked")]

    if set(listed(part)) == set(listed(expected)):
        return part
    theirs, ours = listed(part), listed(expected)
    if len(theirs) != len(ours):
        return part
    renamed = {}
    for mine, their in zip(ours, theirs, strict=True):
        value, name = part[their]
        target = expected[mine].shape
        if value.shape != target:
            if not (value.ndim == 4 and value.shape[2:] == (1, 1) and value.shape[:2] == target):
                return part
            value = value.reshape(target)  # a 1x1 convolution head as a linear layer
        renamed[mine] = (value, name)
    return renamed


def gfnet_to_classifier_checkpoint(
    data: dict[str, Any], model: nn.Module, source: str = "checkpoint"
) -> dict[str, Any]:
    """A GFNet file as this project's classifier checkpoint dict (for
    :func:`classifiers.checkpoint.load_into`); see :func:`gfnet_state_dict`."""
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "name": None,
        "config": None,
        "state_dict": gfnet_state_dict(data, model, source),
        "meta": {"source": "gfnet", "model_name": data.get("model_name")},
    }
