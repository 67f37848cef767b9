"""The single glance-and-focus environment."""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from gf_env import rendering
from gf_env.build import build_engine
from gf_env.config import EnvConfig, check_options, check_render_mode
from gf_env.engine import ResetResult, StepResult
from gf_env.surface import EnvSurface


class GlanceFocusEnv(EnvSurface, gym.Env):
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
    With ``stop_action=True`` the agent can also end the episode (see *When to stop*): a third
    component, ``Box(0, 1, (3,), float32)``, stops when it is >= 0.5 (its location is then
    ignored); grid actions get one more action, ``Discrete(G * G + 1)``, action ``G * G`` stops.
    :meth:`action_masks` (grid actions) masks the cells already focused on, for sb3-contrib's
    ``MaskablePPO``; the env does not enforce it.

    ## Observation Space
    ``hidden`` (default): the classifier's recurrent state, ``Box(-1, 1, (state_dim,), float32)``
    for the GRU head (256 for the shipped MNIST classifiers). ``dict``: ``hidden``, ``features``
    (the last feature map, ``feature_shape``), ``step`` (focus steps taken) and ``locations``
    (``(max_focus_steps, 2)``, zeros for steps not yet taken).

    ## Rewards
    ``confidence_gain`` (default): ``p_t(y) - p_{t-1}(y)``, the gain in softmax probability of the
    true class y, so the return is ``p_T(y) - p_0(y)``. ``log_prob_gain``: the same in log
    probabilities. ``final_correct``: 1 at the last step if the prediction is right, else 0.

    ## When to stop
    ``stop_action=True`` lets the agent end the episode before the last focus step, and
    ``flops_cost=lambda`` prices compute: every focus step's reward is lowered by
    ``lambda * focus MFLOPs`` (``step_flops.focus / 1e6``), and a stop is a step with no focus,
    no classifier call and reward 0 (``final_correct``: 1 if the prediction at the stop is right).
    With the default reward the return is therefore
    ``p_stop(y) - p_0(y) - lambda * MFLOPs of the focus steps taken``: the final true-class
    probability minus the price of the compute spent, up to the glance's probability and cost,
    which no action changes. The true-class probability rather than correctness is the default
    because it rewards every step by its gain (dense, low-variance, the same telescoping sum as
    without the option); ``reward="final_correct"`` gives the 0/1 variant. Stopping after the
    glance, before any focus step, is allowed (the glance-only exit of the thresholds).

    ## Starting State
    An image drawn uniformly from the split (or ``options={"index": i}``); for MNIST canvases the
    digit and clutter placements are drawn from the env's seeded RNG, so every episode is new.

    ## Episode End
    ``terminated=True`` after ``max_focus_steps`` focus steps, or on a stop action
    (``stop_action=True``). There is no truncation.
    Calling ``step`` after the end without ``reset`` raises.

    ## Info
    ``label``, ``prediction``, ``confidence`` (max softmax), ``true_class_prob``, ``step``,
    ``patch_box`` (top, left, height, width; the whole image after reset), ``flops`` (cumulative
    classifier FLOPs for this image), ``image_index``; with ``stop_action=True`` also
    ``stopped`` (the agent ended the episode; ``step`` is then the number of focus steps it took
    and ``flops`` the compute it spent).

    ## Attributes
    Read-only, for agents and tools (:class:`~gf_env.surface.EnvSurface`; through wrappers:
    ``env.unwrapped.patch_size`` or ``env.get_wrapper_attr("patch_size")``): ``num_images``,
    ``image_size`` ``(H, W)``, ``image_channels``, ``num_classes``, ``patch_size``,
    ``max_focus_steps``, ``step_flops`` (glance and focus FLOPs per image), ``feature_shape``,
    ``grid_size``, ``image_source``.

    ## Oracle look-ahead
    :meth:`oracle_true_class_probs` says what the true-class probability would become after
    focusing at candidate locations, without changing the episode. It READS THE LABEL: it is for
    upper-bound baselines (``agents`` "oracle"), never for a policy under evaluation.

    ## Object boxes
    :meth:`oracle_object_boxes` gives the boxes of the image's objects as the canvas generator
    placed them (every digit of an MNIST canvas: one on the translated and cluttered canvases,
    ``num_digits`` on the multi-digit ones). It reads no label but is PRIVILEGED information, not
    part of the observation: it serves reference policies (``agents`` "locator"). Image folders
    and ImageNet have no boxes; there it raises ``ValueError``.

    ## White-box attributes
    ``classifier`` is the frozen classifier object the env runs, and ``image_source`` the images
    it draws from. Together they let an agent compute what the env computes, and differentiate
    through it: ``agents`` "differentiable" (AdaFocusV2-style) trains its location network by
    gradient through a differentiable crop into ``classifier.focus``. Such an agent is
    WHITE-BOX: it learns from the classifier's gradients, which an RL policy never sees, and is
    marked so beside the RL agents. Read these attributes, never change them: the episodes run on
    the same objects.

    ## Arguments
    See :class:`~gf_env.EnvConfig`: ``data``, ``classifier``, ``split``, ``mnist_root``,
    ``checkpoint``, ``max_focus_steps``, ``reward``, ``action_type``, ``grid_size``,
    ``observation``, ``device``, ``stop_action``, ``flops_cost``; and ``render_mode``.

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
      package); ``rgb_array`` rendering added later without changing the dynamics; the
      ``stop_action``/``flops_cost`` options and ``action_masks()`` added later, off by
      default (spaces, rewards and info of the defaults unchanged); ``oracle_object_boxes()``
      added later (dynamics unchanged); the white-box ``classifier`` attribute added later
      (dynamics unchanged).
    """

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": list(rendering.RENDER_MODES),
        "render_fps": rendering.RENDER_FPS,
    }

    def __init__(self, render_mode: str | None = None, **kwargs: Any):
        check_render_mode(render_mode, self.metadata["render_modes"])
        self.render_mode = render_mode
        self.config = EnvConfig.from_kwargs(**kwargs)
        self.engine = build_engine(self.config, 1, keep_probs=render_mode is not None)
        self.action_space = self.engine.action_space
        self.observation_space = self.engine.observation_space

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        index = check_options(options, ("index",)).get("index")
        result = self.engine.reset([self.np_random], indices=None if index is None else [index])
        return self._observation(result), self._info(result)

    def step(self, action):
        result = self.engine.step(action, batch=None)
        reward, terminated = float(result.reward[0]), bool(result.terminated[0])
        return self._observation(result), reward, terminated, False, self._info(result)

    def render(self) -> np.ndarray | None:
        """The current frame (``render_mode="rgb_array"``); ``None`` without a render mode."""
        frames = rendering.render(self.engine, np.arange(1), self.render_mode)
        return None if frames is None else frames[0]

    def action_masks(self) -> np.ndarray:
        """Allowed grid actions ``(G * G [+ 1],)`` bool for sb3-contrib's ``MaskablePPO``: cells
        already focused on in this episode are ``False``, the stop action stays allowed (see
        :meth:`GlanceFocusEngine.action_masks`). Grid actions only; the env does not enforce it."""
        return self.engine.action_masks()[0]

    def oracle_true_class_probs(self, locations: np.ndarray) -> np.ndarray:
        """ORACLE, READS THE LABEL: the true-class probability after focusing at each of ``K``
        candidate ``locations`` ``(K, 2)`` in [0, 1] instead of the next step; returns ``(K,)``
        ``float64``. The episode does not change. For upper-bound baselines only."""
        locations = np.asarray(locations, dtype=np.float32)
        if locations.ndim != 2 or locations.shape[1] != 2:
            raise ValueError(f"locations must have shape (K, 2), got {locations.shape}")
        return self.engine.true_class_probs_at(locations[None])[0]

    def oracle_object_boxes(self) -> np.ndarray:
        """PRIVILEGED: the boxes ``(K, 4)`` (top, left, height, width) of the image's K objects
        (see *Object boxes*); ``ValueError`` where the images come without boxes."""
        return self.engine.boxes_of_objects()[0]

    def _observation(self, result: ResetResult | StepResult):
        """The batch-of-one observation as this env's space holds it."""
        obs = result.observation
        if isinstance(obs, dict):
            return {k: (int(v[0]) if k == "step" else v[0]) for k, v in obs.items()}
        return obs[0]

    def _info(self, result: ResetResult | StepResult) -> dict[str, Any]:
        """The batch-of-one info as Python scalars (``patch_box`` a tuple)."""
        info = result.info
        out = {k: v[0].item() for k, v in info.items() if k != "patch_box"}
        out["patch_box"] = tuple(int(v) for v in info["patch_box"][0])
        return out
