"""Does ``create_classifier(name, checkpoint=GFNET_FILE)`` compute what the official GFNet code does?

For users with a checkout of the official repository (``blackfeather-wang/GFNet-Pytorch``)::

    python -m benchmarks.gfnet_conformance --gfnet-repo PATH [--models resnet50 ...]

Per model (the official ``configs.py`` names), the script builds the official modules on the CPU
with seeded random weights (BatchNorm statistics calibrated on random images), writes them in the
release layout (legacy torch format, ``module.`` prefixes, ``model_name``, ``patch_size``, FLOPs
tables, ``policy``), loads that file through the public API (:func:`classifiers.create_classifier`,
:func:`agents.gfnet_policy.load_gfnet_policy`) and runs both side by side, as the official
``inference.py`` does (glance with ``utils.get_prime``, patches with ``utils.get_patch``):

- (a) the same images and the same patch locations;
- (b) a closed loop: each side's GFNet policy picks its own locations from its own feature maps.

It prints, per step, max |difference of logits| relative to max |official logits| and the share of
images where both pick the same class (and, in (b), the largest difference between the two
policies' locations); ``--out`` writes the rows as JSON. Target: relative difference at most 1e-4 and
full agreement. EfficientNet's random-weight networks amplify rounding by orders of magnitude, so
``--dtype auto`` (the default) compares it in float64, the others in float32.

The official checkout is not modified: at run time the script puts it on ``sys.path``, makes
``.cuda()`` a no-op (the official modules call it unconditionally; pycls's ``build_model`` also asks for one GPU's
index) and provides the
``torch._six.container_abcs`` that current PyTorch no longer has. It needs only torch and
torchvision (the checkout vendors ``yacs`` and ``simplejson`` for pycls).
"""

from __future__ import annotations

import argparse
import collections.abc
import contextlib
import json
import math
import os
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch
from torch import nn

from agents.gfnet_policy import load_gfnet_policy
from classifiers import create_classifier
from classifiers.patches import crop_patches, patch_corners
from classifiers.torchvision_models import MODEL_SPECS

REGISTRY_NAMES = {
    "resnet50": "gf-resnet50-p96",
    "densenet121": "gf-densenet121-p96",
    "densenet169": "gf-densenet169-p96",
    "densenet201": "gf-densenet201-p96",
    "regnety_600m": "gf-regnety600mf-p96",
    "regnety_800m": "gf-regnety800mf-p96",
    "regnety_1.6g": "gf-regnety1.6gf-p96",
    "mobilenetv3_large_100": "gf-mobilenetv3-large-p96",
    "mobilenetv3_large_125": "gf-mobilenetv3-large125-p128",
    "efficientnet_b2": "gf-efficientnetb2-p128",
    "efficientnet_b3": "gf-efficientnetb3-p128",
}
"""Official ``model_name`` -> the registry entry its release file loads into."""
DEFAULT_MODELS = [
    "resnet50",
    "densenet121",
    "regnety_600m",
    "regnety_800m",
    "mobilenetv3_large_100",
    "mobilenetv3_large_125",
    "efficientnet_b2",
]
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


@contextlib.contextmanager
def official_code(repo: Path):
    """Import the official modules from ``repo`` with ``.cuda()`` made a no-op (restored after)."""
    repo = repo.resolve()
    if not (repo / "configs.py").is_file() or not (repo / "network.py").is_file():
        raise SystemExit(
            f"--gfnet-repo {str(repo)!r} is not a GFNet-Pytorch checkout (no configs.py)"
        )
    saved = (
        torch.Tensor.cuda,
        nn.Module.cuda,
        os.getcwd(),
        list(sys.path),
        torch.cuda.device_count,
        torch.cuda.current_device,
    )
    if "torch._six" not in sys.modules:  # removed from PyTorch 2; geffnet's conv2d_layers uses it
        six = types.ModuleType("torch._six")
        six.container_abcs = collections.abc
        sys.modules["torch._six"] = six
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    nn.Module.cuda = lambda self, *args, **kwargs: self
    torch.cuda.device_count = lambda: 1  # pycls's build_model asserts one GPU and asks its index
    torch.cuda.current_device = lambda: 0
    sys.path.insert(0, str(repo))
    os.chdir(repo)  # configs.py names the pycls cfg files relative to the checkout
    try:
        import configs
        import network
        import utils

        yield types.SimpleNamespace(configs=configs, network=network, utils=utils)
    finally:
        torch.Tensor.cuda, nn.Module.cuda = saved[0], saved[1]
        torch.cuda.device_count, torch.cuda.current_device = saved[4], saved[5]
        os.chdir(saved[2])
        sys.path[:] = saved[3]


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype):
    """Run with ``dtype`` as torch's default floating-point type (restored after)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def build_official(code, model_name: str):
    """``(model, model_prime, fc, policy)`` as the official ``inference.py`` builds them."""
    import models.densenet as densenet
    import models.resnet as resnet
    from models import create_model

    config = code.configs.model_configurations[model_name]
    if "resnet" in model_name:
        encoders = [resnet.resnet50(pretrained=False) for _ in range(2)]
    elif "densenet" in model_name:
        encoders = [getattr(densenet, model_name)(pretrained=False) for _ in range(2)]
    elif "regnet" in model_name:
        import pycls.core.model_builder as model_builder
        from pycls.core.config import cfg

        cfg.defrost()
        cfg.merge_from_file(config["cfg_file"])
        encoders = [model_builder.build_model() for _ in range(2)]
    else:
        drop = 0.3 if "efficientnet" in model_name else 0.2
        encoders = [
            create_model(model_name, num_classes=1000, drop_rate=drop, drop_connect_rate=0.2)
            for _ in range(2)
        ]
    return encoders, config


def calibrate(encoder: nn.Module, size: int, batches: int = 2) -> None:
    """Set the BatchNorm running statistics to those of normalised random images, so that a
    random network's activations keep a sensible scale, then switch to eval mode."""
    for module in encoder.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = None  # cumulative average
            module.reset_running_stats()
    encoder.train()
    dtype = next(encoder.parameters()).dtype
    with torch.no_grad():
        for _ in range(batches):
            encoder((torch.rand(4, 3, size, size, dtype=dtype) - MEAN.to(dtype)) / STD.to(dtype))
    encoder.eval()


def write_release_file(path: Path, model_name: str, patch: int, steps: int, parts) -> None:
    """The official modules saved as the GFNet release files are (legacy torch format)."""
    model, model_prime, fc, policy = parts

    def prefixed(module):
        return {"module." + k: v.float() for k, v in module.state_dict().items()}

    data = {
        "model_name": model_name,
        "patch_size": patch,
        "flops": [float(t + 1) for t in range(steps)],
        "model_flops": 1.0,
        "policy_flops": 0.1,
        "fc_flops": 0.01,
        "anytime_classification": [0.0] * steps,
        "budgeted_batch_classification": [[0.0], [0.0]],
        "dynamic_threshold": torch.zeros(39, steps),
        "model_state_dict": prefixed(model),
        "model_prime_state_dict": prefixed(model_prime),
        "fc": {k: v.float() for k, v in fc.state_dict().items()},
        "policy": {k: v.float() for k, v in policy.state_dict().items()},
    }
    torch.save(data, path, _use_new_zipfile_serialization=False)


def compare(ours: torch.Tensor, official: torch.Tensor) -> tuple[float, float]:
    """Max |difference| relative to max |official| and the share of equal arg-maxes."""
    ours, official = ours.double(), official.double()
    relative = ((ours - official).abs().max() / official.abs().max().clamp_min(1e-30)).item()
    return relative, (ours.argmax(1) == official.argmax(1)).double().mean().item()


def official_glance(model_name, code, model_prime, fc, normalized, patch):
    """``inference.py``'s glance step: logits and the feature map the policy sees."""
    prime = code.utils.get_prime(
        normalized, patch, code.configs.model_configurations[model_name]["prime_interpolation"]
    )
    output, state = model_prime(prime)
    if "resnet" in model_name or "densenet" in model_name:
        return fc(output, restart=True), state
    fc(output, restart=True)
    head = model_prime.fc if "regnet" in model_name else model_prime.classifier
    return head(output), state


def run_model(code, model_name: str, dtype: torch.dtype, images: int, seed: int, tmp: Path):
    name = REGISTRY_NAMES[model_name]
    spec, patch = MODEL_SPECS[name]
    steps, size = spec.steps, spec.image_size
    torch.manual_seed(seed)
    (model, model_prime), config = build_official(code, model_name)
    feature_channels = config["feature_map_channels"]
    state_dim = feature_channels * math.ceil(patch / 32) ** 2
    policy = code.network.ActorCritic(
        feature_channels, state_dim, config["policy_hidden_dim"], config["policy_conv"]
    )
    fc = code.network.Full_layer(config["feature_num"], config["fc_hidden_dim"], config["fc_rnn"])
    for module in (model, model_prime, policy, fc):
        module.to(dtype)
    calibrate(model, patch)
    calibrate(model_prime, patch)
    fc.eval()
    for module in (model, model_prime, policy, fc):  # the file holds float32: run what it holds
        module.float().to(dtype)
    path = tmp / f"{model_name}.pth.tar"
    write_release_file(path, model_name, patch, steps, (model, model_prime, fc, policy))
    with default_dtype(torch.float32):  # the project's side as a user runs it (policy: float32)
        ours = create_classifier(name, checkpoint=path, device="cpu").to(dtype)
        our_policy = load_gfnet_policy(path)

    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(images, 3, size, size, generator=generator, dtype=dtype)
    normalized = (x - MEAN.to(dtype)) / STD.to(dtype)
    span = size - patch  # locations at pixel centres: no floor() lands on a boundary
    fixed = (torch.randint(0, span, (steps - 1, images, 2), generator=generator) + 0.5) / span
    rows = []
    with torch.no_grad():
        for loop in ("same locations", "closed loop"):
            logits, features = official_glance(model_name, code, model_prime, fc, normalized, patch)
            out = ours.glance(x)
            memory = code.network.Memory()
            rel, agree = compare(out.logits, logits)
            rows.append(dict(model=model_name, loop=loop, step=0, rel=rel, agree=agree, moved=0.0))
            for t in range(1, steps):
                action = policy.act(features, memory, restart_batch=t == 1).to(dtype)
                with default_dtype(torch.float32):
                    mine = our_policy.predict(
                        {"features": out.features.float().numpy()},
                        episode_start=np.full(images, t == 1),
                    )[0]
                mine = torch.from_numpy(mine).to(dtype)
                moved = (mine - action).abs().max().item()
                if loop == "same locations":
                    action = mine = fixed[t - 1].to(dtype)
                patches = code.utils.get_patch(normalized, action, patch)
                output, features = model(patches)
                logits = fc(output, restart=False)
                corners = patch_corners(mine, (size, size), patch)
                out = ours.focus(crop_patches(x, corners, patch), out.state)
                rel, agree = compare(out.logits, logits)
                rows.append(
                    dict(model=model_name, loop=loop, step=t, rel=rel, agree=agree, moved=moved)
                )
    for row in rows:
        row["dtype"] = str(dtype).removeprefix("torch.")
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gfnet-repo", type=Path, required=True, help="official checkout")
    parser.add_argument(
        "--models", nargs="+", default=DEFAULT_MODELS, choices=sorted(REGISTRY_NAMES)
    )
    parser.add_argument("--dtype", choices=["auto", "float32", "float64"], default="auto")
    parser.add_argument("--images", type=int, default=4, help="images per model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    args = parser.parse_args(argv)
    rows = []
    print(
        f"{'model':24s} {'dtype':8s} {'loop':15s} step  max|dlogit|/max|logit|  argmax  max|dloc|"
    )
    with official_code(args.gfnet_repo) as code, tempfile.TemporaryDirectory() as tmp:
        for model_name in args.models:
            if args.dtype == "auto":
                dtype = torch.float64 if "efficientnet" in model_name else torch.float32
            else:
                dtype = getattr(torch, args.dtype)
            with default_dtype(dtype):  # the official heads make their zero states at it
                found = run_model(code, model_name, dtype, args.images, args.seed, Path(tmp))
            for r in found:
                print(
                    f"{r['model']:24s} {r['dtype']:8s} {r['loop']:15s} {r['step']:4d}  "
                    f"{r['rel']:22.2e}  {r['agree']:6.2f}  {r['moved']:8.1e}"
                )
            rows += found
    worst = max(r["rel"] for r in rows)
    agree = min(r["agree"] for r in rows)
    print(f"worst relative difference {worst:.2e}, lowest argmax agreement {agree:.2f}")
    if args.out is not None:
        args.out.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
