"""Official GFNet checkpoints: synthetic files laid out like the release and training ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from agents.gfnet_policy import GFNetActorCritic, GFNetPolicy, load_gfnet_policy
from classifiers import CheckpointError, create_classifier
from classifiers.gfnet_import import gfnet_state_dict, is_gfnet_checkpoint
from classifiers.torchvision_models import MODEL_SPECS
from tests.single_thread import one_thread  # noqa: F401  (autouse fixture)

VARIANTS = [("release", True), ("release", False), ("training", False), ("training", True)]


def make_policy(model) -> GFNetActorCritic:
    spec, _ = MODEL_SPECS[model_name(model)]
    channels, h, w = model.feature_shape
    conv = spec.family not in ("resnet", "densenet")
    return GFNetActorCritic(channels * h * w, channels, 256 if conv else 1024, conv)


def model_name(model) -> str:
    return next(
        n
        for n, (s, p) in MODEL_SPECS.items()
        if model.config.backbone == f"tv_{s.name}" and p == model.patch_size
    )


def official_layout(model, variant: str, prefixed: bool, policy: nn.Module | None = None) -> dict:
    """A dict laid out as GFNet saves it (REFERENCE.md, "Released checkpoints")."""
    prefix = "module." if prefixed else ""

    def encoder(module: nn.Module) -> dict:
        return {prefix + k: v.clone() for k, v in module.state_dict().items()}

    data = {
        "model_prime_state_dict": encoder(model.global_encoder),
        "model_state_dict": encoder(model.local_encoder),
        "fc": {k: v.clone() for k, v in model.head.state_dict().items()},
        "policy": (policy or make_policy(model)).state_dict(),
    }
    steps = MODEL_SPECS[model_name(model)][0].steps
    if variant == "release":
        data |= {
            "model_name": model.config.backbone[3:],
            "patch_size": model.patch_size,
            "model_flops": 1.0,
            "policy_flops": 0.1,
            "fc_flops": 0.01,
            "flops": [float(t) for t in range(1, steps + 1)],
            "anytime_classification": [50.0 + t for t in range(steps)],
            "dynamic_threshold": torch.rand(39, steps),
            "budgeted_batch_classification": [[1.0, 2.0], [60.0, 70.0]],
        }
    else:
        optimizer = torch.optim.SGD(model.head.parameters(), lr=0.1, momentum=0.9, nesterov=True)
        data |= {
            "epoch": 3,
            "acc": 70.0,
            "best_acc": 71.0,
            "optimizer": optimizer.state_dict(),
            "ppo_optimizer": torch.optim.Adam(make_policy(model).parameters()).state_dict(),
        }
    return data


def randomized(model) -> nn.Module:
    """``model`` with every floating-point tensor replaced by fresh random values (a stand-in
    for another training run, without building a second model)."""
    for tensor in model.state_dict().values():
        if tensor.is_floating_point():
            tensor.copy_(torch.randn_like(tensor))
    return model


def check_official_layout_loads(model, variant: str, prefixed: bool) -> None:
    """A GFNet-layout dict of random weights maps onto ``model`` (called for every registered
    torchvision model by tests/classifiers/test_torchvision.py, which has it built already)."""
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = official_layout(randomized(model), variant, prefixed)
    assert is_gfnet_checkpoint(data)
    model.load_state_dict(before)
    state = gfnet_state_dict(data, model, "synthetic")
    assert set(state) == set(before)
    model.load_state_dict(state)
    sections = {"global_encoder": "model_prime_state_dict", "local_encoder": "model_state_dict"}
    for key in ("global_encoder", "local_encoder", "head"):
        first = next(iter(getattr(model, key).state_dict()))
        loaded = model.state_dict()[f"{key}.{first}"]
        assert not torch.equal(loaded, before[f"{key}.{first}"]), key
        prefix = "module." if prefixed and key != "head" else ""
        assert torch.equal(loaded, data[sections.get(key, "fc")][prefix + first])
    model.load_state_dict(before)


@pytest.mark.parametrize(
    ("name", "variant", "prefixed"),
    [
        ("gf-mobilenetv3-large-p96", "release", True),
        pytest.param("gf-mobilenetv3-large-p96", "training", False, marks=pytest.mark.slow),
        pytest.param("gf-regnety600mf-p96", "release", False, marks=pytest.mark.slow),
        ("gf-regnety600mf-p96", "training", True),
    ],
)
def test_create_classifier_loads_a_gfnet_file(tmp_path, name, variant, prefixed):
    torch.manual_seed(1)
    source = create_classifier(name, device="cpu")
    path = tmp_path / "gfnet.pth.tar"
    torch.save(official_layout(source, variant, prefixed), path)
    torch.manual_seed(2)
    model = create_classifier(name, device="cpu", checkpoint=path)
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    images = torch.rand(1, 3, 224, 224)
    with torch.inference_mode():
        assert torch.allclose(model.glance(images).logits, source.eval().glance(images).logits)
    policy = load_gfnet_policy(path)
    assert isinstance(policy, GFNetPolicy) and policy.module.hidden_size == 256


def test_a_wrong_layout_fails_naming_the_keys(tmp_path):
    source = create_classifier("gf-mobilenetv3-large-p96", device="cpu")
    data = official_layout(source, "release", True)
    path = tmp_path / "mobilenet.pth.tar"
    torch.save(data, path)
    with pytest.raises(CheckpointError, match=r"model_state_dict\['features\.0\.0\.weight'\]"):
        create_classifier("gf-efficientnetb2-p128", device="cpu", checkpoint=path, patch_size=96)
    with pytest.raises(CheckpointError, match=r"patch size 96.*-p96"):
        create_classifier("gf-mobilenetv3-large-p128", device="cpu", checkpoint=path)
    broken = dict(data)
    broken["fc"] = dict(data["fc"])
    broken["fc"]["fc_2.weight"] = torch.zeros(3, 3)
    del broken["model_prime_state_dict"]["module.features.0.0.weight"]
    torch.save(broken, path)
    with pytest.raises(CheckpointError) as info:
        create_classifier("gf-mobilenetv3-large-p96", device="cpu", checkpoint=path)
    message = str(info.value)
    assert "model_prime_state_dict['features.0.0.weight']" in message
    assert "fc['fc_2.weight']: file (3, 3)" in message


def test_a_file_that_needs_unpickling_is_refused(tmp_path):
    path = tmp_path / "pickled.pth.tar"
    torch.save({"model_state_dict": nn.Linear(2, 2), "model_prime_state_dict": {}, "fc": {}}, path)
    with pytest.raises(CheckpointError, match="refused to load"):
        create_classifier("gf-mobilenetv3-large-p96", device="cpu", checkpoint=path)


@pytest.mark.parametrize("conv", [True, False])
def test_policy_predicts_locations_from_feature_maps(conv):
    torch.manual_seed(0)
    module = GFNetActorCritic(960 * 9, 960, 256, conv)
    data = {"policy": {"module." + k: v for k, v in module.state_dict().items()}}
    policy = load_gfnet_policy(data, seed=0)
    assert policy.module.conv is conv
    features = np.random.default_rng(0).random((3, 960, 3, 3), dtype=np.float32)
    obs = {"features": features, "hidden": np.zeros((3, 4), np.float32)}
    start = np.ones(3, dtype=bool)
    first, _ = policy.predict(obs, episode_start=start)
    assert first.shape == (3, 2) and ((first > 0) & (first < 1)).all()
    with torch.inference_mode():
        mean, _, _ = module(torch.from_numpy(features), None)
    assert np.allclose(first, mean.numpy(), atol=1e-6)
    second, _ = policy.predict(obs, episode_start=~start)  # the GRU carries the episode
    assert not np.allclose(first, second)
    again, _ = policy.predict(obs, episode_start=start)  # a new episode starts from zeros
    assert np.allclose(first, again, atol=1e-6)
    sampled, _ = policy.predict(obs, episode_start=start, deterministic=False)
    assert ((sampled >= 0) & (sampled <= 1)).all() and not np.allclose(sampled, first)
    with pytest.raises(CheckpointError, match="lacks"):
        load_gfnet_policy({"policy": {"gru.weight_hh_l0": torch.zeros(3, 1)}})


def test_encoders_named_otherwise_load_by_position():
    """GFNet's geffnet/pycls encoders: other names, same layers in the same order; the 1x1
    convolution head of geffnet's MobileNet-V3 stands for torchvision's first Linear."""
    model = create_classifier("gf-mobilenetv3-large-p96", device="cpu")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = official_layout(randomized(model), "release", True)
    model.load_state_dict(before)
    for section in ("model_prime_state_dict", "model_state_dict"):
        renamed = {}
        for i, (key, value) in enumerate(data[section].items()):
            if key.endswith("classifier.0.weight"):
                value = value[:, :, None, None]  # geffnet's conv_head
            renamed[f"module.blocks.{i}.{key.rsplit('.', 1)[-1]}"] = value
        data[section] = renamed
    state = gfnet_state_dict(data, model, "geffnet-like")
    head = "local_encoder.classifier.0.weight"
    assert state[head].shape == before[head].shape and not torch.equal(state[head], before[head])
    # a layer out of order: nothing is renamed, and the keys are reported
    swapped = list(data["model_state_dict"].items())
    swapped[0], swapped[1] = swapped[1], swapped[0]
    data["model_state_dict"] = dict(swapped)
    with pytest.raises(CheckpointError, match=r"model_state_dict\['features\.0\.0\.weight'\]"):
        gfnet_state_dict(data, model, "shuffled")


def test_pycls_regnet_files_load_although_both_name_the_last_layer_fc():
    """pycls names every layer otherwise (``stem.conv``, ``s1.b1.f.a`` ..) except the last one,
    ``fc``, as torchvision does: one shared name must not stop the pairing by position."""
    torch.manual_seed(0)
    model = create_classifier("gf-regnety600mf-p96", device="cpu", num_classes=5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = official_layout(randomized(model), "release", True)
    model.load_state_dict(before)
    for section in ("model_prime_state_dict", "model_state_dict"):
        data[section] = {
            (key if key.startswith("module.fc.") else f"module.s{i}.{key.rsplit('.', 1)[-1]}"): v
            for i, (key, v) in enumerate(data[section].items())
        }
    assert sum(k.startswith("module.fc.") for k in data["model_state_dict"]) == 2
    state = gfnet_state_dict(data, model, "pycls-like")
    for section, prefix in (
        ("model_prime_state_dict", "global_encoder."),
        ("model_state_dict", "local_encoder."),
    ):
        tensors = [v for k, v in data[section].items() if not k.endswith("num_batches_tracked")]
        ours = [k for k in before if k.startswith(prefix) and not k.endswith("num_batches_tracked")]
        assert all(torch.equal(state[k], v) for k, v in zip(ours, tensors, strict=True))
