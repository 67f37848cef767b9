"""The ImageNet-scale GF models on torchvision backbones (random weights, nothing downloaded)."""

from __future__ import annotations

import urllib.error

import pytest
import torch
import torchvision

from classifiers import GlanceFocusClassifier, create_classifier, list_classifiers
from classifiers.gf_model import CascadeHead, RecurrentHead
from classifiers.torchvision_models import (
    MODEL_SPECS,
    SPECS,
    BackboneWeightsUnavailableError,
)
from tests.classifiers.test_gfnet_import import VARIANTS, check_official_layout_loads
from tests.single_thread import one_thread  # noqa: F401  (autouse fixture)

NAMES = sorted(MODEL_SPECS)
# the default run builds one model per family and head; the larger siblings run with -m slow
SLOW = {
    "gf-densenet169-p96",
    "gf-densenet201-p96",
    "gf-resnet50-p128",
    "gf-efficientnetb3-p144",
    "gf-mobilenetv3-large125-p128",
    "gf-regnety1.6gf-p96",
}
PARAMS = [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in NAMES]


def test_every_released_model_is_registered():
    assert set(NAMES) == set(list_classifiers("gf-*-p*")) - set(list_classifiers("gf-mnist-*"))
    assert {"gf-resnet50-p96", "gf-resnet50-p128", "gf-mobilenetv3-large-p96"} <= set(NAMES)
    assert {"gf-efficientnetb2-p128", "gf-efficientnetb3-p144", "gf-regnety1.6gf-p96"} <= set(NAMES)


@pytest.mark.parametrize("name", PARAMS)
def test_glance_and_focus_shapes_and_flops(name):
    spec, patch = MODEL_SPECS[name]
    torch.manual_seed(0)
    model = create_classifier(name, device="cpu")
    assert isinstance(model, GlanceFocusClassifier)
    assert model.config.image_size == (spec.image_size, spec.image_size)
    assert model.patch_size == model.config.glance_size == patch
    side = -(-patch // 32)
    assert model.feature_shape[1:] == (side, side)
    with torch.inference_mode():
        out = model.glance(torch.rand(1, 3, spec.image_size, spec.image_size))
        step = model.focus(torch.rand(1, 3, patch, patch), out.state)
    for o in (out, step):
        assert o.logits.shape == (1, 1000)
        assert o.state.shape == (1, model.state_dim)
        assert o.features.shape == (1, *model.feature_shape)
        assert torch.isfinite(o.logits).all() and torch.isfinite(o.state).all()
    if spec.head == "cascade":
        assert isinstance(model.head, CascadeHead)
        assert model.state_dim == 5 * model.local_encoder.feature_dim + 1
        assert step.state[0, -1].item() == 2  # glance + one focus
    else:
        assert isinstance(model.head, RecurrentHead)
        assert model.state_dim == 1024
        assert model.head.rnn.input_size == model.local_encoder.feature_dim
    flops = model.step_flops()
    assert flops.glance > 1e7 and flops.focus > 1e7
    variant, prefixed = VARIANTS[NAMES.index(name) % len(VARIANTS)]
    check_official_layout_loads(model, variant, prefixed)  # official GFNet files load into it
    # the glance runs the global encoder on a P x P resize: the network of a focus step (plus the
    # GRU, or minus the cascaded classifier, which the glance does not run)
    assert 0.9 * flops.focus < flops.glance <= 1.01 * flops.focus


def test_cascade_glance_is_the_encoders_own_prediction_and_steps_are_bounded():
    model = create_classifier("gf-mobilenetv3-large-p96", device="cpu", cascade_steps=3)
    images = torch.rand(2, 3, 224, 224)
    with torch.inference_mode():
        out = model.glance(images)
        fmap = model.global_encoder.forward_features(model._normalize(model.resize_glance(images)))
        assert torch.allclose(out.logits, model.global_encoder.forward_head(fmap)[1], atol=1e-5)
        patches = torch.rand(2, 3, 96, 96)
        one = model.focus(patches, out.state)
        two = model.focus(patches, one.state)
        assert two.state[:, -1].tolist() == [3.0, 3.0]
        with pytest.raises(ValueError, match="max_focus_steps=2"):
            model.focus(patches, two.state)
        # rows at different steps in one batch get the classifier of their own step
        mixed = torch.cat([out.state[:1], one.state[1:]])
        both = model.focus(patches, mixed)
        alone = model.focus(patches[1:], one.state[1:])
    assert torch.allclose(both.logits[1:], alone.logits, atol=1e-4)
    assert torch.allclose(both.logits[:1], one.logits[:1], atol=1e-4)


def test_cascade_gradients_reach_every_parameter():
    model = create_classifier("gf-mobilenetv3-large-p96", device="cpu", cascade_steps=3)
    model.train()
    steps = model.unroll(torch.rand(2, 3, 224, 224), torch.rand(2, 2, 2))
    sum(logits.sum() + aux.sum() for logits, aux in steps).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing


def test_config_of_the_mnist_models_is_unchanged_by_the_new_head_fields():
    config = create_classifier("gf-mnist-cluttered60", device="cpu").config.to_dict()
    assert "head" not in config and "cascade_steps" not in config
    assert create_classifier("gf-mobilenetv3-large-p96", device="cpu").config.to_dict()["head"] == (
        "cascade"
    )


def test_pretrained_backbone_loads_torchvision_weights(monkeypatch):
    reference = torchvision.models.mobilenet_v3_large(weights=None).state_dict()
    calls = []

    def fake_state_dict(self, *args, **kwargs):
        calls.append(str(self))
        return reference

    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict", fake_state_dict)
    model = create_classifier("gf-mobilenetv3-large-p96", device="cpu", pretrained_backbone=True)
    assert calls == ["MobileNet_V3_Large_Weights.IMAGENET1K_V1"]
    for encoder in (model.global_encoder, model.local_encoder):
        assert torch.equal(encoder.features[0][0].weight, reference["features.0.0.weight"])
    # 10 classes: the encoders' last layer keeps its own shape, the rest is loaded
    small = create_classifier(
        "gf-mobilenetv3-large-p96", device="cpu", pretrained_backbone=True, num_classes=10
    )
    assert small.local_encoder.classifier[3].weight.shape == (10, 1280)
    assert torch.equal(small.local_encoder.classifier[0].weight, reference["classifier.0.weight"])


def test_pretrained_backbone_without_network_says_where_to_put_the_file(monkeypatch):
    def offline(self, *args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict", offline)
    with pytest.raises(BackboneWeightsUnavailableError, match=r"checkpoints/mobilenet_v3_large"):
        create_classifier("gf-mobilenetv3-large-p96", device="cpu", pretrained_backbone=True)
    assert SPECS["regnety600mf"].weights == ""
    with pytest.raises(BackboneWeightsUnavailableError, match="no pretrained weights"):
        create_classifier("gf-regnety600mf-p96", device="cpu", pretrained_backbone=True)


def test_torchvision_backbones_need_rgb():
    with pytest.raises(ValueError, match="in_chans=3"):
        create_classifier("gf-resnet50-p96", device="cpu", in_chans=1, mean=(0.5,), std=(0.5,))
