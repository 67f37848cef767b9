"""Bad input to the single env, the vector env and the SB3 adapter: a clear error, never a crash
deep inside torch. Each message names the bad value and what was expected."""

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

from classifiers import StepOutput
from classifiers.data import mnist_canvases
from classifiers.testing import FakeClassifier
from gf_env import EnvConfig, EpisodeStateError, GlanceFocusEnv, GlanceFocusVectorEnv
from gf_env.sb3 import SB3VecEnv, make_sb3_vec_env

HALF = np.array([0.5, 0.5], dtype=np.float32)


def single(**kwargs):
    return GlanceFocusEnv(
        data="cluttered60", classifier=FakeClassifier(patch_size=28), max_focus_steps=2, **kwargs
    )


def vector(num_envs=3, **kwargs):
    return GlanceFocusVectorEnv(
        num_envs,
        data="cluttered60",
        classifier=FakeClassifier(patch_size=28),
        max_focus_steps=2,
        **kwargs,
    )


@pytest.fixture(scope="module")
def env():
    env = single()
    env.reset(seed=0)
    return env


@pytest.mark.parametrize(
    ("action", "match"),
    [
        (np.array([np.nan, 0.5]), r"must be finite, got \[\[nan, 0.5\]\]"),
        (np.array([0.5, np.inf]), r"must be finite, got \[\[0.5, inf\]\]"),
        ([-np.inf, 0.0], r"must be finite.*-inf"),
        (np.array([0.1, 0.2, 0.3]), r"shape \(2,\), got shape \(3,\): \[0.1, 0.2, 0.3\]"),
        (np.array([[0.1, 0.2]]), r"shape \(2,\), got shape \(1, 2\)"),
        (0.5, r"shape \(2,\), got shape \(\): 0.5"),
        (None, r"shape \(2,\), got shape \(\): None"),
        ("0.5,0.5", r"got shape \(\): '0.5,0.5'"),
        (np.array(["a", "b"]), r"real numbers, got dtype <U1"),
        (np.array([True, False]), r"real numbers, got dtype bool"),
        (np.array([0.5 + 1j, 0.5]), r"real numbers, got dtype complex128"),
        (np.array([0.5, None], dtype=object), r"real numbers, got dtype object"),
        ([[0.1], [0.2, 0.3]], r"\[\[0.1\], \[0.2, 0.3\]\] do not form an array"),
        (np.array([1, 2], dtype="timedelta64[s]"), r"real numbers, got dtype timedelta64\[s\]"),
        (np.array(["2020-01-01", "2020-01-02"], dtype="datetime64[D]"), "got dtype datetime64"),
        (
            torch.empty(2, device="meta"),
            r"tensor on the meta device \(shape \(2,\), torch.float32\), which holds no values",
        ),
        ([torch.tensor(0.5), torch.empty((), device="meta")], "meta device"),
    ],
)
def test_bad_continuous_actions_raise_value_error_naming_them(env, action, match):
    step = env.engine.step_count[0]
    with pytest.raises(ValueError, match=match):
        env.step(action)
    assert env.engine.step_count[0] == step  # a refused action changes nothing


@pytest.mark.parametrize(
    ("action", "corner"),
    [
        (np.array([1e300, -1e300]), (32, 0)),  # finite float64 beyond float32: clipped, not inf
        ([2, -3], (32, 0)),  # integers are numbers too
        (torch.tensor([0.0, 1.0]), (0, 32)),
        (np.array([0.5, 0.5], dtype=np.float16), (16, 16)),
        # a policy's output: detached (no gradient flows through the env), bf16 widened exactly
        (torch.tensor([0.0, 1.0], requires_grad=True), (0, 32)),
        (torch.tensor([0.5, 1.0], requires_grad=True) * 1.0, (16, 32)),
        (torch.tensor([0.5, 0.25], dtype=torch.bfloat16), (16, 8)),
        (torch.tensor([0.5, 0.25], dtype=torch.float8_e4m3fn), (16, 8)),
        ([torch.tensor(0.25, requires_grad=True), torch.tensor(0.5)], (8, 16)),
    ],
)
def test_out_of_range_and_other_numeric_actions_are_clipped(action, corner):
    env = single()
    env.reset(seed=0)
    *_, info = env.step(action)
    assert info["patch_box"] == (*corner, 28, 28)


@pytest.mark.parametrize(
    ("action", "match"),
    [
        (np.int64(9), r"grid action 9 out of range \[0, 8\] for a 3x3 grid"),
        (-1, r"grid action -1 out of range"),
        (np.float32(1.0), r"integers of shape \(\) \(cell k in \[0, 8\]\), got float32"),
        (3.0, "got float64"),
        (True, "got bool"),
        ([1], r"got int64 array of shape \(1,\): \[1\]"),
        (2**70, "got object array"),
        (np.timedelta64(3), r"integers of shape \(\) .*got timedelta64"),
        (np.array(3, dtype="datetime64[D]"), "got datetime64"),
        (torch.tensor(3, device="meta"), "tensor on the meta device"),
        (torch.tensor(3.0, dtype=torch.bfloat16), r"integers .*got float32"),
    ],
)
def test_bad_grid_actions(action, match):
    env = single(action_type="grid")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        env.step(action)


@pytest.mark.filterwarnings("ignore:ComplexHalf support is experimental")
def test_a_tensor_dtype_numpy_lacks_is_named(env):
    with pytest.raises(ValueError, match="complex32 tensor, which has no numpy counterpart"):
        env.step(torch.tensor([0.5, 0.5], dtype=torch.complex32))


def test_tensor_grid_actions_are_read_like_numpy_ones():
    env = single(action_type="grid")
    env.reset(seed=0)
    *_, info = env.step(torch.tensor(8, requires_grad=False))
    assert info["patch_box"] == (32, 32, 28, 28)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_tensor_actions_are_copied_to_the_cpu():
    env = single()
    env.reset(seed=0)
    action = torch.tensor([0.0, 1.0], device="cuda", requires_grad=True)
    *_, info = env.step(action * 1.0)
    assert info["patch_box"] == (0, 32, 28, 28)


def test_vector_and_sb3_paths_read_tensors_and_refuse_durations():
    actions = np.array([[0.0, 1.0], [0.5, 0.25], [1.0, 0.0]], dtype=np.float32)
    boxes = []
    for as_tensor in (False, True):
        vec = vector(3)
        vec.reset(seed=0)
        step = torch.tensor(actions, requires_grad=True) if as_tensor else actions
        boxes.append(vec.step(step)[-1]["patch_box"])
    assert np.array_equal(boxes[0], boxes[1])
    assert boxes[1].tolist() == [[0, 32, 28, 28], [16, 8, 28, 28], [32, 0, 28, 28]]
    with pytest.raises(ValueError, match=r"real numbers, got dtype timedelta64"):
        vec.step(actions.astype("timedelta64[ms]"))
    venv = SB3VecEnv(vector(3, autoreset_mode=AutoresetMode.SAME_STEP))
    venv.reset()
    with pytest.raises(ValueError, match=r"real numbers, got dtype timedelta64"):
        venv.step(actions.astype("timedelta64[ms]"))
    with pytest.raises(ValueError, match="meta device"):
        venv.step(torch.empty(3, 2, device="meta"))
    *_, infos = venv.step(torch.tensor(actions, dtype=torch.bfloat16, requires_grad=True))
    assert [info["patch_box"].tolist() for info in infos] == boxes[1].tolist()


def test_vector_actions_name_the_sub_environment():
    vec = vector(3)
    vec.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(3, 2\), one \(row, column\) pair per sub-env"):
        vec.step(np.full((2, 2), 0.5))
    actions = np.full((3, 2), 0.5)
    actions[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"finite.*for sub-environment\(s\) \[1\]"):
        vec.step(actions)
    grid = vector(3, action_type="grid")
    grid.reset(seed=0)
    with pytest.raises(ValueError, match=r"integers of shape \(3,\)"):
        grid.step(np.zeros((3, 2), dtype=np.int64))
    with pytest.raises(ValueError, match=r"grid action \[0, 9, 1\] out of range"):
        grid.step(np.array([0, 9, 1]))


def test_step_before_reset_and_after_the_end():
    with pytest.raises(EpisodeStateError, match=r"before reset\(\); call reset\(\) first"):
        single().step(HALF)
    vec = vector(2, autoreset_mode=AutoresetMode.DISABLED)
    with pytest.raises(
        EpisodeStateError, match=r"before reset\(\) for sub-environment\(s\) \[0, 1\]"
    ):
        vec.step(np.full((2, 2), 0.5))
    vec.reset(seed=0)
    for _ in range(2):
        vec.step(np.full((2, 2), 0.5))
    vec.reset(options={"reset_mask": np.array([True, False])})
    with pytest.raises(EpisodeStateError, match=r"ended.*sub-environment\(s\) \[1\].*reset_mask"):
        vec.step(np.full((2, 2), 0.5))
    venv = SB3VecEnv(vector(2, autoreset_mode=AutoresetMode.SAME_STEP))
    with pytest.raises(EpisodeStateError, match="before reset"):
        venv.step(np.full((2, 2), 0.5, dtype=np.float32))


def test_bad_reset_arguments():
    env = single()
    with pytest.raises(
        ValueError, match=r"unknown reset option\(s\) 'idx' \(did you mean 'index'\?\)"
    ):
        env.reset(options={"idx": 3})
    with pytest.raises(TypeError, match="reset options must be a dict"):
        env.reset(options=[("index", 3)])
    with pytest.raises(IndexError, match=r"image index True out of range: pass an integer"):
        env.reset(options={"index": True})
    vec = vector(3)
    with pytest.raises(ValueError, match=r"'mask'; valid: \['reset_mask', 'index'\]"):
        vec.reset(options={"mask": np.ones(3, dtype=bool)})
    with pytest.raises(TypeError, match=r"seed must be an int.*got 1.5"):
        vec.reset(seed=1.5)
    with pytest.raises(ValueError, match="got 2 seeds for 3 sub-environments"):
        vec.reset(seed=[1, 2])
    with pytest.raises(ValueError, match=r"one entry \(int or None\) per sub-env \(3\), got 4"):
        vec.reset(options={"index": 4})


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"max_focus_step": 3},
            TypeError,
            "'max_focus_step' \\(did you mean 'max_focus_steps'\\?\\)",
        ),
        ({"max_focus_steps": 0}, ValueError, "max_focus_steps must be an integer >= 1, got 0"),
        (
            {"max_focus_steps": True},
            ValueError,
            "max_focus_steps must be an integer >= 1, got True",
        ),
        ({"max_focus_steps": 2.0}, ValueError, "got 2.0"),
        ({"grid_size": 0}, ValueError, r"grid_size must be an integer >= 1 \(or None"),
        ({"reward": "accuracy"}, ValueError, "reward must be one of .*got 'accuracy'"),
        ({"observation": "image"}, ValueError, "observation must be one of"),
        ({"action_type": "discrete"}, ValueError, "action_type must be one of"),
        ({"split": "val"}, ValueError, "split must be one of .*got 'val'"),
        ({"data": "cluttered70"}, ValueError, "data must be one of"),
        ({"device": "gpu"}, ValueError, "device='gpu' is not a device name; use 'cpu'"),
        ({"device": "meta"}, ValueError, "device='meta': the meta device holds no values"),
        ({"device": "xla"}, ValueError, r"device='xla' cannot be used by this PyTorch \(.*XLA"),
        (
            {"max_focus_steps": 10**9},
            ValueError,
            r"at most 1000 .*1,000,000,000 steps would take 7.45 GiB per sub-environment",
        ),
        (
            {"grid_size": 10**10, "action_type": "grid"},
            ValueError,
            r"grid_size must be at most 1024 .*action_type='continuous'\), got 10000000000",
        ),
        ({"classifier": "gf-mnist-clutered100"}, KeyError, "Did you mean 'gf-mnist-cluttered100'"),
        ({"classifier": object()}, TypeError, "implement GlanceFocusClassifier"),
        (
            {"classifier": FakeClassifier(), "checkpoint": "w.pt"},
            ValueError,
            "checkpoint='w.pt' is only",
        ),
        ({"mnist_root": "/nowhere"}, FileNotFoundError, "mnist_root='/nowhere' does not exist"),
    ],
)
def test_bad_settings(kwargs, error, match):
    with pytest.raises(error, match=match):
        GlanceFocusEnv(**{"data": "cluttered60", "classifier": "gf-mnist-cluttered60", **kwargs})


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_refused_before_any_work():
    with pytest.raises(ValueError, match="device='cuda' but this machine has 0 usable CUDA"):
        EnvConfig(device="cuda")


def test_impossible_combinations():
    source = mnist_canvases("cluttered60", "test")
    with pytest.raises(ValueError, match="mnist_root='/x' is only used with a canvas preset"):
        GlanceFocusEnv(data=source, classifier=FakeClassifier(), mnist_root="/x")
    with pytest.raises(ValueError, match="larger than the 60x60 images"):
        GlanceFocusEnv(data=source, classifier=FakeClassifier(patch_size=64))
    rgb = FakeClassifier(in_chans=3, patch_size=28)
    with pytest.raises(ValueError, match="takes 3-channel images but the data has 1"):
        GlanceFocusEnv(data=source, classifier=rgb)
    with pytest.raises(ValueError, match="num_envs must be an integer >= 1, got 0"):
        vector(0)
    with pytest.raises(ValueError, match=r"autoreset_mode must be one of .*got 'sometimes'"):
        vector(2, autoreset_mode="sometimes")
    with pytest.raises(TypeError, match="did you mean 'max_focus_steps'"):
        gym.make_vec("GlanceFocus-ClutteredMNIST-v0", num_envs=2, max_focus_step=3)


class Broken:
    """A user classifier that breaks its own promises (wrong shapes or non-finite outputs)."""

    def __init__(self, fault):
        self.inner = FakeClassifier(patch_size=28)
        self.fault = fault
        for name in ("num_classes", "in_chans", "patch_size", "state_dim", "feature_shape"):
            setattr(self, name, getattr(self.inner, name))
        self.device = torch.device("cpu")

    def _spoil(self, out):
        if self.fault == "logits":
            return dataclasses.replace(out, logits=out.logits[:, :5])
        if self.fault == "state":
            return dataclasses.replace(out, state=out.state[:, :-1])
        return StepOutput(out.logits * float("nan"), out.state, out.features)

    def glance(self, images):
        return self._spoil(self.inner.glance(images))

    def focus(self, patches, state):
        return self.inner.focus(patches, state)

    def step_flops(self):
        return self.inner.step_flops()


@pytest.mark.parametrize(
    ("fault", "error", "match"),
    [
        (
            "logits",
            ValueError,
            r"glance\(\) returned logits of shape \(1, 5\) .*expected \(1, 10\)",
        ),
        ("state", ValueError, r"returned state of shape \(1, 15\) .*expected \(1, 16\)"),
        ("nan", FloatingPointError, r"glance\(\) returned NaN or infinite .*episode\(s\) \[0\]"),
    ],
)
def test_a_classifier_that_breaks_its_promises_is_named(fault, error, match):
    env = GlanceFocusEnv(data="cluttered60", classifier=Broken(fault))
    with pytest.raises(error, match=match):
        env.reset(seed=0)


def test_sb3_adapter_refusals():
    with pytest.raises(
        TypeError, match="SB3VecEnv wraps a GlanceFocusVectorEnv, got GlanceFocusEnv"
    ):
        SB3VecEnv(single())
    venv = make_sb3_vec_env(
        "GlanceFocus-ClutteredMNIST-v0", num_envs=2, seed=0, monitor=False, max_focus_steps=2
    )
    venv.reset()
    with pytest.raises(RuntimeError, match=r"step_wait\(\) called without step_async"):
        venv.step_wait()
    with pytest.raises(ValueError, match=r"finite.*sub-environment\(s\) \[0\]"):
        venv.step(np.array([[np.inf, 0.5], [0.5, 0.5]], dtype=np.float32))
    with pytest.raises(TypeError, match="unknown environment argument"):
        make_sb3_vec_env("GlanceFocus-ClutteredMNIST-v0", num_envs=2, rewards="x")
    for kwargs, match in [
        ({"device": "meta"}, "meta device"),
        ({"grid_size": 10**10}, "grid_size must be at most 1024"),
        ({"max_focus_steps": 10**9}, "7.45 GiB"),
    ]:
        with pytest.raises(ValueError, match=match):
            make_sb3_vec_env("GlanceFocus-ClutteredMNIST-v0", num_envs=2, **kwargs)
        with pytest.raises(ValueError, match=match):
            gym.make_vec("GlanceFocus-ClutteredMNIST-v0", num_envs=2, **kwargs)
