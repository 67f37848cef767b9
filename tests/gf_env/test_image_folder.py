"""GlanceFocus-ImageFolder-v0 and GlanceFocus-ImageNet-v0 on a generated folder of small JPEGs."""

from __future__ import annotations

import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from PIL import Image

import gf_env
from agents.evaluation import evaluate_anytime
from agents.gfnet_policy import GFNetActorCritic, GFNetPolicy
from classifiers import create_classifier
from classifiers.data import ImageSource
from classifiers.data.folder import ImageFolderSource, UnreadableImageError, load_image
from tests.image_folder import CLASSES, PER_CLASS, write_folder
from tests.single_thread import one_thread  # noqa: F401  (autouse fixture)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return write_folder(tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="module")
def imagenet_root(tmp_path_factory, folder) -> Path:
    root = tmp_path_factory.mktemp("imagenet")
    for split in ("train", "val"):
        (root / split).mkdir()
        for name in CLASSES:
            (root / split / name).symlink_to(folder / name, target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_classifier("gf-mobilenetv3-large-p96", device="cpu", num_classes=3).eval()


def test_source_layout_modes_tiny_images_and_a_corrupt_file(folder):
    source = ImageFolderSource(folder, workers=2)
    assert isinstance(source, ImageSource)
    assert source.classes == list(CLASSES) and source.num_classes == 3
    assert len(source) == 3 * PER_CLASS + 1 and source.image_shape == (3, 224, 224)
    corrupt = next(i for i, (p, _) in enumerate(source.items) if p.name == "zz_corrupt.jpg")
    rngs = [np.random.default_rng(0)] * 5
    with pytest.warns(RuntimeWarning, match="zz_corrupt.jpg"):
        batch = source.sample_batch([0, 1, 2, 3, corrupt], rngs)
    assert batch.images.shape == (5, 3, 224, 224) and batch.images.dtype == np.float32
    assert batch.images.min() >= 0 and batch.images.max() <= 1
    assert source.skipped == {corrupt}
    # the next readable image (the first fox) stands in for the corrupt dog, label included
    assert batch.labels.tolist() == [0, 0, 0, 0, 2]
    assert batch.indices.tolist() == [0, 1, 2, 3, corrupt + 1]  # the file actually shown
    assert np.array_equal(batch.images[4], source[corrupt + 1][0])
    gray = batch.images[1]
    assert np.allclose(gray[0], gray[1]) and np.allclose(gray[1], gray[2])  # L -> RGB
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # known bad files are not decoded (nor warned) again
        again = source.sample_batch([corrupt], rngs[:1])
    assert again.labels.tolist() == [2]
    tiny = load_image(source.items[0][0], 224, 256)  # 40x30 upscaled to a full crop
    assert tiny.shape == (3, 224, 224)
    source.close()


def test_folder_errors_say_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageFolderSource(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no class sub-folders"):
        ImageFolderSource(tmp_path)
    (tmp_path / "empty_class").mkdir()
    (tmp_path / "empty_class" / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match=r"hold no image file.*empty_class"):
        ImageFolderSource(tmp_path)
    (tmp_path / "empty_class" / "bad.jpg").write_bytes(b"not a jpeg")
    source = ImageFolderSource(tmp_path, workers=0)
    with pytest.warns(RuntimeWarning), pytest.raises(ValueError, match="could be read"):
        source.sample_batch([0], [np.random.default_rng(0)])
    with pytest.raises(ValueError, match="needs root"):
        gym.make("GlanceFocus-ImageFolder-v0", classifier="gf-mobilenetv3-large-p96")
    with pytest.raises(ValueError, match="needs classifier"):
        gym.make("GlanceFocus-ImageFolder-v0", root=tmp_path)


def test_folder_env_passes_the_checker_and_crops_on_224_images(folder, model):
    env = gym.make(
        "GlanceFocus-ImageFolder-v0", root=folder, classifier=model, max_focus_steps=2, workers=2
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the corrupt file, when drawn
        check_env(env.unwrapped, skip_render_check=True)
        obs, info = env.reset(seed=3)
        assert obs.shape == (model.state_dim,) and list(info["patch_box"]) == [0, 0, 224, 224]
        _, _, _, _, info = env.step(np.array([1.0, 1.0], dtype=np.float32))
        assert list(info["patch_box"]) == [128, 128, 96, 96]  # floor(1 * (224 - 96))
        _, _, terminated, _, info = env.step(np.array([0.5, 0.25], dtype=np.float32))
    assert list(info["patch_box"]) == [64, 32, 96, 96] and terminated
    engine = env.unwrapped.engine
    assert engine.images.shape == (1, 3, 224, 224)
    corrupt = next(i for i, (p, _) in enumerate(engine.source.items) if p.name == "zz_corrupt.jpg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _, info = env.reset(options={"index": corrupt})
    assert info["image_index"] == corrupt + 1  # names the image shown, not the unreadable one
    env.close()


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
@pytest.mark.parametrize("size", [(53, 37), (37, 53), (40, 40), (61, 44)])
def test_resize_and_centre_crop_are_torchvisions(tmp_path, interpolation, size):
    """Pixel for pixel torchvision's Resize(short side) + CenterCrop, the official GFNet
    validation transform: the long side truncated, odd margins rounded half to even."""
    from torchvision import transforms

    rng = np.random.default_rng(1)
    path = tmp_path / "image.png"
    Image.fromarray(rng.integers(0, 256, (*size[::-1], 3), dtype=np.uint8)).save(path)
    mode = getattr(transforms.InterpolationMode, interpolation.upper())
    official = transforms.Compose(
        [
            transforms.Resize(34, interpolation=mode),
            transforms.CenterCrop(25),
            transforms.ToTensor(),
        ]
    )
    with Image.open(path) as img:
        expected = official(img.convert("RGB")).numpy()
    assert np.array_equal(load_image(path, 25, 34, interpolation), expected)


def test_float_tiff_in_unit_range_is_not_black(tmp_path):
    values = np.linspace(0.0, 1.0, 30 * 40, dtype=np.float32).reshape(30, 40)
    Image.fromarray(values).save(tmp_path / "unit.tif")
    image = load_image(tmp_path / "unit.tif", 30, 30)
    assert image.shape == (3, 30, 30) and image.max() > 0.9 and image.mean() > 0.3
    assert np.allclose(image[0], values[:, 5:35], atol=1 / 255)  # gray, scaled to [0, 1]
    Image.fromarray(values * 255).save(tmp_path / "byte_range.tif")
    assert np.allclose(load_image(tmp_path / "byte_range.tif", 30, 30), image, atol=1 / 255)
    Image.fromarray(np.full((30, 30), np.nan, np.float32)).save(tmp_path / "nan.tif")
    with pytest.raises(UnreadableImageError, match="NaN"):
        load_image(tmp_path / "nan.tif", 30, 30)


def test_an_empty_class_folder_is_refused_by_name(tmp_path):
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
    for name in ("a", "c"):
        Image.new("RGB", (8, 8)).save(tmp_path / name / "x.png")
    with pytest.raises(ValueError, match=r"1 of the 3 class folders.*\['b'\].*shift the labels"):
        ImageFolderSource(tmp_path, image_size=8, workers=0)


def test_vector_env_matches_single_envs_and_decodes_ahead(folder, model):
    envs = gym.make_vec(
        "GlanceFocus-ImageFolder-v0", num_envs=3, root=folder, classifier=model, max_focus_steps=2
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _, infos = envs.reset(seed=10)
        single = gym.make("GlanceFocus-ImageFolder-v0", root=folder, classifier=model)
        for i in range(3):
            _, info = single.reset(seed=10 + i)
            assert info["image_index"] == infos["image_index"][i]
            assert info["label"] == infos["label"][i]
        source = envs.unwrapped.engine.source
        hits = source.cache_hits
        actions = np.full((3, 2), 0.5, dtype=np.float32)
        for _ in range(3):  # two focus steps, then the autoreset draws new images
            envs.step(actions)
    assert source.cache_hits - hits == 3  # the next images were decoded ahead
    envs.close()


def test_imagenet_id_reads_train_and_val_and_evaluates_the_gfnet_policy(imagenet_root, model):
    env = gym.make("GlanceFocus-ImageNet-v0", root=imagenet_root, classifier=model, split="test")
    assert env.unwrapped.engine.source.root == imagenet_root / "val"
    env.close()
    with pytest.raises(gf_env.ImageNetUnavailableError, match="no train/ folder"):
        gym.make("GlanceFocus-ImageNet-v0", root=imagenet_root / "val", classifier=model)
    channels, h, w = model.feature_shape
    torch.manual_seed(0)
    policy = GFNetPolicy(GFNetActorCritic(channels * h * w, channels, 256, conv=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = evaluate_anytime(
            policy,
            "GlanceFocus-ImageNet-v0",
            root=imagenet_root,
            classifier=model,
            max_focus_steps=2,
            num_envs=4,
            max_images=8,
        )
    assert result.correct.shape == (8, 3)
    # 8 of the 24 validation images, spread over the split (stored class folder by class folder)
    assert result.image_index.tolist() == list(range(0, 24, 3))
    assert len(set(result.labels.tolist())) > 1
    assert result.mflops[0] < result.mflops[1] < result.mflops[2]
