"""The locator reference: patches on the objects the canvas generator placed (no label read)."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from agents.baselines import make_baseline
from agents.evaluation import evaluate_anytime
from classifiers.data import ArraySource, Batch, mnist_canvases
from classifiers.testing import FakeClassifier
from tests.image_folder import write_folder

FAKE = FakeClassifier(patch_size=28)


def vector_env(env_id, num_envs=8, **kwargs):
    return gym.make_vec(
        env_id,
        num_envs=num_envs,
        split="test",
        autoreset_mode=AutoresetMode.DISABLED,
        device="cpu",
        **kwargs,
    )


def first_steps(policy, env, steps, seed=0):
    """Boxes of the objects and the patch boxes of the first ``steps`` focus steps."""
    policy.bind(env)
    obs, _ = env.reset(seed=seed)
    boxes = env.oracle_object_boxes()
    patches, start = [], np.ones(env.num_envs, dtype=bool)
    for _ in range(steps):
        actions, _ = policy.predict(obs, episode_start=start)
        obs, _, _, _, info = env.step(actions)
        patches.append(info["patch_box"])
        start[:] = False
    return boxes, np.stack(patches, axis=1)  # (N, K, 4), (N, steps, 4)


def contains(patch, box):
    top, left, size = patch[..., 0], patch[..., 1], patch[..., 2]
    return (
        (top <= box[..., 0])
        & (left <= box[..., 1])
        & (top + size >= box[..., 0] + box[..., 2])
        & (left + size >= box[..., 1] + box[..., 3])
    )


def test_the_first_patch_holds_the_digit_on_translated_mnist():
    env = vector_env("GlanceFocus-TranslatedMNIST-v0", num_envs=32, classifier=FAKE)
    locator = make_baseline("locator", 4)
    assert locator.upper_bound
    boxes, patches = first_steps(locator, env, 1)
    assert boxes.shape == (32, 1, 4) and (boxes[..., 2:] == 28).all()
    # patch and digit are both 28 pixels: the patch is the digit's box, to the pixel
    assert np.array_equal(patches[:, 0], boxes[:, 0])
    assert contains(patches[:, 0], boxes[:, 0]).all()


def test_every_digit_is_visited_and_large_digits_are_covered():
    env = vector_env("GlanceFocus-MaxMNIST-v0", classifier=FAKE)
    boxes, patches = first_steps(make_baseline("locator", 4), env, 4)
    assert boxes.shape == (8, 2, 4)
    for k in range(2):  # steps 1 and 2 hold digits 1 and 2 (equal sizes: the generator's order)
        assert contains(patches[:, k], boxes[:, k]).all()
        assert np.array_equal(patches[:, k + 2], patches[:, k])  # then again
    env = vector_env("GlanceFocus-LargeMNIST-v0", classifier=FakeClassifier(patch_size=24))
    boxes, patches = first_steps(make_baseline("locator", 4), env, 4)
    box = boxes[:, 0]  # one 56-pixel digit: its centre, then quadrants of it
    centre = patches[:, 0, :2] + 12
    assert np.abs(centre - (box[:, :2] + box[:, 2:] / 2)).max() <= 1
    inside = (patches[..., :2] >= box[:, None, :2]) & (
        patches[..., :2] + 24 <= box[:, None, :2] + box[:, None, 2:]
    )
    assert inside.all()
    assert all(len({tuple(p[:2]) for p in image}) == 4 for image in patches)


class Relabelled:
    """The canvases of ``source`` with other labels (an :class:`ImageSource`)."""

    def __init__(self, source):
        self.source, self.num_classes, self.image_shape = source, 10, source.image_shape

    def __len__(self):
        return len(self.source)

    def sample_batch(self, indices, rngs):
        batch = self.source.sample_batch(indices, rngs)
        return Batch(batch.images, (batch.labels + 1) % 10, batch.boxes)


def test_the_locator_does_not_read_the_label():
    # the same canvases with other labels: the same patches
    source = mnist_canvases("translated60", "test")
    runs = []
    for data in (source, Relabelled(source)):
        env = vector_env("GlanceFocus-TranslatedMNIST-v0", data=data, classifier=FAKE)
        _, patches = first_steps(make_baseline("locator", 4), env, 4, seed=4)
        runs.append((patches, env.reset(seed=4)[1]["label"]))
    assert np.array_equal(runs[0][0], runs[1][0])
    assert (runs[0][1] != runs[1][1]).all()


def test_envs_without_boxes_are_refused_by_name(tmp_path):
    canvases = ArraySource(np.zeros((4, 1, 60, 60)), np.arange(4), num_classes=10)
    env = vector_env(
        "GlanceFocus-ClutteredMNIST-v0",
        num_envs=2,
        data=canvases,
        classifier=FakeClassifier(patch_size=28),
    )
    with pytest.raises(ValueError, match=r"ArraySource\) come without object boxes"):
        env.reset(seed=0)
        env.oracle_object_boxes()
    folder = write_folder(tmp_path)
    model = FakeClassifier(num_classes=3, in_chans=3, patch_size=96)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the folder's corrupt file, if drawn
        with pytest.raises(
            ValueError,
            match=r"env 'GlanceFocus-ImageFolder-v0' cannot provide \(the env's images "
            r"\(ImageFolderSource\) come without object boxes",
        ):
            evaluate_anytime(
                make_baseline("locator", 4),
                "GlanceFocus-ImageFolder-v0",
                num_envs=2,
                max_images=2,
                root=folder,
                classifier=model,
            )
