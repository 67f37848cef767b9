"""glance-focus visualize: the recorded patches and canvases, the pictures, the CLI and its errors."""

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import PPO

from agents.cli import main
from agents.policies import load_policy
from agents.visualize import VisualizeConfig, coverage, record
from gf_env.sb3 import make_sb3_vec_env
from tests.helpers import cli_error

ENV = "GlanceFocus-ClutteredMNIST-v0"  # 60x60 canvases, P = 28, 4 focus steps
PNG = b"\x89PNG"


def test_record_keeps_the_patches_and_rendered_episodes_of_the_evaluation():
    policy, env_kwargs = load_policy("raster", None, ENV)
    recording = record(policy, ENV, images=30, keep=4, num_envs=8, **env_kwargs)
    # the raster sweep on a 2x2 grid: the four corners, row by row, for every image
    expected = np.array([[0, 0], [0, 32], [32, 0], [32, 32]])
    assert recording.corners.shape == (30, 4, 2)
    assert (recording.corners == expected).all()
    assert recording.patch_size == 28 and recording.image_size == (60, 60)
    np.testing.assert_array_equal(recording.kept, [0, 10, 19, 29])  # spread over the 30 images
    assert len(recording.frames) == 4
    env = gym.make(ENV, split="test", render_mode="rgb_array")
    picture = np.s_[: 5 * 60, : 5 * 60]  # the upscaled canvas with its boxes (zoom 5)
    for frame, row in zip(recording.frames, recording.kept, strict=True):
        index = int(recording.result.image_index[row])  # 30 images spread over the split
        env.reset(seed=int(row), options={"index": index})  # the harness seeds each row
        for action in policy.locations(np.arange(4), None):
            env.step(action.astype(np.float32))
        alone = env.render()
        assert frame.shape == alone.shape
        np.testing.assert_array_equal(frame[picture], alone[picture])
    cover = coverage(recording)
    assert cover.shape == (4, 60, 60)
    assert cover[0, 0, 0] == 1 and cover[0, 59, 59] == 0 and cover[3, 59, 59] == 1


def test_cli_writes_both_pictures(tmp_path, capsys):
    out = tmp_path / "vis"
    argv = ["visualize", "--env", ENV, "--agent", "center", "--n", "3", "--test-images", "12"]
    assert main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in ("examples.png", "heatmap.png"):
        assert (out / name).read_bytes()[:4] == PNG
        assert f"wrote {out / name}" in printed


def test_learned_agent_from_its_saved_zip(tmp_path):
    venv = make_sb3_vec_env(ENV, num_envs=2, seed=0)
    PPO("MlpPolicy", venv, n_steps=8, batch_size=16, seed=0).save(tmp_path / "model.zip")
    config = VisualizeConfig(
        env=ENV, agent="ppo", model=str(tmp_path / "model.zip"), n=2, test_images=4
    )
    policy, env_kwargs = load_policy(config.agent, config.model, config.env)
    assert isinstance(policy, PPO) and env_kwargs == {"observation": "hidden"}  # read off the file
    recording = record(policy, ENV, images=4, keep=2, num_envs=4)
    assert recording.corners.shape == (4, 4, 2)
    assert ((recording.corners >= 0) & (recording.corners <= 60 - 28)).all()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--n", "0"], "--n must be at least 1"),
        (["--agent", "ppo"], "agent 'ppo' needs the path of its saved model.zip"),
        (["--agent", "greedy"], "unknown agent 'greedy'"),
        (["--test-images", "0"], "(--test-images) must be at least 1"),
    ],
)
def test_cli_refuses_bad_input(flags, message, capsys):
    with pytest.raises(SystemExit):
        main(["visualize", *flags])
    assert message in cli_error(capsys.readouterr().err)
