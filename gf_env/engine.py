"""The batched engine: glance, crop, focus and reward for N images at once.

:class:`~gf_env.GlanceFocusEnv` and :class:`~gf_env.GlanceFocusVectorEnv` are thin faces over one
:class:`GlanceFocusEngine`; all episode logic lives here. The engine only steps: what it runs on
(the images and the classifier) is loaded by :func:`gf_env.build.build_engine`, which builds it.
It owns what both faces share: the action codec (:class:`~gf_env.actions.ActionCodec`: action
space, actions -> locations) and the observation space.

One engine call per env call: :meth:`GlanceFocusEngine.reset` returns a :class:`ResetResult`
and :meth:`GlanceFocusEngine.step` a :class:`StepResult`, batched arrays of everything the faces
return (observations, rewards, terminations, infos, and the last observation and info of
episodes reset within the step); the faces only reshape them for their API. A step decodes the
actions, then :func:`~classifiers.patches.patch_corners` turns the locations into patch corners,
:func:`~classifiers.patches.crop_patches` cuts the patches and the classifier's ``focus`` runs
on them.

The engine keeps the classifier's recurrent state on the classifier's device and a CPU copy of
what the faces return, so each step costs one crop, one focus forward and one device-to-host
transfer.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from classifiers import GlanceFocusClassifier
from classifiers.data import ImageSource
from classifiers.patches import crop_patches, patch_corners, tiling_grid
from gf_env.actions import ActionCodec
from gf_env.config import OBSERVATIONS, REWARDS, EnvConfig

__all__ = [
    "OBSERVATIONS",
    "REWARDS",
    "EpisodeStateError",
    "GlanceFocusEngine",
    "ResetResult",
    "StepResult",
]

Observation = np.ndarray | dict[str, np.ndarray]
"""Observations of several episodes, one row each: the hidden states, or a dict of arrays."""


_PROCESS_ID = os.getpid()  # the process that imported this module, or the last one adjusted


def single_threaded_if_forked() -> None:
    """Run torch on one thread in a process forked after this module was imported.

    GNU OpenMP's thread pool does not survive ``fork()``: a forked child whose parent already ran
    torch ops hangs in its first parallel op. Every env built or reset here checks first, so the
    workers of a forked async vector env run torch on one thread, as PyTorch's own DataLoader
    workers do. Only a process that forks and then builds or resets one of these envs is
    changed; the importing process and processes started another way (``spawn``,
    ``forkserver``) are not.
    """
    global _PROCESS_ID
    if os.getpid() != _PROCESS_ID:
        _PROCESS_ID = os.getpid()
        torch.set_num_threads(1)


class EpisodeStateError(RuntimeError):
    """``step`` called before ``reset`` or after the episode ended."""


@dataclass(frozen=True)
class ResetResult:
    """What :meth:`GlanceFocusEngine.reset` returns.

    Attributes:
        observation: every episode's observation (reset or not), one row each.
        info: the diagnostics (:meth:`GlanceFocusEngine.info`) of the episodes reset, in the
            order of ``envs`` (every episode when ``envs`` is ``None``).
        envs: the episodes reset; ``None``: all of them.
    """

    observation: Observation
    info: dict[str, np.ndarray]
    envs: np.ndarray | None


@dataclass(frozen=True)
class StepResult:
    """What :meth:`GlanceFocusEngine.step` returns: everything a face needs from one step.

    Attributes:
        observation: every episode's observation after the step (after the reset, for episodes
            reset within it).
        reward: ``(num_envs,)`` ``float64``; 0 for episodes reset instead of stepped
            (``reset_first``).
        terminated: ``(num_envs,)`` bool: the episode ended in this step.
        info: every episode's diagnostics after the step, as ``observation``.
        ended: with ``reset_ended``, the episodes that ended in this step and were reset within
            it (possibly none); ``None`` otherwise.
        final_observation: the observations of ``ended`` before their reset, one row each.
        final_info: their diagnostics before the reset.
    """

    observation: Observation
    reward: np.ndarray
    terminated: np.ndarray
    info: dict[str, np.ndarray]
    ended: np.ndarray | None = None
    final_observation: Observation | None = None
    final_info: dict[str, np.ndarray] | None = None


class GlanceFocusEngine:
    """Episode state and transitions of ``num_envs`` glance-and-focus episodes.

    Args:
        source: where images come from.
        classifier: the glance/focus classifier, on its device; the environments freeze it
            first (:func:`classifiers.utils.freeze`), :func:`gf_env.rollout.rollout_locations`
            does not (its classifier may be in training).
        num_envs: number of episodes run side by side.
        max_focus_steps: focus steps after the glance; the episode then terminates.
        reward: ``"confidence_gain"`` (p_t(y) - p_{t-1}(y)), ``"log_prob_gain"``
            (log p_t(y) - log p_{t-1}(y)) or ``"final_correct"`` (1 at the last step if the
            prediction is right, else 0).
        observation: ``"hidden"`` or ``"dict"`` (then the last feature map of every episode is
            kept as well).
        action_type: ``"continuous"`` or ``"grid"`` (:class:`~gf_env.actions.ActionCodec`).
        grid_size: G of grid actions; ``None``: ``ceil(max(H, W) / P)``, enough cells to tile
            the image.
        keep_probs: also keep every episode's class probabilities after its last step (for
            rendering); off, a step costs nothing extra.
        stop_action: the actions can end an episode early (:class:`~gf_env.actions.ActionCodec`).
        flops_cost: reward price per MFLOP of a focus step (with ``stop_action``).
    """

    def __init__(
        self,
        source: ImageSource,
        classifier: GlanceFocusClassifier,
        num_envs: int,
        max_focus_steps: int,
        reward: str = "confidence_gain",
        observation: str = "hidden",
        action_type: str = "continuous",
        grid_size: int | None = None,
        keep_probs: bool = False,
        stop_action: bool = False,
        flops_cost: float = 0.0,
    ):
        if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        _check_compatible(source, classifier)
        self.source = source
        self.classifier = classifier
        self.num_envs = num_envs
        self.max_focus_steps = max_focus_steps
        self.reward = reward
        self.as_dict = observation == "dict"
        self.keep_features = self.as_dict
        self.keep_probs = keep_probs
        self.device = torch.device(classifier.device)
        channels, self.height, self.width = source.image_shape
        self.patch_size = classifier.patch_size
        self.flops = classifier.step_flops()
        if grid_size is None:
            grid_size = tiling_grid((self.height, self.width), self.patch_size)
        self.actions = ActionCodec(action_type, grid_size, stop_action)
        self.stop_action = stop_action
        self.flops_cost = float(flops_cost)
        self.step_cost = self.flops_cost * self.flops.focus / 1e6  # reward price of a focus step
        self.action_space = self.actions.space
        self.observation_space = _observation_space(classifier, max_focus_steps, self.as_dict)
        # the per-image shapes glance() and focus() promise, read once (state_dim may be computed)
        self._output_rows = {"logits": (classifier.num_classes,), "state": (classifier.state_dim,)}
        if self.keep_features:
            self._output_rows["features"] = tuple(classifier.feature_shape)

        n = num_envs
        self.images = torch.zeros(n, channels, self.height, self.width, device=self.device)
        self.state = torch.zeros(n, classifier.state_dim, device=self.device)
        self.labels = torch.zeros(n, dtype=torch.long, device=self.device)
        self.hidden = np.zeros((n, classifier.state_dim), dtype=np.float32)
        self.feature_maps = (
            np.zeros((n, *classifier.feature_shape), dtype=np.float32)
            if self.keep_features
            else None
        )
        self.probs = np.zeros((n, classifier.num_classes), dtype=np.float32) if keep_probs else None
        self.label = np.zeros(n, dtype=np.int64)
        self.log_prob = np.zeros(n, dtype=np.float64)  # log p_t(y)
        self.log_confidence = np.zeros(n, dtype=np.float64)
        self.prediction = np.zeros(n, dtype=np.int64)
        self.step_count = np.full(n, -1, dtype=np.int64)  # -1: never reset
        self.locations = np.zeros((n, max_focus_steps, 2), dtype=np.float32)
        self.patch_box = np.zeros((n, 4), dtype=np.int64)
        self.image_index = np.zeros(n, dtype=np.int64)
        self.stopped = np.zeros(n, dtype=bool)  # ended by a stop action
        self.object_boxes: np.ndarray | None = None  # (n, K, 4), where the source records them

    @classmethod
    def from_config(
        cls,
        config: EnvConfig,
        num_envs: int,
        keep_probs: bool = False,
        freeze_classifier: bool = True,
    ) -> GlanceFocusEngine:
        """Deprecated: :func:`gf_env.build.build_engine` (same arguments) loads the data and the
        classifier and builds the engine."""
        warnings.warn(
            "GlanceFocusEngine.from_config is deprecated: use gf_env.build.build_engine(config, "
            "num_envs, keep_probs, freeze_classifier)",
            DeprecationWarning,
            stacklevel=2,
        )
        from gf_env.build import build_engine  # gf_env.build imports this module

        return build_engine(config, num_envs, keep_probs, freeze_classifier)

    # -- what the faces call ----------------------------------------------------------------

    def reset(
        self,
        rngs: Sequence[np.random.Generator],
        envs: np.ndarray | None = None,
        indices: Sequence[int | None] | None = None,
    ) -> ResetResult:
        """Draw new images for ``envs`` (default all) and glance at them; returns every
        observation and the infos of ``envs``.

        Env ``i`` draws from ``rngs[i]``: first the image index (unless ``indices`` gives it), then
        whatever the source draws to render it.
        """
        self._glance(rngs, envs, indices)
        return ResetResult(self.observation(_ALL), self.info(_ALL if envs is None else envs), envs)

    def step(
        self,
        actions: Any,
        batch: int | None,
        rngs: Sequence[np.random.Generator] | None = None,
        reset_first: np.ndarray | None = None,
        reset_ended: bool = False,
    ) -> StepResult:
        """Decode ``actions`` and focus every episode; returns everything the faces return.

        Args:
            actions: one action (``batch=None``, a single env) or ``batch`` actions, as the
                action space describes (:meth:`~gf_env.actions.ActionCodec.decode_step`).
            batch: the number of actions (``num_envs``), ``None`` for one unbatched action.
            rngs: each episode's generator, for the resets below.
            reset_first: ``(num_envs,)`` bool, episodes reset (with reward 0) instead of
                stepped: Gymnasium's ``NEXT_STEP`` autoreset of the episodes that ended before.
            reset_ended: reset the episodes that end in this step within it, returning their last
                observation and info in ``final_observation``/``final_info`` (``SAME_STEP``).

        Raises:
            ValueError: an action is invalid (nothing has changed then).
            EpisodeStateError: an episode stepped has not been reset or has ended.
        """
        locations, stop = self.actions.decode_step(actions, batch)
        if reset_first is not None and reset_first.any():
            rewards = np.zeros(self.num_envs, dtype=np.float64)
            resetting = np.flatnonzero(reset_first)
            stepping = np.flatnonzero(~reset_first)
            self._glance(rngs, resetting)
            if len(stepping):
                rewards[stepping] = self._focus(
                    locations[stepping], stepping, None if stop is None else stop[stepping]
                )
        else:
            rewards = self._focus(locations, None, stop)
        terminated = self.terminated()
        if not (reset_ended and terminated.any()):
            ended = np.zeros(0, dtype=np.int64) if reset_ended else None
            return StepResult(self.observation(_ALL), rewards, terminated, self.info(_ALL), ended)
        ended = np.flatnonzero(terminated)
        final_observation, final_info = self.observation(ended), self.info(ended)
        self._glance(rngs, ended)
        return StepResult(
            self.observation(_ALL),
            rewards,
            terminated,
            self.info(_ALL),
            ended,
            final_observation,
            final_info,
        )

    # -- transitions ------------------------------------------------------------------------

    def _glance(
        self,
        rngs: Sequence[np.random.Generator],
        envs: np.ndarray | None = None,
        indices: Sequence[int | None] | None = None,
    ) -> None:
        """Draw new images for ``envs`` (default all) and glance at them."""
        single_threaded_if_forked()  # an engine built before a fork and reset after it
        ids = np.arange(self.num_envs) if envs is None else envs
        count = len(self.source)
        chosen = []
        for j, i in enumerate(ids):
            index = None if indices is None else indices[j]
            if index is None:
                index = int(rngs[i].integers(count))
            elif (
                isinstance(index, (bool, np.bool_))
                or not isinstance(index, (int, np.integer))
                or not 0 <= index < count
            ):
                raise IndexError(
                    f"image index {index!r} out of range: pass an integer in [0, {count})"
                )
            chosen.append(int(index))
        batch = self.source.sample_batch(chosen, [rngs[i] for i in ids])
        self.image_index[ids] = chosen if batch.indices is None else batch.indices
        images = torch.from_numpy(batch.images)
        if images.device != self.device:
            images = images.to(self.device, non_blocking=True)
        sel = self._select(envs)
        if isinstance(sel, slice):  # every episode, in order: a fresh tensor, no copy needed
            self.images = images
        else:
            self.images[sel] = images
        self.label[ids] = batch.labels
        self._record_boxes(ids, batch.boxes)
        self.labels[sel] = torch.from_numpy(batch.labels).to(self.device, non_blocking=True)
        with torch.inference_mode():
            out = self.classifier.glance(images)
        self._record(sel, ids, out, "glance")
        self.step_count[ids] = 0
        self.stopped[ids] = False
        self.locations[ids] = 0.0
        self.patch_box[ids] = (0, 0, self.height, self.width)

    def _focus(
        self,
        locations: np.ndarray,
        envs: np.ndarray | None = None,
        stop: np.ndarray | None = None,
    ) -> np.ndarray:
        """Focus ``envs`` (default all) at ``locations`` ``(k, 2)`` in [0, 1]; returns the rewards.

        ``stop`` (``(k,)`` bool, with ``stop_action``): those episodes end here instead, without a
        focus step; their reward is 0 (``final_correct``: whether the prediction is right).
        """
        ids = np.arange(self.num_envs) if envs is None else envs
        steps = self.step_count[ids]
        if (steps < 0).any():
            raise EpisodeStateError(
                f"step() called before reset(){self._which(ids, steps < 0)}; call reset() first"
            )
        ended = self.terminated(ids)
        if ended.any():
            just = (
                ""
                if self.num_envs == 1
                else " (reset(options={'reset_mask': mask}) for just those)"
            )
            how = "a stop action or " if self.stop_action else ""
            raise EpisodeStateError(
                f"step() called after the episode ended ({how}{self.max_focus_steps} focus steps "
                f"done){self._which(ids, ended)}; call reset() to start a new episode{just}"
            )
        if stop is not None and stop.any():
            return self._stop(locations, ids, stop)
        sel = self._select(envs)
        corners = patch_corners(locations, (self.height, self.width), self.patch_size)
        # non_blocking: a blocking copy to a GPU waits for it; this one (from pageable memory)
        # is staged before the call returns, so ``corners`` may change afterwards
        device_corners = torch.from_numpy(corners).to(self.device, non_blocking=True)
        with torch.inference_mode():
            patches = crop_patches(self.images[sel], device_corners, self.patch_size)
            out = self.classifier.focus(patches, self.state[sel])
        previous = self.log_prob[ids]
        self._record(sel, ids, out, "focus")
        self.locations[ids, steps] = locations
        self.patch_box[ids, 0:2] = corners
        self.patch_box[ids, 2:4] = self.patch_size
        self.step_count[ids] = steps + 1
        rewards = self._reward(previous, ids)
        return rewards - self.step_cost if self.step_cost else rewards

    def _stop(self, locations: np.ndarray, ids: np.ndarray, stop: np.ndarray) -> np.ndarray:
        """End the episodes ``ids[stop]`` and focus the others; returns the rewards of ``ids``."""
        rewards = np.zeros(len(ids), dtype=np.float64)
        halt = ids[stop]
        self.stopped[halt] = True
        if self.reward == "final_correct":
            rewards[stop] = self.prediction[halt] == self.label[halt]
        if not stop.all():
            rewards[~stop] = self._focus(locations[~stop], ids[~stop])
        return rewards

    def _record_boxes(self, ids: np.ndarray, boxes: np.ndarray | None) -> None:
        """Keep the object boxes of a reset batch (``(k, 4)`` or ``(k, K, 4)``), if it has any."""
        if boxes is None:
            self.object_boxes = None
            return
        boxes = np.asarray(boxes, dtype=np.int64).reshape(len(ids), -1, 4)
        if self.object_boxes is None or self.object_boxes.shape[1] != boxes.shape[1]:
            self.object_boxes = np.zeros((self.num_envs, boxes.shape[1], 4), dtype=np.int64)
        self.object_boxes[ids] = boxes

    def boxes_of_objects(self) -> np.ndarray:
        """The object boxes ``(num_envs, K, 4)`` (top, left, height, width) of the current
        images, as the source recorded them (every digit of an MNIST canvas).

        This is privileged information, not an observation: it serves reference policies (the
        ``locator``), never a policy under evaluation.

        Raises:
            EpisodeStateError: before the first reset.
            ValueError: the source records no boxes (photos: image folders, ImageNet).
        """
        if (self.step_count < 0).any():
            raise EpisodeStateError("no images yet: call reset() before asking for object boxes")
        if self.object_boxes is None:
            raise ValueError(
                f"the env's images ({type(self.source).__name__}) come without object boxes: "
                "only sources that draw their objects (the MNIST canvases) know where they are"
            )
        return self.object_boxes.copy()

    def true_class_probs_at(self, locations: np.ndarray) -> np.ndarray:
        """What each episode's true-class probability would become after focusing at each of
        ``K`` candidate locations ``(num_envs, K, 2)``; returns ``(num_envs, K)``.

        The episodes do not change. This reads the labels: it serves oracle baselines (upper
        bounds), never a policy under evaluation.
        """
        n, k = locations.shape[:2]
        if n != self.num_envs:
            raise ValueError(
                f"locations must have shape ({self.num_envs}, K, 2), got {locations.shape}"
            )
        corners = patch_corners(
            np.ascontiguousarray(locations, dtype=np.float32).reshape(-1, 2),
            (self.height, self.width),
            self.patch_size,
        )
        owner = torch.arange(n, device=self.device).repeat_interleave(k)
        with torch.inference_mode():
            patches = crop_patches(self.images, torch.from_numpy(corners), self.patch_size, owner)
            out = self.classifier.focus(patches, self.state[owner])
            probs = out.logits.float().softmax(dim=1).gather(1, self.labels[owner].unsqueeze(1))
        return probs.view(n, k).cpu().numpy().astype(np.float64)

    def _which(self, ids: np.ndarray, bad: np.ndarray) -> str:
        if self.num_envs == 1:
            return ""
        return f" for sub-environment(s) {ids[bad].tolist()}"

    def _record(self, sel: slice | torch.Tensor, ids: np.ndarray, out, call: str) -> None:
        self._check_output(out, len(ids), call)
        with torch.inference_mode():
            log_probs = out.logits.float().log_softmax(dim=1)
            state = out.state.float()
            self.state[sel] = state
            # what the faces read goes to the host once, in one copy; picking the true class and
            # the maximum there selects the same values (and the first maximum, as torch.max) as
            # on the device
            outputs = [log_probs, state]
            if self.keep_features:
                outputs.append(out.features.float())
            if self.keep_probs:
                outputs.append(log_probs.exp())
            host_log_probs, host_state, *extra = _to_host(outputs)
        if self.keep_features:
            self.feature_maps[ids] = extra[0]
        if self.keep_probs:
            self.probs[ids] = extra[-1]
        log_prob_y = host_log_probs[np.arange(len(ids)), self.label[ids]]
        prediction = host_log_probs.argmax(axis=1)
        log_conf = host_log_probs[np.arange(len(ids)), prediction]
        finite = np.isfinite(host_state).all(axis=1) & np.isfinite(log_prob_y + log_conf)
        if not finite.all():
            raise FloatingPointError(
                f"the classifier's {call}() returned NaN or infinite logits or state for "
                f"episode(s) {ids[~finite].tolist()}; its weights hold non-finite values or it "
                "diverged: load a good checkpoint"
            )
        self.hidden[ids] = host_state
        self.log_prob[ids] = log_prob_y
        self.log_confidence[ids] = log_conf
        self.prediction[ids] = prediction

    def _check_output(self, out, count: int, call: str) -> None:
        """The classifier must return what its attributes promise; say so instead of failing
        in a tensor copy."""
        for name, row in self._output_rows.items():
            got, shape = tuple(getattr(out, name).shape), (count, *row)
            if got != shape:
                raise ValueError(
                    f"the classifier's {call}() returned {name} of shape {got} for {count} "
                    f"images, expected {shape}; its num_classes, state_dim and feature_shape "
                    "attributes must describe what glance() and focus() return"
                )

    def _reward(self, previous: np.ndarray, ids: np.ndarray) -> np.ndarray:
        current = self.log_prob[ids]
        if self.reward == "confidence_gain":
            return np.exp(current) - np.exp(previous)
        if self.reward == "log_prob_gain":
            return current - previous
        done = self.terminated(ids)
        return (done & (self.prediction[ids] == self.label[ids])).astype(np.float64)

    def _select(self, envs: np.ndarray | None) -> slice | torch.Tensor:
        """What indexes the device tensors for ``envs``: ``slice(None)`` for all episodes in
        order (``None``, or every index as the vector env's autoreset passes it), which writes
        without an index copy."""
        if envs is None or (
            len(envs) == self.num_envs and np.array_equal(envs, np.arange(self.num_envs))
        ):
            return slice(None)
        index = torch.from_numpy(np.asarray(envs, dtype=np.int64))
        return index.to(self.device, non_blocking=True)  # staged at once, as in step()

    # -- views for the faces ----------------------------------------------------------------

    def terminated(self, ids: np.ndarray | None = None) -> np.ndarray:
        """Whether the episodes of ``ids`` (default all) have taken every focus step or stopped."""
        steps = self.step_count if ids is None else self.step_count[ids]
        done = steps >= self.max_focus_steps
        return done | (self.stopped if ids is None else self.stopped[ids])

    def action_masks(self) -> np.ndarray:
        """Allowed grid actions ``(num_envs, G * G [+ 1])`` bool: a cell already focused on in
        the episode is masked; the stop action stays allowed. Where nothing would be left (an
        ended episode, or every cell visited) every action is allowed."""
        if self.actions.action_type != "grid":
            raise ValueError(
                "action masks exist for grid actions only; build the env with action_type='grid' "
                "(a continuous Box action has no cells to mask)"
            )
        n, cells = self.num_envs, self.actions.grid_size**2
        masks = np.ones((n, int(self.actions.space.n)), dtype=bool)
        taken = np.arange(self.max_focus_steps)[None, :] < self.step_count[:, None]
        rows = np.repeat(np.arange(n), self.max_focus_steps)[taken.reshape(-1)]
        masks[rows, self.actions.cells(self.locations)[taken]] = False
        empty = ~masks[:, :cells].any(axis=1) & (self.actions.stop_cell is None)
        masks[empty | self.terminated()] = True
        return masks

    def observation(self, ids: np.ndarray | slice) -> np.ndarray | dict[str, np.ndarray]:
        """Observations of ``ids``: the hidden state, or the dict of hidden state, feature map,
        step index and locations so far."""
        hidden = self.hidden[ids].copy()
        if not self.as_dict:
            return hidden
        return {
            "hidden": hidden,
            "features": self.feature_maps[ids].copy(),
            "step": self.step_count[ids].copy(),
            "locations": self.locations[ids].copy(),
        }

    def info(self, ids: np.ndarray | slice) -> dict[str, np.ndarray]:
        """Per-episode diagnostics of ``ids`` as arrays."""
        steps = self.step_count[ids]
        return {
            "label": self.label[ids].copy(),
            "prediction": self.prediction[ids].copy(),
            "confidence": np.exp(self.log_confidence[ids]),
            "true_class_prob": np.exp(self.log_prob[ids]),
            "step": steps.copy(),
            "patch_box": self.patch_box[ids].copy(),
            "flops": self.flops.cumulative(steps),
            "image_index": self.image_index[ids].copy(),
            **({"stopped": self.stopped[ids].copy()} if self.stop_action else {}),
        }


_ALL = slice(None)  # every episode, in order, indexed without a copy


def _to_host(tensors: list[torch.Tensor]) -> list[np.ndarray]:
    """Float32 ``tensors`` with one row per episode as NumPy arrays: from an accelerator in one
    copy (each copy to the host waits for the device to finish), on the CPU as views (what
    ``.cpu().numpy()`` gives there)."""
    if tensors[0].device.type == "cpu":
        return [tensor.numpy() for tensor in tensors]
    rows = len(tensors[0])
    widths = [int(np.prod(tensor.shape[1:], dtype=np.int64)) for tensor in tensors]
    flat = torch.cat([t.reshape(rows, w) for t, w in zip(tensors, widths, strict=True)], dim=1)
    parts = np.split(flat.cpu().numpy(), np.cumsum(widths)[:-1], axis=1)
    return [part.reshape(t.shape) for part, t in zip(parts, tensors, strict=True)]


def _check_compatible(source: ImageSource, classifier: GlanceFocusClassifier) -> None:
    channels, height, width = source.image_shape
    if classifier.num_classes != source.num_classes:
        raise ValueError(
            f"the classifier predicts {classifier.num_classes} classes but the data has "
            f"{source.num_classes}; use a classifier trained on this data"
        )
    if classifier.in_chans != channels:
        raise ValueError(
            f"the classifier takes {classifier.in_chans}-channel images but the data has {channels} channels"
        )
    if classifier.patch_size > min(height, width):
        raise ValueError(
            f"patch_size {classifier.patch_size} is larger than the {height}x{width} images; "
            "use a classifier with a smaller patch or larger images"
        )


def _observation_space(
    classifier: GlanceFocusClassifier, max_focus_steps: int, as_dict: bool
) -> spaces.Space:
    """The single-environment observation space (bounded by the classifier's ``state_range``)."""
    low, high = getattr(classifier, "state_range", (-np.inf, np.inf))
    hidden = spaces.Box(low, high, shape=(classifier.state_dim,), dtype=np.float32)
    if not as_dict:
        return hidden
    return spaces.Dict(
        {
            "hidden": hidden,
            "features": spaces.Box(
                -np.inf, np.inf, shape=classifier.feature_shape, dtype=np.float32
            ),
            "step": spaces.Discrete(max_focus_steps + 1),
            "locations": spaces.Box(0.0, 1.0, shape=(max_focus_steps, 2), dtype=np.float32),
        }
    )
