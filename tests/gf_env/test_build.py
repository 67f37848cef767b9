"""Building apart from stepping: :func:`gf_env.build.build_engine` loads every env kind's data and
classifier, and each env call is one engine call whose record holds everything the face returns."""

import numpy as np
import pytest
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode

from classifiers.data import ArraySource
from classifiers.data.folder import ImageFolderSource
from classifiers.testing import FakeClassifier
from gf_env import EnvConfig, GlanceFocusEngine, GlanceFocusEnv, GlanceFocusVectorEnv
from gf_env.build import build_engine, folder_source, load_classifier, load_source
from gf_env.engine import ResetResult, StepResult
from tests.image_folder import write_folder


def _source(n=6):
    rng = np.random.default_rng(0)
    return ArraySource(rng.random((n, 3, 40, 50), dtype=np.float32), np.arange(n) % 7, 7)


def _fake(**kwargs):
    return FakeClassifier(num_classes=7, in_chans=3, patch_size=12, **kwargs)


class CountingEngine:
    """Passes everything to the engine and records which of its attributes a face reads."""

    def __init__(self, engine):
        self.engine, self.read = engine, []

    def __getattr__(self, name):
        self.read.append(name)
        return getattr(self.engine, name)


def test_a_preset_and_a_registry_name_are_loaded_an_image_source_and_an_object_kept():
    canvases = load_source("translated60", "test")
    assert canvases.image_shape == (1, 60, 60) and canvases.num_classes == 10
    source, fake = _source(), _fake()
    assert load_source(source) is source and load_classifier(fake) is fake
    model = load_classifier("gf-mnist-translated60", device="cpu")
    assert model.patch_size == 28 and all(p.requires_grad for p in model.parameters())  # not frozen
    engine = build_engine(EnvConfig(data=source, classifier=fake), num_envs=3)
    assert engine.source is source and engine.classifier is fake and engine.num_envs == 3
    assert not fake.training and not any(p.requires_grad for p in fake.parameters())
    trainable = _fake().train()
    build_engine(EnvConfig(data=source, classifier=trainable), 2, freeze_classifier=False)
    assert trainable.training and all(p.requires_grad for p in trainable.parameters())


def test_a_folder_is_read_with_the_classifiers_preprocessing(tmp_path):
    kwargs = {"classifier": "gf-mobilenetv3-large-p96", "workers": 0, "max_focus_steps": 1}
    source = folder_source(str(write_folder(tmp_path)), kwargs)
    assert isinstance(source, ImageFolderSource) and source.image_shape == (3, 224, 224)
    assert "workers" not in kwargs and kwargs["max_focus_steps"] == 1  # the env's, kept
    source.close()


def test_from_config_still_builds_with_a_deprecation_warning():
    config = EnvConfig(data=_source(), classifier=_fake())
    with pytest.warns(DeprecationWarning, match=r"gf_env\.build\.build_engine"):
        engine = GlanceFocusEngine.from_config(config, 2)
    assert isinstance(engine, GlanceFocusEngine) and engine.num_envs == 2


def test_one_engine_call_per_single_env_call():
    env = GlanceFocusEnv(data=_source(), classifier=_fake(), max_focus_steps=2)
    env.engine = counting = CountingEngine(env.engine)
    env.reset(seed=0)
    assert counting.read == ["reset"]
    for _ in range(2):
        counting.read.clear()
        env.step(np.array([0.3, 0.6], dtype=np.float32))
        assert counting.read == ["step"]


@pytest.mark.parametrize("mode", list(AutoresetMode))
def test_one_engine_call_per_vector_env_call_in_every_autoreset_mode(mode):
    env = GlanceFocusVectorEnv(
        num_envs=3, data=_source(), classifier=_fake(), max_focus_steps=1, autoreset_mode=mode
    )
    env.engine = counting = CountingEngine(env.engine)
    env.reset(seed=0)
    assert counting.read == ["reset"]
    for _ in range(3):  # every step ends the episodes: each autoreset path runs
        if mode == AutoresetMode.DISABLED:
            env.reset(options={"reset_mask": np.ones(3, dtype=bool)})
        counting.read.clear()
        env.step(np.full((3, 2), 0.5, dtype=np.float32))
        assert counting.read == ["step"]


def test_the_step_record_holds_what_the_vector_env_returns():
    kwargs = dict(data=_source(), classifier=_fake(), max_focus_steps=1)
    env = GlanceFocusVectorEnv(num_envs=3, autoreset_mode=AutoresetMode.SAME_STEP, **kwargs)
    engine = build_engine(EnvConfig(**kwargs), 3)
    rngs = [seeding.np_random(s)[0] for s in range(3)]  # what reset(seed=0) gives the env
    start = engine.reset(rngs)
    obs, infos = env.reset(seed=0)
    assert isinstance(start, ResetResult) and start.envs is None
    assert np.array_equal(start.observation, obs) and np.array_equal(
        start.info["label"], infos["label"]
    )
    action = np.array([[0.1, 0.2], [0.5, 0.5], [0.9, 0.0]], dtype=np.float32)
    result = engine.step(action, batch=3, rngs=rngs, reset_ended=True)
    obs, rewards, terminated, _, infos = env.step(action)
    assert isinstance(result, StepResult) and result.reward.dtype == np.float64
    assert np.array_equal(result.reward, rewards) and np.array_equal(result.terminated, terminated)
    assert result.ended.tolist() == [0, 1, 2] and np.array_equal(result.observation, obs)
    assert (
        result.final_info["step"].tolist() == [1, 1, 1] and result.info["step"].tolist() == [0] * 3
    )
    for i in range(3):
        assert np.array_equal(result.final_observation[i], infos["final_obs"][i])
    plain = engine.step(action, batch=3)  # without reset_ended: no final rows
    assert plain.ended is None and plain.final_observation is None
