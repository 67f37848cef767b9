import numpy as np
import pytest
import torch

from classifiers import (
    GFConfig,
    GFModel,
    GlanceFocusClassifier,
    create_classifier,
    list_classifiers,
)
from classifiers.flops import count_flops
from classifiers.patches import crop_patches, patch_corners

NAMES = list_classifiers("*mnist*")  # the ImageNet models: tests/classifiers/test_torchvision.py


@pytest.mark.parametrize("name", NAMES)
def test_registered_models_shapes_and_finite(name):
    model = create_classifier(name, device="cpu")
    assert isinstance(model, GlanceFocusClassifier)
    h, w = model.config.image_size
    images = torch.rand(3, model.in_chans, h, w)
    with torch.inference_mode():
        out = model.glance(images)
        assert out.logits.shape == (3, model.num_classes)
        assert out.state.shape == (3, model.state_dim)
        assert out.features.shape == (3, *model.feature_shape)
        patches = torch.rand(3, model.in_chans, model.patch_size, model.patch_size)
        step = model.focus(patches, out.state)
    assert step.features.shape == (3, *model.feature_shape)
    for tensor in (out.logits, out.state, step.logits, step.state):
        assert torch.isfinite(tensor).all()
    low, high = model.state_range
    assert step.state.min() >= low and step.state.max() <= high


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_every_parameter(name):
    model = create_classifier(name, device="cpu").train()
    h, w = model.config.image_size
    steps = model.unroll(torch.rand(2, 1, h, w), torch.rand(2, 2, 2))
    loss = sum(logits.sum() + aux.sum() for logits, aux in steps)
    loss.backward()
    missing = [
        n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0
    ]
    assert not missing


@pytest.mark.parametrize("name", NAMES)
def test_flops_come_from_the_counter_and_scale_with_batch(name):
    model = create_classifier(name, device="cpu")
    flops = model.step_flops()
    assert flops.glance > 0 and flops.focus > 0
    patches = torch.zeros(4, 1, model.patch_size, model.patch_size)
    assert count_flops(model.focus, patches, torch.zeros(4, model.state_dim)) == 4 * flops.focus
    assert flops.cumulative(3) == flops.glance + 3 * flops.focus


def test_glance_and_focus_cost_the_same_when_glance_size_equals_patch():
    model = create_classifier("gf-mnist-cluttered100", device="cpu")
    assert model.config.glance_size == model.patch_size
    flops = model.step_flops()
    assert flops.glance == flops.focus


def test_smaller_glance_costs_less(tiny_model):
    flops = tiny_model.step_flops()
    assert flops.glance < flops.focus


def test_unroll_matches_glance_then_focus(tiny_model):
    images = torch.rand(2, 1, 60, 60)
    locations = torch.rand(2, 3, 2)
    with torch.inference_mode():
        steps = tiny_model.unroll(images, locations)
        out = tiny_model.glance(images)
        torch.testing.assert_close(steps[0][0], out.logits)
        for t in range(3):
            corners = patch_corners(locations[:, t], (60, 60), 28)
            out = tiny_model.focus(crop_patches(images, corners, 28), out.state)
            torch.testing.assert_close(steps[t + 1][0], out.logits)


def test_patch_corners_at_the_borders():
    locations = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.5, 0.25], [-3.0, 7.0], [0.9999, 0.0]])
    corners = patch_corners(locations, (100, 60), 32)
    assert corners.tolist() == [[0, 0], [68, 28], [34, 7], [0, 28], [67, 0]]
    with pytest.raises(ValueError, match="larger than the image"):
        patch_corners(locations, (20, 20), 32)


def test_crop_patches_equals_slicing():
    images = torch.arange(2 * 3 * 10 * 12, dtype=torch.float32).view(2, 3, 10, 12)
    corners = torch.tensor([[0, 8], [6, 0]])
    patches = crop_patches(images, corners, 4)
    assert torch.equal(patches[0], images[0, :, 0:4, 8:12])
    assert torch.equal(patches[1], images[1, :, 6:10, 0:4])


def test_patch_corners_of_an_array_equal_the_tensor_path():
    locations = np.random.default_rng(0).uniform(-0.2, 1.2, (500, 2)).astype(np.float32)
    locations[:3] = [[0.0, 1.0], [1.0, 0.0], [0.9999, 0.5]]
    from_array = patch_corners(locations, (112, 84), 24)
    assert isinstance(from_array, np.ndarray) and from_array.dtype == np.int64
    np.testing.assert_array_equal(
        from_array, patch_corners(torch.from_numpy(locations), (112, 84), 24).numpy()
    )
    with pytest.raises(ValueError, match="larger than the image"):
        patch_corners(locations, (20, 20), 32)


@pytest.mark.parametrize("channels", [1, 3])
def test_crop_patches_cpu_gather_equals_torch_indexing(channels):
    images = torch.rand(5, channels, 30, 26)
    corners = torch.tensor([[0, 0], [22, 18], [3, 7], [10, 0], [0, 18]])
    owner = torch.tensor([4, 0, 0, 2, 1])
    for index in (None, owner):
        fast = crop_patches(images, corners, 8, index)
        # a tensor that needs gradients takes torch's advanced indexing
        slow = crop_patches(images.clone().requires_grad_(True), corners, 8, index).detach()
        assert torch.equal(fast, slow)
        # the same strides as torch's result: a convolution's rounding depends on them
        assert fast.stride() == slow.stride() == (channels * 64, 64, 8, 1)


def test_config_validation():
    with pytest.raises(ValueError, match="patch_size"):
        GFConfig(image_size=(20, 20), patch_size=28)
    with pytest.raises(ValueError, match="one value per channel"):
        GFConfig(in_chans=3)
    with pytest.raises(ValueError, match="unknown backbone"):
        GFModel(GFConfig(backbone="resnet9000"))


def test_model_is_deterministic_for_a_seed():
    torch.manual_seed(0)
    a = GFModel(GFConfig())
    torch.manual_seed(0)
    b = GFModel(GFConfig())
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)
    assert np.isclose(
        sum(p.numel() for p in a.parameters()), sum(p.numel() for p in b.parameters())
    )
