"""The preprocessing records: GFNet entries reproduce the official code, MNIST ones keep theirs."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

import classifiers
from classifiers import GFModel, create_classifier, list_classifiers, preprocessing
from classifiers.backbones import build_backbone
from classifiers.gf_model import RecurrentHead
from classifiers.preprocessing import Preprocessing
from classifiers.registry import preprocessing_of
from classifiers.torchvision_models import (
    MODEL_SPECS,
    PYCLS_REGNETS,
    SPECS,
    gf_config,
    pycls_block_params,
)
from tests.single_thread import one_thread  # noqa: F401  (autouse fixture)

# GFNet-Pytorch configs.py (image_size, crop_pct, dataset_interpolation, prime_interpolation) and
# inference.py (which classifier predicts the glance), per backbone
OFFICIAL = {
    "resnet50": (224, 0.875, "bilinear", "bicubic", "head"),
    "densenet121": (224, 0.875, "bilinear", "bilinear", "head"),
    "densenet169": (224, 0.875, "bilinear", "bilinear", "head"),
    "densenet201": (224, 0.875, "bilinear", "bilinear", "head"),
    "regnety600mf": (224, 0.875, "bilinear", "bilinear", "encoder"),
    "regnety800mf": (224, 0.875, "bilinear", "bilinear", "encoder"),
    "regnety1.6gf": (224, 0.875, "bilinear", "bilinear", "encoder"),
    "mobilenetv3-large": (224, 0.875, "bilinear", "bicubic", "encoder"),
    "mobilenetv3-large125": (224, 0.875, "bilinear", "bicubic", "encoder"),
    "efficientnetb2": (260, 0.875, "bicubic", "bicubic", "encoder"),
    "efficientnetb3": (300, 0.904, "bicubic", "bicubic", "encoder"),
}


@pytest.mark.parametrize("name", sorted(MODEL_SPECS))
def test_gfnet_records_are_the_official_settings(name):
    spec, patch = MODEL_SPECS[name]
    size, crop, dataset, glance, glance_logits = OFFICIAL[spec.name]
    record = preprocessing_of(name)
    assert record == Preprocessing(
        image_size=size,
        crop_fraction=crop,
        interpolation=dataset,
        glance_interpolation=glance,
        glance_align_corners=True,
        glance_antialias=False,
        bn_eps=1e-5,
        glance_logits=glance_logits,
    )
    assert record.resize_size == int(size / crop)  # transforms.Resize(int(size / crop_pct))
    assert gf_config(spec, patch).preprocessing == record  # the model reads the same record


def test_glance_resize_is_gfnets_get_prime():
    """utils.get_prime: interpolate(size=[P, P], mode, align_corners=True), no antialiasing."""
    torch.manual_seed(0)
    for spec in (SPECS["resnet50"], SPECS["densenet121"]):
        config = replace(
            gf_config(spec, 16), backbone="small_cnn", image_size=(40, 40), bn_eps=None
        )
        model = GFModel(config)
        images = torch.rand(2, 3, 40, 40)
        mode = OFFICIAL[spec.name][3]
        official = F.interpolate(images, size=[16, 16], mode=mode, align_corners=True)
        assert torch.equal(model.resize_glance(images), official)


@pytest.mark.parametrize("name", list_classifiers("gf-mnist-*"))
def test_mnist_models_keep_the_antialiased_bilinear_glance(name):
    record = preprocessing_of(name)
    assert record.glance_interpolation == "bilinear" and record.glance_antialias
    assert not record.glance_align_corners and record.glance_logits == "head"
    model = create_classifier(name, device="cpu")
    images = torch.rand(2, 1, *model.config.image_size)
    size = model.config.glance_size
    expected = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True)
    assert torch.equal(model.resize_glance(images), expected)


@pytest.mark.parametrize(
    "name", ["resnet50", "densenet121", "regnety600mf", "mobilenetv3-large", "efficientnetb2"]
)
def test_every_backbone_family_uses_gfnets_batchnorm_eps(name):
    spec = SPECS[name]
    encoder = build_backbone(
        f"tv_{name}", in_chans=3, num_classes=10, input_size=32, bn_eps=spec.preprocessing.bn_eps
    )
    norms = [m for m in encoder.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert norms and {m.eps for m in norms} == {1e-5}


def test_regnet_widths_are_pyclss():
    """pycls fits stage widths to the group width rounding halves to even: RegNet-Y-800MF ends
    at 768 channels (torchvision's own rounding gives 784), as GFNet's files hold."""
    widths = {k: pycls_block_params(**v).widths for k, v in PYCLS_REGNETS.items()}
    assert widths == {
        "regnet_y_600mf": [48, 112, 256, 608],
        "regnet_y_800mf": [64, 128, 320, 768],
        "regnet_y_1_6gf": [48, 120, 336, 888],
    }
    encoder = build_backbone("tv_regnety800mf", in_chans=3, num_classes=10, input_size=32)
    assert encoder.feature_dim == 768 and encoder.fc.in_features == 768


def test_mobilenet_v3_125_pools_to_1280_features():
    """geffnet keeps the head at 1280 features for every width (torchvision scales it to 1600)
    and each block's expansion ratio (24 * 4 = 96 channels where torchvision has 64 * 1.25 = 80)."""
    encoder = build_backbone("tv_mobilenetv3-large125", in_chans=3, num_classes=10, input_size=32)
    assert encoder.feature_map_shape[0] == 1200 and encoder.feature_dim == 1280
    expanded = [m.out_channels for m in encoder.features[2].modules() if isinstance(m, nn.Conv2d)]
    assert expanded[0] == 96
    plain = build_backbone("tv_mobilenetv3-large", in_chans=3, num_classes=10, input_size=32)
    reference = torchvision.models.mobilenet_v3_large(num_classes=10)  # 1.00: both agree
    assert [v.shape for v in plain.state_dict().values()] == [
        v.shape for v in reference.state_dict().values()
    ]
    with torch.inference_mode():
        pooled, logits = encoder.eval().forward_head(
            encoder.forward_features(torch.rand(1, 3, 32, 32))
        )
    assert pooled.shape == (1, 1280) and logits.shape == (1, 10)


def test_regnet_glance_is_predicted_by_the_encoders_fc():
    """inference.py: ``_ = fc(output, restart=True); output = model_prime.module.fc(output)``."""
    torch.manual_seed(0)
    model = create_classifier("gf-regnety600mf-p96", device="cpu", num_classes=7)
    images = torch.rand(2, 3, 224, 224)
    with torch.inference_mode():
        out = model.glance(images)
        encoder = model.global_encoder
        fmap = encoder.forward_features(model._normalize(model.resize_glance(images)))
        pooled, own = encoder.forward_head(fmap)
        head_logits, state = model.head(pooled, None)
        by_fc = encoder.fc(pooled)
        steps = model.unroll(images, torch.rand(2, 1, 2))
    assert isinstance(model.head, RecurrentHead)
    assert torch.allclose(out.logits, by_fc, atol=1e-6)
    assert torch.allclose(out.logits, own, atol=1e-6)
    assert not torch.allclose(out.logits, head_logits)
    assert torch.allclose(out.state, state, atol=1e-6)  # the head still starts its state
    assert torch.allclose(steps[0][0], out.logits, atol=1e-6)  # training sees the same glance


def test_a_bad_record_is_refused_by_name():
    with pytest.raises(ValueError, match="glance_logits must be one of"):
        Preprocessing(image_size=224, glance_logits="policy")
    with pytest.raises(ValueError, match=r"interpolation must be one of.*'lanczos'"):
        Preprocessing(image_size=224, interpolation="lanczos")
    with pytest.raises(ValueError, match="crop_fraction"):
        Preprocessing(image_size=224, crop_fraction=1.5)


def test_the_record_module_does_not_import_the_registry():
    """The registry imports the record, never the other way round: a name is looked up by
    :func:`classifiers.preprocessing_of` in the registry. ``classifiers/__init__`` imports both, so
    only the source can tell (``from classifiers import ...`` would run the registry too)."""
    names = set()
    tree = ast.parse(Path(preprocessing.__file__).read_text())
    shim = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "__getattr__"]
    tree.body = [n for n in tree.body if n not in shim]  # the old name's lazy forward, below
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names |= {base, *(f"{base}.{alias.name}" for alias in node.names)}
    registry = [
        n for n in names if n == "classifiers" or n.startswith((".", "classifiers.registry"))
    ]
    assert not registry, f"classifiers/preprocessing.py imports {registry}"
    assert classifiers.preprocessing_of is preprocessing_of  # the public name is the registry's
    with pytest.warns(DeprecationWarning, match="moved to classifiers.preprocessing_of"):
        assert preprocessing.preprocessing_of is preprocessing_of  # the old import still works
