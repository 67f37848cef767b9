"""render_mode="rgb_array": frames, their boxes, the vector env's tuple, Gymnasium's wrappers."""

import itertools
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import gf_env
from gf_env import EpisodeStateError
from gf_env.rendering import MIN_SIDE, draw_frame, patch_tags, step_colors, upscale_factor

ENV = "GlanceFocus-ClutteredMNIST100-v0"  # 100x100 images, P = 32: zoom 3


def make(**kwargs):
    return gym.make(ENV, split="test", render_mode="rgb_array", **kwargs)


def test_frames_show_each_patch_in_its_step_colour():
    env = make()
    env.reset(seed=0)
    frames = [env.render()]
    corners = [(0.0, 0.0), (1.0, 1.0)]
    for location in corners:
        env.step(np.array(location, dtype=np.float32))
        frames.append(env.render())
    engine = env.unwrapped.engine
    zoom, patch = upscale_factor(engine.height, engine.width), engine.patch_size
    assert zoom * engine.height >= MIN_SIDE
    assert all(f.shape == frames[0].shape and f.dtype == np.uint8 for f in frames)
    assert frames[0].shape[0] >= MIN_SIDE and frames[0].shape[2] == 3
    assert all(not np.array_equal(a, b) for a, b in itertools.pairwise(frames))
    colors = step_colors(3)
    side = patch * zoom
    # step 1 at (0, 0): the bottom edge of box 1; step 2 at (1, 1): the top edge of box 2
    np.testing.assert_array_equal(frames[1][side - 1, side // 2], colors[1])
    top = (engine.height - patch) * zoom
    np.testing.assert_array_equal(frames[2][top, top + side // 2], colors[2])
    # before step 2 nothing was drawn there
    assert not np.array_equal(frames[1][top, top + side // 2], colors[2])


def test_no_render_mode_keeps_nothing_and_render_warns():
    env = gym.make(ENV)
    env.reset(seed=0)
    assert env.unwrapped.engine.probs is None
    with pytest.warns(UserWarning, match="render_mode='rgb_array'"):
        assert env.render() is None


def test_unknown_render_mode_is_refused_by_both_faces():
    for make_env in (gym.make, gym.make_vec):
        with (
            warnings.catch_warnings(),
            pytest.raises(ValueError, match=r"\['rgb_array'\] or None, got 'ansi'"),
        ):
            warnings.simplefilter("ignore")  # gym.make warns before the env refuses
            make_env(ENV, render_mode="ansi")


def test_render_before_reset_raises():
    with pytest.raises(EpisodeStateError, match="call reset"):
        make().unwrapped.render()


def test_metadata_and_checker():
    env = make()
    assert "rgb_array" in env.metadata["render_modes"] and env.metadata["render_fps"] > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)


def test_vector_render_is_a_tuple_of_the_single_env_frames():
    envs = gym.make_vec(ENV, num_envs=3, split="test", render_mode="rgb_array")
    assert isinstance(envs.unwrapped, gf_env.GlanceFocusVectorEnv)
    assert envs.metadata["render_modes"] == ["rgb_array"]
    envs.reset(seed=5)
    actions = np.array([[0.1, 0.9], [0.5, 0.5], [1.0, 0.0]], dtype=np.float32)
    envs.step(actions)
    frames = envs.render()
    assert isinstance(frames, tuple) and len(frames) == 3
    single = make()
    engine = single.unwrapped.engine
    width = upscale_factor(engine.height, engine.width) * engine.width
    for i, frame in enumerate(frames):
        single.reset(seed=5 + i)
        single.step(actions[i])
        # the image and boxes are identical; the printed probabilities may differ by rounding
        np.testing.assert_array_equal(frame[:, :width], single.render()[:, :width])


def test_render_collection_gathers_one_frame_per_step():
    env = gym.wrappers.RenderCollection(make(max_focus_steps=2))
    env.reset(seed=1)
    for _ in range(2):
        env.step(env.action_space.sample())
    frames = env.render()
    assert len(frames) == 3 and len({f.shape for f in frames}) == 1


def test_record_video_writes_a_file(tmp_path):
    pytest.importorskip("moviepy")
    env = gym.wrappers.RecordVideo(
        make(max_focus_steps=2), str(tmp_path / "videos"), episode_trigger=lambda episode: True
    )
    env.reset(seed=0)
    terminated = False
    while not terminated:
        _, _, terminated, _, _ = env.step(env.action_space.sample())
    env.close()
    videos = list((tmp_path / "videos").glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 0


def test_draw_frame_takes_rgb_images_and_refuses_other_channels():
    probs = np.full(10, 0.1, dtype=np.float32)
    corners = np.array([[4, 8]])
    frame = draw_frame(np.random.default_rng(0).random((3, 40, 50)), corners, 16, probs, 3, 4)
    assert frame.shape[0] == 40 * upscale_factor(40, 50) and frame.shape[2] == 3
    with pytest.raises(ValueError, match="1- or 3-channel images, got 2"):
        draw_frame(np.zeros((2, 40, 50)), corners, 16, probs, 3, 4)


def test_repeated_patches_share_one_tag():
    corners = np.array([[0, 0], [5, 5], [0, 0], [0, 0]])
    assert patch_tags(corners) == [None, "2", None, "1,3,4"]
    assert patch_tags(np.zeros((0, 2))) == []
