"""GlanceFocus-Imagenette-v0 on a generated folder in Imagenette's layout (nothing downloaded)."""

from __future__ import annotations

import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

import gf_env  # noqa: F401  (registers the ids)
from classifiers import create_classifier
from classifiers.subset import IMAGENETTE_CLASSES, ClassSubset
from gf_env.image_folders import ImageNetUnavailableError
from tests.single_thread import one_thread  # noqa: F401  (autouse fixture)

WNIDS = sorted(IMAGENETTE_CLASSES)[:3]  # three of the ten classes keep the test small


def write_imagenette(root: Path, folder: str = "imagenette2-320") -> Path:
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for c, wnid in enumerate(WNIDS):
            (root / folder / split / wnid).mkdir(parents=True)
            for i in range(2):
                pixels = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
                pixels[..., c] = 255
                Image.fromarray(pixels).save(root / folder / split / wnid / f"{wnid}_{i}.JPEG")
    return root


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_classifier("gf-mobilenetv3-large-p96", device="cpu").eval()


def test_the_wnids_are_imagenets_classes():
    """Checked against two independent lists shipped with torchvision: Imagenette's names per
    WordNet id, and ImageNet-1k's class names per index."""
    categories = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["categories"]
    names = torchvision.datasets.Imagenette._WNID_TO_CLASS
    assert set(IMAGENETTE_CLASSES) == set(names)
    for wnid, index in IMAGENETTE_CLASSES.items():
        assert categories[index] == names[wnid][0], wnid


def test_class_subset_keeps_the_chosen_logits(model):
    subset = ClassSubset(model, [482, 0, 701])
    images = torch.rand(2, 3, 224, 224)
    with torch.inference_mode():
        full, part = model.glance(images), subset.glance(images)
        step_full = model.focus(torch.rand(2, 3, 96, 96), full.state)
    assert subset.num_classes == 3 and subset.state_dim == model.state_dim
    assert torch.equal(part.logits, full.logits[:, [482, 0, 701]])
    assert torch.equal(part.state, full.state)
    assert subset.preprocessing == model.preprocessing and subset.state_range == model.state_range
    assert step_full.logits.shape == (2, 1000)
    with pytest.raises(ValueError, match=r"distinct indices in \[0, 1000\).*1000"):
        ClassSubset(model, [3, 1000])


def test_imagenette_env_reads_the_folder_and_scores_the_ten_classes(tmp_path, model):
    root = write_imagenette(tmp_path)
    env = gym.make("GlanceFocus-Imagenette-v0", root=root, split="val", classifier=model, workers=0)
    engine = env.unwrapped.engine
    assert engine.source.classes == WNIDS and len(engine.source) == 6
    assert isinstance(engine.classifier, ClassSubset)
    assert engine.classifier.class_ids == [IMAGENETTE_CLASSES[w] for w in WNIDS]
    assert engine.source.image_shape == (3, 224, 224)  # the model's record: 256 then crop 224
    assert engine.source.resize_size == 256 and engine.source.interpolation == "bilinear"
    obs, info = env.reset(seed=0, options={"index": 4})
    assert obs.shape == (model.state_dim,) and info["image_index"] == 4
    _, _, terminated, _, _ = env.step(np.array([0.5, 0.5], dtype=np.float32))
    assert not terminated
    env.close()
    vector = gym.make_vec(
        "GlanceFocus-Imagenette-v0", num_envs=2, root=root, classifier=model, workers=0
    )
    assert vector.reset(seed=0)[0].shape == (2, model.state_dim)
    vector.close()


def test_missing_folder_says_how_to_get_it_and_download_goes_through_torchvision(
    tmp_path, monkeypatch, model
):
    with pytest.raises(ImageNetUnavailableError, match="download=True"):
        gym.make("GlanceFocus-Imagenette-v0", root=tmp_path, classifier=model)
    monkeypatch.delenv("GF_IMAGENETTE_ROOT", raising=False)
    with pytest.raises(ImageNetUnavailableError, match="GF_IMAGENETTE_ROOT"):
        gym.make("GlanceFocus-Imagenette-v0", classifier=model)
    calls = []

    class FakeImagenette:  # stands in for the download: writes the layout instead
        def __init__(self, root, split, size, download):
            calls.append((root, split, size, download))
            write_imagenette(Path(root), "imagenette2-160")

    monkeypatch.setattr(torchvision.datasets, "Imagenette", FakeImagenette)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        env = gym.make(
            "GlanceFocus-Imagenette-v0",
            root=tmp_path,
            size="160px",
            download=True,
            classifier=model,
            workers=0,
        )
    assert calls == [(str(tmp_path), "train", "160px", True)]
    assert len(env.unwrapped.engine.source) == 6
    env.close()


def test_foreign_class_folders_are_refused(tmp_path, model):
    root = write_imagenette(tmp_path)
    (root / "imagenette2-320" / "val" / "n99999999").mkdir()
    Image.new("RGB", (8, 8)).save(root / "imagenette2-320" / "val" / "n99999999" / "x.JPEG")
    with pytest.raises(ValueError, match="n99999999"):
        gym.make("GlanceFocus-Imagenette-v0", root=root, split="val", classifier=model)
