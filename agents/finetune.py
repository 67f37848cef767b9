"""Stage 3: fine-tune the classifier on the locations a learned policy picks.

GFNet's third stage: the policy is fixed and samples its actions; the encoders and the head are
trained on the patches it chooses, from the env's weights. The locations come from
:func:`gf_env.rollout.rollout_locations`, i.e. from the environment's own observations of the
classifier being trained, so the policy sees what it saw during its training. The training loop is
:class:`classifiers.training.Trainer`, composed with the policy as its ``locate``; the classifier,
its weights and its data are the env's: the id's arguments with ``env_kwargs`` on top
(``classifier=`` a registry name or an ``nn.Module`` implementing the classifier interface,
``checkpoint=``, ``data=``, ``mnist_root=``, ``max_focus_steps=``).

Each evaluation (before training as epoch 0, then every ``eval_every`` epochs) measures the test
accuracy per step with the policy's mean locations (``policy``) and with uniformly random ones
(``random``) on the same canvases.

The exported weights plug into the environments with ``checkpoint=``::

    glance-focus finetune --env GlanceFocus-ClutteredMNIST100-v0 --agent ppo \\
        --model runs/agents/GlanceFocus-ClutteredMNIST100-v0/ppo-seed0/model.zip \\
        --export runs/stage3/classifier.pt
    gym.make("GlanceFocus-ClutteredMNIST100-v0", checkpoint="runs/stage3/classifier.pt")
"""

from __future__ import annotations

import copy
import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import torch
import tyro
from torch import nn

from agents.evaluation import Policy
from agents.plugins import PluginOptions, check_choice, env_spec
from agents.policies import GFNET, load_policy
from agents.train import Algo
from classifiers.checkpoint import load_file, load_into
from classifiers.data import DigitAugment, ImageSource, mnist_canvases
from classifiers.registry import create_classifier, get_entry
from classifiers.training import (
    EVAL_SEED,
    Locate,
    RunSettings,
    SourceBatches,
    StaleRunError,
    Trainer,
    eval_batches,
    evaluate_steps,
    random_locate,
    settings_fingerprint,
)
from classifiers.training.distributed import start_run
from classifiers.training.fingerprint import array_sha256, file_sha256, source_fingerprint
from gf_env.rollout import rollout_locations

PLAIN = (str, int, float, bool, type(None))
StagedPolicy = Literal[Algo, "gfnet"]
"""Policies stage 3 takes: a built-in algorithm's saved model, or a GFNet policy file."""
assert GFNET in get_args(StagedPolicy)


@dataclass
class FinetuneConfig(RunSettings, PluginOptions):
    """Stage 3: fine-tune the env's classifier on the locations a trained policy picks; every field
    is a command-line flag. The weights are exported to ``<out>/classifier.pt`` unless ``export``
    says otherwise. A classifier object in the env's arguments (an ``nn.Module`` implementing the
    interface) is copied, its parameters made trainable again (an env freezes the ones it is
    given), and the copy trained; the caller's object stays as it was."""

    env: str = "GlanceFocus-ClutteredMNIST100-v0"
    """the registered id the policy was trained on ("module:Id" imports module first)"""
    agent: StagedPolicy = "ppo"
    """algorithm of the policy: a built-in one, or gfnet (a GFNet policy file: a release, or what
    the gfnet, gfnet-ppo and differentiable agents save)"""
    model: str = ""
    """the policy's saved model.zip (gfnet: its .pth file)"""
    deterministic: bool = False
    """use the policy's mean location; GFNet samples (the default)"""
    init: str | None = None
    """start from these weights (a checkpoint path) instead of the env's"""
    augment: bool = True
    """random affine distortion of training digits (canvas presets)"""
    epochs: int = 5
    lr: float = 1e-4

    def __post_init__(self) -> None:
        PluginOptions.__post_init__(self)  # import --gym-packages before reading the env
        super().__post_init__()
        check_choice("agent", self.agent, StagedPolicy)
        if not self.model or not Path(self.model).is_file():
            raise FileNotFoundError(
                f"model {self.model!r} is not a file: pass --model with the policy's model.zip "
                "(written by glance-focus train), or its .pth file for --agent gfnet"
            )
        if self.init == "pretrained":  # the old spelling of "the env's weights"
            self.init = None
        if "classifier" not in env_arguments(self):
            raise ValueError(
                f"env {self.env!r} names no classifier; pass env_kwargs={{'classifier': ...}}"
            )
        if self.out is None:
            self.out = str(Path("runs") / "stage3" / self.env / Path(self.model).parent.name)
        if self.export is None:
            self.export = str(Path(self.out) / "classifier.pt")


def env_arguments(config: FinetuneConfig) -> dict[str, Any]:
    """The env's arguments: the registered id's, with ``config.env_kwargs`` on top."""
    return {**env_spec(config.env).kwargs, **config.env_kwargs}


def _classifier(
    config: FinetuneConfig, kwargs: dict[str, Any], device: torch.device
) -> tuple[nn.Module, str, dict[str, Any]]:
    """The classifier to fine-tune (a copy, on ``device``), the name to save it as, and what
    identifies its starting weights."""
    classifier = kwargs["classifier"]
    if isinstance(classifier, str):
        checkpoint = config.init or kwargs.get("checkpoint")
        model = create_classifier(
            classifier, pretrained=checkpoint is None, checkpoint=checkpoint, device=device
        )
        weights = checkpoint if checkpoint is not None else get_entry(classifier).weights_path
        return model, classifier, {"init_sha256": file_sha256(weights) if weights else None}
    if not isinstance(classifier, nn.Module):
        raise TypeError(
            f"stage 3 trains nn.Module classifiers; the env's classifier is a "
            f"{type(classifier).__name__}: implement the GlanceFocusClassifier interface on an nn.Module"
        )
    model = copy.deepcopy(classifier).to(device).requires_grad_(True)  # an env may have frozen it
    if config.init is not None:
        load_into(model, load_file(config.init, map_location=device), source=config.init)
    tensors = [v.detach().cpu().numpy() for v in model.state_dict().values()]
    return model, type(model).__name__, {"init_sha256": array_sha256(*tensors)}


def _data(config: FinetuneConfig, kwargs: dict[str, Any]) -> tuple[ImageSource, ImageSource, str]:
    """Training and test images (the env's canvas preset, or its ``ImageSource`` for both) and the
    data's name."""
    data = kwargs.get("data", "cluttered100")
    if not isinstance(data, str):
        return data, data, type(data).__name__
    root = kwargs.get("mnist_root")
    augment = DigitAugment() if config.augment else None
    train = mnist_canvases(data, "train", root, augment, limit=config.max_images)
    return train, mnist_canvases(data, "test", root, limit=config.eval_images), data


def _plain(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with objects (a classifier, an image source) replaced by their type's name."""
    return {k: v if isinstance(v, PLAIN) else type(v).__name__ for k, v in kwargs.items()}


def policy_locate(
    model: nn.Module,
    policy: Policy,
    max_focus_steps: int,
    deterministic: bool,
    policy_kwargs: dict[str, Any],
) -> Locate:
    """A :data:`~classifiers.training.Locate` that runs the env's episode logic on each batch with
    ``policy`` choosing every focus step (its mean action when ``deterministic``). Each batch is
    a batch of new episodes: ``episode_start`` is true at its first step, and a recurrent
    policy's ``state`` is carried from step to step (RecurrentPPO's LSTM, GFNet's GRU).

    Args:
        model: the classifier being trained (the observations come from it).
        policy: a learned policy (SB3's ``predict``: a saved algorithm, or a GFNet policy).
        max_focus_steps: focus steps per episode.
        deterministic: use the policy's mean action.
        policy_kwargs: the env arguments the policy needs (from :func:`agents.load_policy`):
            its ``observation``, ``action_type`` and ``grid_size`` shape the rollout.
    """
    keys = ("observation", "action_type", "grid_size")
    rollout_kwargs = {k: policy_kwargs[k] for k in keys if k in policy_kwargs}

    def locate(images, labels, boxes, rng):
        state, starts = None, np.ones(len(images), dtype=bool)

        def act(observation):
            nonlocal state, starts
            actions, state = policy.predict(
                observation, state=state, episode_start=starts, deterministic=deterministic
            )
            starts = np.zeros_like(starts)
            return actions

        return rollout_locations(
            model, images, labels, act, max_focus_steps=max_focus_steps, **rollout_kwargs
        )

    return locate


def build_finetune(config: FinetuneConfig) -> Trainer:
    """The stage-3 :class:`~classifiers.training.Trainer` of ``config``: the env's classifier and
    data, the policy's (sampled) locations, and an evaluation of the policy's mean locations beside
    random ones on the same test canvases."""
    kwargs = env_arguments(config)
    distributed = start_run(config.device, config.threads, config.seed)
    model, name, weights = _classifier(config, kwargs, distributed.device)
    train_data, test_data, data_name = _data(config, kwargs)
    steps = int(kwargs.get("max_focus_steps", 4))
    batches = SourceBatches(train_data, config.batch_size, distributed.world_size)
    policy, policy_kwargs = load_policy(
        config.agent, config.model, config.env, config.seed, max_focus_steps=steps, device="cpu"
    )  # the seed: a GFNet policy's own sampling noise (SB3's follows torch's seeded generator)

    def evaluate_model() -> dict[str, list[float]]:
        locates = {
            "policy": policy_locate(model, policy, steps, True, policy_kwargs),
            "random": random_locate(model.patch_size, steps),
        }
        return evaluate_steps(model, eval_batches(test_data, 256, EVAL_SEED), locates)

    settings = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    settings["env_kwargs"] = _plain(config.env_kwargs)  # no objects in checkpoints
    return Trainer(
        model,
        batches,
        policy_locate(model, policy, steps, config.deterministic, policy_kwargs),
        config,
        name=name,
        evaluate=evaluate_model,
        distributed=distributed,
        fingerprint=settings_fingerprint(
            config,
            env_kwargs=_plain(kwargs),
            policy_sha256=file_sha256(config.model),
            train_data=source_fingerprint(train_data),
            **weights,
        ),
        meta={"stage": 3, "data": data_name, "train_config": settings},
        evaluate_first=True,
    )


def finetune(config: FinetuneConfig, restart_stale: bool = False) -> list[dict[str, Any]]:
    """Run stage 3; returns the per-epoch history (epoch 0: the weights it started from).

    Args:
        config: the settings.
        restart_stale: when ``config.resume`` finds a ``last.pt`` made with other settings or
            data, start afresh instead of raising :class:`~classifiers.training.StaleRunError`
            (for callers that reuse runs, such as the benchmark).
    """
    try:
        return build_finetune(config).fit()
    except StaleRunError as error:
        if not restart_stale:
            raise
        print(f"{error}: starting afresh", flush=True)
        return build_finetune(dataclasses.replace(config, resume=False)).fit()


def main(argv: list[str] | None = None) -> int:
    """``glance-focus finetune``: parse flags, run stage 3, print accuracies before and after."""
    return run_finetune(tyro.cli(FinetuneConfig, prog="glance-focus finetune", args=argv))


def run_finetune(config: FinetuneConfig) -> int:
    """Run stage 3 of ``config`` and print the test accuracy per step before and after."""
    history = finetune(config)
    before, after = history[0]["test_acc_policy"], history[-1]["test_acc_policy"]
    print(
        "test accuracy per step with the policy's locations: stage 1 "
        f"{' '.join(f'{a:.3f}' for a in before)} -> stage 3 {' '.join(f'{a:.3f}' for a in after)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
