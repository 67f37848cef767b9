"""The single glance-and-focus environment."""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from gf_env import rendering
from gf_env.config import (
    EnvConfig,
    action_space,
    check_options,
    check_render_mode,
    observation_space,
    to_locations,
)


class GlanceFocusEnv(gym.Env):
    """Choose where a frozen classifier should look, one patch at a time.

    ## Description
    Each episode is one image. ``reset`` draws an image and runs the *glance*: the whole image,
    downsampled, goes through the classifier's global encoder and recurrent head. Each ``step``
    takes a patch location, crops a ``P x P`` patch from the full-resolution image and runs the
    *focus*: the local encoder and the same recurrent head. The agent is rewarded for raising the
    classifier's confidence in the true class. This is the patch-selection problem of GFNet
    (Wang et al., NeurIPS 2020) with the classifier frozen.

    ## Action Space
    ``continuous`` (default): ``Box(0, 1, (2,), float32)``, the (row, column) location ``a``; the
    patch's top-left corner is ``floor(a * (H - P))`` per axis, so the patch is always inside the
    image. Values outside [0, 1] are clipped; NaN or infinite values raise ``ValueError``.
    ``grid``: ``Discrete(G * G)``, cell ``k`` maps to location ``(k // G, k % G) / (G - 1)``.

    ## Observation Space
    ``hidden`` (default): the classifier's recurrent state, ``Box(-1, 1, (state_dim,), float32)``
    for the GRU head (256 for the shipped MNIST classifiers). ``dict``: ``hidden``, ``features``
    (the last feature map, ``feature_shape``), ``step`` (focus steps taken) and ``locations``
    (``(max_focus_steps, 2)``, zeros for steps not yet taken).

    ## Rewards
    ``confidence_gain`` (default): ``p_t(y) - p_{t-1}(y)``, the gain in softmax probability of the
    true class y, so the return is ``p_T(y) - p_0(y)``. ``log_prob_gain``: the same in log
    probabilities. ``final_correct``: 1 at the last step if the prediction is right, else 0.

    ## Starting State
    An image drawn uniformly from the split (or ``options={"index": i}``); for MNIST canvases the
    digit and clutter placements are drawn from the env's seeded RNG, so every episode is new.

    ## Episode End
    ``terminated=True`` after ``max_focus_steps`` focus steps. There is no truncation.
    Calling ``step`` after the end without ``reset`` raises.

    ## Info
    ``label``, ``prediction``, ``confidence`` (max softmax), ``true_class_prob``, ``step``,
    ``patch_box`` (top, left, height, width; the whole image after reset), ``flops`` (cumulative
    classifier FLOPs for this image), ``image_index``.

    ## Arguments
    See :class:`~gf_env.EnvConfig`: ``data``, ``classifier``, ``split``, ``mnist_root``,
    ``checkpoint``, ``max_focus_steps``, ``reward``, ``action_type``, ``grid_size``,
    ``observation``, ``device``; and ``render_mode``.

    ## Rendering
    ``render_mode="rgb_array"``: ``render()`` returns an ``(height, width, 3)`` ``uint8`` frame
    (:mod:`gf_env.rendering`): the image upscaled to at least 256 pixels, the glance (box 0) and
    every focus patch so far as numbered boxes coloured by step, the prediction and a bar chart of
    the top-5 class probabilities. Frames keep one size, so
    ``gymnasium.wrappers.RecordVideo`` (needs ``moviepy``: ``pip install glance-focus[video]``)
    records episodes. Without a render mode no frame data is kept and steps cost nothing extra.

    ```python
    >>> import gymnasium as gym
    >>> import gf_env
    >>> env = gym.make("GlanceFocus-ClutteredMNIST100-v0", split="test")
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape
    (256,)
    >>> obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    >>> info["step"], info["patch_box"][2:]
    (1, (32, 32))

    ```

    ## Vectorized environment
    ``gym.make_vec(id, num_envs=64)`` returns :class:`~gf_env.GlanceFocusVectorEnv`, which runs
    all 64 episodes with one batched classifier call per step. Its sub-environment ``i`` seeded
    with ``seed + i`` sees the same images and patches as this env seeded with ``seed + i``, and
    the same classifier outputs up to float rounding that differs between batch sizes.

    ## Version History
    * v0: first release (classifiers trained by ``classifiers.train``, weights shipped with the
      package); ``rgb_array`` rendering added later without changing the dynamics.
    """

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": list(rendering.RENDER_MODES),
        "render_fps": rendering.RENDER_FPS,
    }

    def __init__(self, render_mode: str | None = None, **kwargs: Any):
        check_render_mode(render_mode, self.metadata["render_modes"])
        self.render_mode = render_mode
        self.config = EnvConfig.from_kwargs(**kwargs)
        self.engine = self.config.build_engine(1, keep_probs=render_mode is not None)
        self._grid = self.config.grid(self.engine)
        self.action_space = action_space(self.config, self.engine)
        self.observation_space = observation_space(self.config, self.engine)
        self._as_dict = self.config.observation == "dict"

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        index = check_options(options, ("index",)).get("index")
        self.engine.reset([self.np_random], indices=None if index is None else [index])
        return self._observation(), self._info()

    def step(self, action):
        locations = to_locations(action, self.config, self._grid, batch=None)
        reward = self.engine.step(locations)
        terminated = bool(self.engine.terminated()[0])
        return self._observation(), float(reward[0]), terminated, False, self._info()

    def render(self) -> np.ndarray | None:
        """The current frame (``render_mode="rgb_array"``); ``None`` without a render mode."""
        frames = rendering.render(self.engine, np.arange(1), self.render_mode)
        return None if frames is None else frames[0]

    def _observation(self):
        obs = self.engine.observation(slice(0, 1), self._as_dict)
        if self._as_dict:
            return {k: (int(v[0]) if k == "step" else v[0]) for k, v in obs.items()}
        return obs[0]

    def _info(self) -> dict[str, Any]:
        info = self.engine.info(slice(0, 1))
        out = {k: v[0].item() for k, v in info.items() if k != "patch_box"}
        out["patch_box"] = tuple(int(v) for v in info["patch_box"][0])
        return out
