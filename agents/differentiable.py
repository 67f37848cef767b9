"""AdaFocusV2's differentiable patch selection (Wang et al., CVPR 2022), written anew as an agent.

GFNet trains its patch policy with PPO because cropping at an integer pixel has no gradient.
AdaFocusV2 crops by interpolation instead, so the loss of the frozen classifier is differentiable
in the patch location and the location network trains by back-propagation (REFERENCE.md, "After
GFNet"). Here, on a batch of the env's training images:

- the glance runs on the whole images; the location network (GFNet's actor of
  :class:`agents.gfnet_policy.GFNetActorCritic`: a state encoder over the previous step's
  detached feature map, a GRU and a sigmoid, so the location ``a`` is in [0, 1]^2) picks each
  focus step's location from the feature map of the step before, as an RL policy does;
- :func:`soft_crop` cuts the ``P x P`` patch whose top-left corner is at the continuous pixel
  position ``a * (H - P)`` by bilinear interpolation (the env cuts at ``floor(a * (H - P))``;
  at an integer position the two patches are the same numbers);
- the frozen classifier's ``focus`` runs on it, and the loss is the mean over the focus steps of
  the cross-entropy of each step's logits with the label; Adam steps the location network only
  (the classifier's parameters stay without gradients, its input gets them).

The trained policy acts in the env like every agent, through ``predict`` on the dict
observation, and the env crops at the integer corner. GFNet's critic is part of the module (the
same network and checkpoint layout as ``gfnet``, so the two differ only in how they learn) and
receives no gradient here.

WHITE-BOX: the agent reads the env's documented white-box attributes ``classifier`` and
``image_source`` (see :class:`gf_env.GlanceFocusEnv`) and learns from the classifier's gradients,
which no RL policy sees; the agent and its policy say so (``white_box = True``). A classifier
whose ``focus`` is not differentiable in its input (it detaches, runs under ``no_grad``, or is not
torch) is refused by name before training.

Training cost: each learning-curve point it records carries ``train_s`` (seconds of training so
far, without evaluations) and ``classifier_images`` (images through ``glance`` and ``focus``
forward so far; every focus image is also back-propagated once), so what RL buys can be set
against the same budget of classifier calls. The budget ``run.timesteps`` counts focus steps of
images, as an env step does.

    glance-focus benchmark --agents differentiable gfnet ppo
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from gymnasium.vector import AutoresetMode

import gf_env
from agents.env_api import env_attr
from agents.gfnet import Encoder, make_actor_critic
from agents.gfnet_policy import GFNetActorCritic, GFNetPolicy, load_gfnet_policy
from agents.plugins import check_choice, env_spec, with_hyperparams
from classifiers.checkpoint import atomic_write
from classifiers.interface import GlanceFocusClassifier
from classifiers.patches import crop_patches
from classifiers.utils import resolve_device

gym.register_envs(gf_env)

POLICY_FILE = "differentiable_policy.pth"
NEEDED_ENV_KWARGS = {"observation": "dict", "action_type": "continuous", "stop_action": False}
"""What the policy acts in: it reads feature maps and picks continuous locations every step."""


@dataclass(frozen=True)
class DifferentiableArgs:
    """The hyperparameters of the differentiable agent."""

    learning_rate: float = 1e-3
    """Adam's learning rate"""
    batch_size: int | None = None
    """images per gradient step (None: the run's ``num_envs``)"""
    encoder: Encoder = "conv"
    """the location network's state encoder, as GFNet's ("conv" or "mlp")"""
    hidden_size: int = 256
    """GRU size of the location network"""

    def __post_init__(self) -> None:
        check_choice("encoder", self.encoder, Encoder)
        if self.learning_rate <= 0 or self.hidden_size < 1:
            raise ValueError(
                f"learning_rate must be > 0 and hidden_size >= 1, got {self.learning_rate} and "
                f"{self.hidden_size}"
            )
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1 or None, got {self.batch_size}")


def soft_crop(images: torch.Tensor, corners: torch.Tensor, patch_size: int) -> torch.Tensor:
    """``P x P`` patches of ``images`` ``(N, C, H, W)`` whose top-left corners are at continuous
    pixel positions ``corners`` ``(N, 2)`` (row, column), sampled bilinearly, differentiable in
    ``corners``.

    The patch is the blend of the four integer crops around the corner, weighted by its
    fractional part, so at an integer corner it is exactly :func:`classifiers.patches.crop_patches`'s
    patch. A corner may go up to ``H - P`` (``W - P``), the env's largest; the image is extended
    by one replicated row and column so that the crop below or right of it exists.
    """
    padded = F.pad(images, (0, 1, 0, 1), mode="replicate")
    base = corners.detach().floor()
    weight = (corners - base).to(images.dtype)  # the fractional part; its gradient is 1
    windows = crop_patches(padded, base.long(), patch_size + 1)  # (N, C, P + 1, P + 1)
    down = weight[:, 0].view(-1, 1, 1, 1)
    right = weight[:, 1].view(-1, 1, 1, 1)
    rows = (1 - down) * windows[:, :, :-1] + down * windows[:, :, 1:]
    return (1 - right) * rows[..., :-1] + right * rows[..., 1:]


def focus_loss(
    module: GFNetActorCritic,
    classifier: GlanceFocusClassifier,
    images: torch.Tensor,
    labels: torch.Tensor,
    steps: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean over ``steps`` focus steps of the cross-entropy of the classifier's logits, with
    the patches cut by :func:`soft_crop` where ``module`` puts them; also the locations
    ``(steps, N, 2)``. Differentiable in the module's parameters."""
    patch_size = classifier.patch_size
    span = torch.tensor(images.shape[-2:], device=images.device) - patch_size  # (H - P, W - P)
    with torch.no_grad():  # the glance does not depend on the locations
        out = classifier.glance(images)
    state, features, hidden = out.state, out.features, None
    losses, locations = [], []
    for _ in range(steps):
        location, _, hidden = module(features.detach().float(), hidden)
        patches = soft_crop(images, location * span, patch_size)
        out = classifier.focus(patches, state)
        losses.append(F.cross_entropy(out.logits.float(), labels))
        locations.append(location)
        state, features = out.state, out.features
    return torch.stack(losses).mean(), torch.stack(locations)


def check_differentiable(
    classifier: GlanceFocusClassifier, images: torch.Tensor, labels: torch.Tensor, name: str
) -> None:
    """Refuse a classifier whose focus loss has no finite, non-zero gradient in its input
    patches, on a few ``images``.

    Raises:
        ValueError: naming the classifier ``name`` and what went wrong.
    """
    advice = (
        "the differentiable agent needs a torch classifier whose focus() is differentiable in "
        "its input patches (no detach(), no torch.no_grad()/inference_mode() inside, no NumPy); "
        "train an RL agent (gfnet, ppo) with this classifier instead"
    )
    patch_size = classifier.patch_size
    corners = torch.zeros(len(images), 2, device=images.device)
    patches = crop_patches(images, corners.long(), patch_size).clone().requires_grad_(True)
    try:
        with torch.no_grad():
            state = classifier.glance(images).state
        logits = classifier.focus(patches, state).logits
        loss = F.cross_entropy(logits.float(), labels)
        if not loss.requires_grad:
            raise ValueError(
                f"the classifier {name}'s focus() returned logits without a gradient path to "
                f"its input patches; {advice}"
            )
        (gradient,) = torch.autograd.grad(loss, patches)
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"the classifier {name}'s focus() failed under autograd "
            f"({type(error).__name__}: {error}); {advice}"
        ) from error
    if not torch.isfinite(gradient).all():
        raise ValueError(
            f"the classifier {name}'s focus() gives a NaN or infinite gradient in its input "
            f"patches; {advice}"
        )
    if not gradient.abs().sum() > 0:
        raise ValueError(
            f"the classifier {name}'s focus() gives a zero gradient in its input patches (its "
            f"logits do not depend on them); {advice}"
        )


class DifferentiablePolicy(GFNetPolicy):
    """The trained location network behind SB3's ``predict`` (that of
    :class:`~agents.gfnet_policy.GFNetPolicy`: the mean location from the previous step's
    feature map). ``white_box``: it was trained with the classifier's gradients."""

    name = "differentiable"
    white_box = True


class DifferentiableAgent:
    """The differentiable (AdaFocusV2-style) agent under the protocol of :mod:`agents.protocol`.

    Args:
        args: the hyperparameters (a run's ``hyperparams`` override them by name).

    After :meth:`train`: ``learner_seconds`` (the forward and backward passes and the Adam
    steps) and ``training_cost`` (``train_s``, ``classifier_images``: images through the
    classifier's ``glance`` and ``focus``).
    """

    version = "1"
    white_box = True
    resources = {"num_cpus": 1, "num_gpus": 0}  # noqa: RUF012  (read-only)

    def __init__(self, args: DifferentiableArgs | None = None):
        self.args = args or DifferentiableArgs()
        self.learner_seconds: float | None = None
        self.training_cost: dict[str, Any] | None = None

    @property
    def hyperparams(self) -> dict[str, Any]:
        return asdict(self.args)

    def env_kwargs_for(self, run) -> dict[str, Any]:
        """The run's env arguments with the dict observation (the policy reads feature maps)."""
        kwargs = dict(run.env_kwargs)
        for key, value in NEEDED_ENV_KWARGS.items():
            if kwargs.get(key, value) != value:
                raise ValueError(
                    f"the differentiable agent needs {key}={value!r} (its policy picks a "
                    f"continuous location from the feature map at every focus step), got "
                    f"{key}={kwargs[key]!r}; drop it from the env arguments"
                )
        return {**kwargs, "observation": "dict"}

    def train(self, run) -> DifferentiablePolicy:
        """Train on ``run.env_id``'s training images for ``run.timesteps`` focus steps: batches
        of ``batch_size`` images, one Adam step on :func:`focus_loss` each."""
        args = with_hyperparams(self.args, run.hyperparams, "differentiable")
        started, self.learner_seconds, eval_s = time.perf_counter(), 0.0, 0.0
        envs = gym.make_vec(
            run.env_id,
            num_envs=1,
            autoreset_mode=AutoresetMode.DISABLED,
            **{"device": run.device, **self.env_kwargs_for(run)},  # as Run.evaluate makes it
        )
        classifier = env_attr(envs, "classifier")
        source = env_attr(envs, "image_source")
        steps = env_attr(envs, "max_focus_steps")
        feature_shape = env_attr(envs, "feature_shape")
        envs.close()
        device = torch.device(classifier.device)
        # seeding: torch draws the initial weights, the NumPy generator the training images
        torch.manual_seed(run.seed)
        rng = np.random.default_rng(run.seed)
        module = make_actor_critic(feature_shape, args).to(device)
        optimizer = torch.optim.Adam(module.parameters(), lr=args.learning_rate)
        policy = DifferentiablePolicy(module, run.seed, device)
        batch_size = args.batch_size or run.num_envs
        per_batch = batch_size * steps  # focus steps (env steps) per gradient step

        images, labels = _batch(source, rng, batch_size, device)
        check = min(2, batch_size)  # images of the start-up check
        name = _classifier_name(run, classifier)
        check_differentiable(classifier, images[:check], labels[:check], name)
        calls = {"glance": check, "focus": check}
        for iteration in range(math.ceil(run.timesteps / per_batch)):
            if iteration:
                images, labels = _batch(source, rng, batch_size, device)
            learning = time.perf_counter()
            loss, _ = focus_loss(module, classifier, images, labels, steps)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            self.learner_seconds += time.perf_counter() - learning
            calls["glance"] += batch_size
            calls["focus"] += per_batch
            self.training_cost = {
                "train_s": time.perf_counter() - started - eval_s,
                "classifier_images": dict(calls),
            }
            point = run.maybe_evaluate(policy, (iteration + 1) * per_batch)
            if point is not None:
                point.update(self.training_cost)
                eval_s += point["seconds"]
        done = math.ceil(run.timesteps / per_batch) * per_batch
        if not run.evaluations or run.evaluations[-1]["timesteps"] < done:
            run.evaluate(policy, done).update(self.training_cost)  # the curve ends trained
        return policy

    def save(self, policy: DifferentiablePolicy, run_dir: Path) -> None:
        """``differentiable_policy.pth``: ``{"policy": state_dict}``, GFNet's checkpoint layout
        (``glance-focus evaluate --agent gfnet --model FILE`` reads it too)."""
        state = {"policy": {k: v.cpu() for k, v in policy.module.state_dict().items()}}
        atomic_write(Path(run_dir) / POLICY_FILE, lambda handle: torch.save(state, handle))

    def load(self, run_dir: Path, run) -> DifferentiablePolicy:
        """The policy :meth:`save` wrote."""
        loaded = load_gfnet_policy(Path(run_dir) / POLICY_FILE, device=resolve_device(run.device))
        return DifferentiablePolicy(loaded.module, run.seed, loaded.device)


def _batch(
    source, rng: np.random.Generator, size: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """``size`` training images drawn uniformly (with their canvases' draws) and their labels."""
    indices = rng.integers(len(source), size=size).tolist()
    batch = source.sample_batch(indices, rng.spawn(size))
    images = torch.from_numpy(np.asarray(batch.images, dtype=np.float32)).to(device)
    return images, torch.from_numpy(np.asarray(batch.labels, dtype=np.int64)).to(device)


def _classifier_name(run, classifier: GlanceFocusClassifier) -> str:
    """``'gf-mnist-translated60' (GFModel)`` for a registry name, else the object's class."""
    name = {**env_spec(run.env_id).kwargs, **run.env_kwargs}.get("classifier")
    kind = type(classifier).__name__
    return f"{name!r} ({kind})" if isinstance(name, str) else kind


def make_differentiable_agent() -> DifferentiableAgent:
    """``differentiable``: the AdaFocusV2-style agent with its default settings."""
    return DifferentiableAgent()
