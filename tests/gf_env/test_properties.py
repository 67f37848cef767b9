"""Property-based tests (hypothesis) over actions and env settings.

Every valid input gives an observation inside the observation space and finite rewards; every
invalid one raises the documented error and leaves the episode as it was.
"""

import functools
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from classifiers.testing import FakeClassifier
from gf_env import GlanceFocusEnv, GlanceFocusVectorEnv
from gf_env.config import MAX_FOCUS_STEPS, MAX_GRID_SIZE
from gf_env.engine import OBSERVATIONS, REWARDS

FAST = settings(max_examples=20, deadline=None, derandomize=True, database=None)
NUM_ENVS = 3

any_float = st.floats(allow_nan=True, allow_infinity=True, width=64)
finite_float = st.floats(allow_nan=False, allow_infinity=False, width=64)


@functools.cache
def classifier():
    return FakeClassifier(patch_size=28)


@functools.cache
def env(action_type="continuous", observation="hidden"):
    return GlanceFocusEnv(
        data="cluttered60",
        classifier=classifier(),
        split="test",
        action_type=action_type,
        observation=observation,
    )


@functools.cache
def vector():
    return GlanceFocusVectorEnv(NUM_ENVS, data="cluttered60", classifier=classifier(), split="test")


def check_transition(space, obs, reward, info, engine):
    assert space.contains(obs)
    assert np.isfinite(reward).all()
    top, left, height, width = np.asarray(info["patch_box"]).reshape(-1, 4).T
    assert (top >= 0).all() and (top + height <= engine.height).all()
    assert (left >= 0).all() and (left + width <= engine.width).all()


@FAST
@given(
    seed=st.integers(0, 2**32 - 1),
    actions=st.lists(arrays(np.float64, 2, elements=any_float), min_size=1, max_size=4),
)
def test_continuous_actions_valid_or_refused(seed, actions):
    e = env()
    obs, info = e.reset(seed=seed)
    check_transition(e.observation_space, obs, 0.0, info, e.engine)
    for action in actions:
        before = e.engine.step_count.copy()
        if np.isfinite(action).all():  # anything finite is valid: clipped into [0, 1]
            obs, reward, *_, info = e.step(action)
            check_transition(e.observation_space, obs, reward, info, e.engine)
        else:
            with pytest.raises(ValueError, match="actions must be finite"):
                e.step(action)
            assert np.array_equal(e.engine.step_count, before)


@FAST
@given(
    shape=st.lists(st.integers(0, 3), max_size=3).map(tuple).filter(lambda s: s != (2,)),
    dtype=st.sampled_from([np.float32, np.float64, np.int64]),
)
def test_continuous_actions_of_any_other_shape_are_refused(shape, dtype):
    e = env()
    e.reset(seed=0)
    with pytest.raises(ValueError, match=re.escape(f"must have shape (2,), got shape {shape!r}")):
        e.step(np.zeros(shape, dtype=dtype))


@FAST
@given(seed=st.integers(0, 1000), cells=st.lists(st.integers(-20, 20), min_size=1, max_size=4))
def test_grid_actions_valid_or_refused(seed, cells):
    e = env("grid", "dict")
    obs, _ = e.reset(seed=seed)
    assert e.observation_space.contains(obs)
    for cell in cells:
        if 0 <= cell < e.action_space.n:
            obs, reward, *_, info = e.step(np.int64(cell))
            check_transition(e.observation_space, obs, reward, info, e.engine)
        else:
            with pytest.raises(ValueError, match=rf"grid action {cell} out of range \[0, 8\]"):
                e.step(np.int64(cell))


@settings(FAST, max_examples=10)
@given(
    steps=st.integers(1, 6),
    actions=arrays(np.float32, (8, NUM_ENVS, 2), elements=st.floats(width=32)),
)
def test_vector_env_valid_or_refused(steps, actions):
    vec = vector()
    obs, _ = vec.reset(seed=steps)
    assert vec.observation_space.contains(obs)
    for action in actions[:steps]:
        if np.isfinite(action).all():
            obs, rewards, _, truncated, info = vec.step(action)
            check_transition(vec.observation_space, obs, rewards, info, vec.engine)
            assert not truncated.any()
        else:
            bad = np.flatnonzero(~np.isfinite(action).all(axis=1)).tolist()
            with pytest.raises(ValueError, match=rf"for sub-environment\(s\) \[{str(bad)[1:-1]}\]"):
                vec.step(action)


@settings(FAST, max_examples=12)
@given(
    max_focus_steps=st.integers(1, 6),
    reward=st.sampled_from(REWARDS),
    observation=st.sampled_from(OBSERVATIONS),
    action_type=st.sampled_from(["continuous", "grid"]),
    grid_size=st.none() | st.integers(1, 6),
    seed=st.integers(0, 1000),
)
def test_every_valid_setting_runs_a_whole_episode(
    max_focus_steps, reward, observation, action_type, grid_size, seed
):
    e = GlanceFocusEnv(
        data="cluttered60",
        classifier=classifier(),
        max_focus_steps=max_focus_steps,
        reward=reward,
        observation=observation,
        action_type=action_type,
        grid_size=grid_size,
    )
    obs, info = e.reset(seed=seed)
    check_transition(e.observation_space, obs, 0.0, info, e.engine)
    e.action_space.seed(seed)
    for t in range(max_focus_steps):
        obs, reward_t, terminated, truncated, info = e.step(e.action_space.sample())
        check_transition(e.observation_space, obs, reward_t, info, e.engine)
        assert terminated == (t == max_focus_steps - 1) and not truncated


@FAST
@given(
    setting=st.one_of(
        st.tuples(
            st.just("max_focus_steps"),
            st.integers(max_value=0)
            | st.integers(min_value=MAX_FOCUS_STEPS + 1)
            | st.booleans()
            | st.floats(),
        ),
        st.tuples(
            st.just("grid_size"),
            st.integers(max_value=0)
            | st.integers(min_value=MAX_GRID_SIZE + 1)
            | st.floats()
            | st.text(max_size=3),
        ),
        st.tuples(st.just("reward"), st.text(max_size=12).filter(lambda s: s not in REWARDS)),
        st.tuples(
            st.just("observation"), st.text(max_size=8).filter(lambda s: s not in OBSERVATIONS)
        ),
        st.tuples(
            st.just("split"), st.text(max_size=8).filter(lambda s: s not in ("train", "test"))
        ),
    )
)
def test_every_invalid_setting_raises_value_error_naming_it(setting):
    name, value = setting
    with pytest.raises(ValueError, match=rf"^{name} must be .*got {re.escape(repr(value))}$"):
        GlanceFocusEnv(data="cluttered60", classifier=classifier(), **{name: value})
