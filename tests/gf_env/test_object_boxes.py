"""oracle_object_boxes(): the boxes of the objects the canvas generator placed (privileged)."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode

import gf_env
from classifiers.data import ArraySource
from classifiers.testing import FakeClassifier
from gf_env.engine import EpisodeStateError

gym.register_envs(gf_env)
FAKE = FakeClassifier(patch_size=28)


def test_single_env_boxes_are_the_generators():
    env = gym.make("GlanceFocus-TranslatedMNIST-v0", classifier=FAKE, split="test")
    with pytest.raises(EpisodeStateError, match="call reset"):
        env.unwrapped.oracle_object_boxes()
    env.reset(seed=5, options={"index": 7})
    boxes = env.get_wrapper_attr("oracle_object_boxes")()
    source = env.get_wrapper_attr("image_source")
    drawn = source.sample_batch([7], [seeding.np_random(5)[0]])  # the env's draw, replayed
    assert np.array_equal(boxes, drawn.boxes.reshape(1, 4))
    top, left, height, width = boxes[0]
    image = drawn.images[0, 0].copy()
    assert image[top : top + height, left : left + width].max() > 0
    image[top : top + height, left : left + width] = 0
    assert image.max() == 0  # a translated canvas holds nothing but its digit
    env.step(np.array([0.5, 0.5], dtype=np.float32))
    assert np.array_equal(env.unwrapped.oracle_object_boxes(), boxes)  # fixed for the episode


def test_vector_env_keeps_every_digit_and_updates_reset_rows():
    envs = gym.make_vec(
        "GlanceFocus-MaxMNIST-v0",
        num_envs=3,
        classifier=FAKE,
        autoreset_mode=AutoresetMode.DISABLED,
    )
    envs.reset(seed=0)
    boxes = envs.oracle_object_boxes()
    assert boxes.shape == (3, 2, 4) and boxes.dtype == np.int64 and (boxes[..., 2:] == 28).all()
    envs.reset(seed=[None, 9, None], options={"reset_mask": np.array([False, True, False])})
    again = envs.oracle_object_boxes()
    assert np.array_equal(again[[0, 2]], boxes[[0, 2]]) and not np.array_equal(again[1], boxes[1])
    assert envs.get_attr("oracle_object_boxes")[0]().shape == (3, 2, 4)


def test_sources_without_boxes_say_so():
    data = ArraySource(np.zeros((2, 1, 60, 60)), np.arange(2), num_classes=10)
    env = gym.make("GlanceFocus-TranslatedMNIST-v0", data=data, classifier=FAKE)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"\(ArraySource\) come without object boxes"):
        env.unwrapped.oracle_object_boxes()
