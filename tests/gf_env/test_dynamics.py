"""Episode mechanics on one id, with the shipped classifier unless a test needs a spy."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

import gf_env
from classifiers import GFModel
from gf_env import EnvConfig, EpisodeStateError, GlanceFocusEnv, GlanceFocusVectorEnv
from tests.helpers import tiny_gf

ENV_ID = "GlanceFocus-ClutteredMNIST-v0"


class SpyGF(GFModel):
    """Records the patches the env feeds to ``focus``."""

    def __init__(self, config):
        super().__init__(config)
        self.patches = []

    def focus(self, patches, state):
        self.patches.append(patches.clone())
        return super().focus(patches, state)


def spy_env(**kwargs):
    base = tiny_gf()
    spy = SpyGF(base.config)
    spy.load_state_dict(base.state_dict())
    return GlanceFocusEnv(data="cluttered60", classifier=spy, **kwargs), spy


@pytest.mark.parametrize(
    ("action", "corner"),
    [([0, 0], (0, 0)), ([1, 1], (32, 32)), ([0, 1], (0, 32)), ([0.5, 0.25], (16, 8))],
)
def test_crop_is_taken_at_floor_a_times_h_minus_p(action, corner):
    env, spy = spy_env()
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array(action, dtype=np.float32))
    assert info["patch_box"] == (*corner, 28, 28)
    top, left = corner
    expected = env.engine.images[0, :, top : top + 28, left : left + 28]
    assert torch.equal(spy.patches[-1][0], expected)


def test_out_of_range_actions_are_clipped_and_bad_ones_raise():
    env, _ = spy_env()
    env.reset(seed=0)
    *_, info = env.step(np.array([-2.0, 5.0], dtype=np.float32))
    assert info["patch_box"][:2] == (0, 32)
    for bad, match in (
        ([np.nan, 0.5], "finite"),
        ([0.1, 0.2, 0.3], "shape"),
        ([[0.1, 0.2]], "shape"),
    ):
        with pytest.raises(ValueError, match=match):
            env.step(np.array(bad, dtype=np.float32))
    with pytest.raises(ValueError, match="real numbers"):
        env.step(np.array(["a", "b"]))


@pytest.mark.parametrize("reward", ["confidence_gain", "log_prob_gain"])
def test_rewards_telescope(reward):
    env = gym.make(ENV_ID, reward=reward)
    _, info = env.reset(seed=2)
    first = info["true_class_prob"]
    total = 0.0
    for _ in range(4):
        _, r, terminated, _, info = env.step(env.action_space.sample())
        total += r
    assert terminated
    last = info["true_class_prob"]
    expected = last - first if reward == "confidence_gain" else np.log(last) - np.log(first)
    assert total == pytest.approx(expected, abs=1e-9)


def test_final_correct_pays_only_at_the_end():
    env = gym.make(ENV_ID, reward="final_correct")
    env.reset(seed=0)
    rewards, infos = [], []
    for _ in range(4):
        _, r, _, _, info = env.step(env.action_space.sample())
        rewards.append(r)
        infos.append(info)
    assert rewards[:3] == [0.0, 0.0, 0.0]
    assert rewards[3] == float(infos[3]["prediction"] == infos[3]["label"])


def test_grid_actions_tile_the_image():
    env, _ = spy_env(action_type="grid")
    assert env.action_space == gym.spaces.Discrete(9)  # ceil(60 / 28) = 3
    env.reset(seed=0)
    boxes = []
    for cell in (0, 4, 8):
        *_, info = env.step(np.int64(cell))
        boxes.append(info["patch_box"][:2])
    assert boxes == [(0, 0), (16, 16), (32, 32)]
    env.reset(seed=0)
    with pytest.raises(ValueError, match="out of range"):
        env.step(np.int64(9))
    with pytest.raises(ValueError, match="integers"):
        env.step(np.float32(1.0))


def test_dict_observation():
    env, model = spy_env(observation="dict")
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert obs["step"] == 0 and obs["features"].shape == model.feature_shape
    obs, *_ = env.step(np.array([0.25, 0.75], dtype=np.float32))
    assert env.observation_space.contains(obs)
    assert obs["step"] == 1
    np.testing.assert_allclose(obs["locations"][0], [0.25, 0.75])
    assert not obs["locations"][1:].any()


def test_step_before_reset_and_after_end_raise():
    env, _ = spy_env()
    with pytest.raises(EpisodeStateError, match="before reset"):
        env.step(np.array([0.5, 0.5], dtype=np.float32))
    env.reset(seed=0)
    for _ in range(4):
        env.step(np.array([0.5, 0.5], dtype=np.float32))
    with pytest.raises(EpisodeStateError, match="call reset"):
        env.step(np.array([0.5, 0.5], dtype=np.float32))


def test_reset_index_option_and_split():
    env = GlanceFocusEnv(data="translated60", classifier=tiny_gf(), split="test", max_focus_steps=2)
    _, info = env.reset(seed=0, options={"index": 17})
    assert info["image_index"] == 17
    assert info["label"] == env.engine.source.digits.labels[17]
    with pytest.raises(IndexError, match="out of range"):
        env.reset(options={"index": 1000})


def test_bad_settings_get_clear_errors():
    with pytest.raises(TypeError, match="did you mean 'max_focus_steps'"):
        gym.make(ENV_ID, max_focus_step=3)
    with pytest.raises(ValueError, match="reward must be one of"):
        EnvConfig(reward="accuracy")
    with pytest.raises(ValueError, match="max_focus_steps must be an integer >= 1"):
        EnvConfig(max_focus_steps=0)
    with pytest.raises(ValueError, match="larger than the 60x60 images"):
        GlanceFocusEnv(data="cluttered60", classifier=tiny_gf(image_size=100, patch=64, glance=32))
    with pytest.raises(TypeError, match="implement GlanceFocusClassifier"):
        GlanceFocusEnv(classifier=object())
    with pytest.raises(KeyError, match="unknown classifier"):
        GlanceFocusEnv(classifier="gf-mnist-clutered100")


def test_class_count_mismatch_is_caught():
    model = tiny_gf()
    object.__setattr__(
        model, "config", model.config.__class__(**{**model.config.to_dict(), "num_classes": 5})
    )
    with pytest.raises(ValueError, match="predicts 5 classes but the data has 10"):
        GlanceFocusEnv(data="cluttered60", classifier=model)


def test_mnist_folder_source(mnist_root):
    env = gym.make(ENV_ID, mnist_root=str(mnist_root), split="test")
    _, info = env.reset(seed=0)
    assert 0 <= info["image_index"] < 20


def test_vector_autoreset_modes():
    kwargs = dict(data="cluttered60", classifier=tiny_gf(), max_focus_steps=2)
    actions = np.full((2, 2), 0.5, dtype=np.float32)
    nxt = GlanceFocusVectorEnv(2, **kwargs)
    nxt.reset(seed=0)
    for _ in range(2):
        _, _, terminated, _, _ = nxt.step(actions)
    assert terminated.all()
    _, rewards, terminated, _, infos = nxt.step(actions)  # the reset step
    assert not terminated.any() and (rewards == 0).all() and (infos["step"] == 0).all()

    same = GlanceFocusVectorEnv(2, autoreset_mode=AutoresetMode.SAME_STEP, **kwargs)
    same.reset(seed=0)
    same.step(actions)
    obs, _, terminated, _, infos = same.step(actions)
    assert terminated.all() and (infos["step"] == 0).all()
    assert infos["_final_obs"].all() and (infos["final_info"]["step"] == 2).all()
    assert not np.array_equal(infos["final_obs"][0], obs[0])

    manual = GlanceFocusVectorEnv(2, autoreset_mode=AutoresetMode.DISABLED, **kwargs)
    manual.reset(seed=0)
    manual.step(actions)
    manual.step(actions)
    _, infos = manual.reset(options={"reset_mask": np.array([True, False])})
    assert infos["_step"].tolist() == [True, False] and infos["step"][0] == 0
    assert manual.engine.step_count.tolist() == [0, 2]
    with pytest.raises(EpisodeStateError):
        manual.step(actions)


def test_registration_is_idempotent_and_imagenet_explains_itself(monkeypatch):
    assert (
        gym.make("gf_env:GlanceFocus-ClutteredMNIST-v0").spec.id == ENV_ID
    )  # Gymnasium's module:id
    before = len(gym.registry)
    gf_env.register_envs()
    gf_env.register_envs()
    assert len(gym.registry) == before
    monkeypatch.delenv("GF_IMAGENET_ROOT", raising=False)
    with pytest.raises(gf_env.ImageNetUnavailableError, match="GF_IMAGENET_ROOT"):
        gym.make("GlanceFocus-ImageNet-v0")
    with pytest.raises(gf_env.ImageNetUnavailableError, match="'/data/imagenet'"):
        gym.make("GlanceFocus-ImageNet-v0", root="/data/imagenet")
    with pytest.raises(gf_env.ImageNetUnavailableError):
        gym.make_vec("GlanceFocus-ImageNet-v0", num_envs=2)
