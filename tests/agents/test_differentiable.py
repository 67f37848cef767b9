"""The differentiable agent: AdaFocusV2-style patch selection by gradient through a bilinear crop
into the frozen classifier (agents/differentiable.py)."""

import re

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

from agents.baselines import make_baseline
from agents.differentiable import (
    POLICY_FILE,
    DifferentiableAgent,
    DifferentiableArgs,
    DifferentiablePolicy,
    check_differentiable,
    focus_loss,
    soft_crop,
)
from agents.env_api import env_attr
from agents.gfnet import make_actor_critic
from agents.protocol import Run, resolve_agent, train_or_reuse
from agents.reporting import WHITE_BOX, reference_label
from classifiers.data import ArraySource
from classifiers.patches import crop_patches
from classifiers.testing import FakeClassifier
from gf_env.sb3 import make_sb3_vec_env
from tests.agents.test_gfnet import (
    FAKE_ENV,
    FEATURES,
    ONE_LOOK,
    assert_clear_gain,
    final_true_class_prob,
    one_look_test_env,
)
from tests.agents.test_gfnet import fake_run as gfnet_run


def fake_run(tmp_path, **overrides) -> Run:
    """test_gfnet's tiny run, with a smaller location network."""
    return gfnet_run(tmp_path, **{"hyperparams": {"hidden_size": 16}, **overrides})


def array_env(patch_size: int = 12, size: int = 44):
    """A single env over 4 fixed random images (nothing drawn at reset but the index)."""
    images = np.random.default_rng(0).random((4, 1, size, size), dtype=np.float32)
    source = ArraySource(images, np.arange(4), num_classes=10)
    classifier = FakeClassifier(patch_size=patch_size, feature_size=3)
    return gym.make(FAKE_ENV, data=source, classifier=classifier, observation="dict"), images


def test_the_env_offers_its_classifier_and_images_on_every_face():
    classifier = FakeClassifier(patch_size=28)
    single = gym.make(FAKE_ENV, classifier=classifier)
    vector = gym.make_vec(FAKE_ENV, num_envs=3, classifier=classifier)
    sb3 = make_sb3_vec_env(FAKE_ENV, num_envs=3, classifier=classifier)
    for env in (single, vector, sb3):
        assert env_attr(env, "classifier") is classifier
        assert len(env_attr(env, "image_source")) == env_attr(env, "num_images")
    assert not any(p.requires_grad for p in classifier.parameters())  # frozen by the env


def test_soft_crop_is_the_integer_crop_at_integer_corners_and_bilinear_between():
    images = torch.rand(3, 2, 20, 24)
    corners = torch.tensor([[0, 0], [5, 7], [10, 14]])  # the last: the largest corner, H - P
    exact = soft_crop(images, corners.float(), 10)
    assert exact.shape == (3, 2, 10, 10)
    assert torch.equal(exact, crop_patches(images, corners, 10))
    halfway = soft_crop(images, torch.tensor([[2.5, 3.0]]).expand(3, 2), 10)
    above, below = (crop_patches(images, torch.tensor([[r, 3]] * 3), 10) for r in (2, 3))
    assert torch.allclose(halfway, (above + below) / 2, atol=1e-6)
    # the gradient in the corner is the bilinear one (checked against finite differences)
    doubles = images.double()
    corner = torch.tensor([[1.3, 2.6], [4.2, 0.7], [9.5, 13.1]], dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda c: soft_crop(doubles, c, 10), corner.requires_grad_(True), atol=1e-6
    )


def test_the_differentiable_step_is_the_envs_step_at_an_exact_pixel():
    env, images = array_env()
    classifier = env_attr(env, "classifier")
    span = 44 - 12  # a power of two: k / span is exact in float32
    env.reset(seed=0, options={"index": 2})
    location = np.array([7 / span, 19 / span], dtype=np.float32)  # corner (7, 19) exactly
    after, _, _, _, info = env.step(location)
    assert info["patch_box"] == (7, 19, 12, 12)
    image = torch.from_numpy(images[2:3])
    with torch.no_grad():
        state = classifier.glance(image).state
        patch = soft_crop(image, torch.from_numpy(location)[None] * span, 12)
        out = classifier.focus(patch, state)
    assert np.allclose(out.state[0].numpy(), after["hidden"], atol=1e-6)
    assert np.allclose(out.features[0].numpy(), after["features"], atol=1e-6)


def test_focus_loss_shapes_and_its_gradient_reaches_the_location_network():
    torch.manual_seed(0)
    classifier = FakeClassifier(patch_size=28)
    classifier.requires_grad_(False)
    module = make_actor_critic(FEATURES, DifferentiableArgs(hidden_size=8))
    images, labels = torch.rand(5, 1, 60, 60), torch.arange(5)
    loss, locations = focus_loss(module, classifier, images, labels, steps=3)
    assert loss.shape == () and torch.isfinite(loss)
    assert locations.shape == (3, 5, 2) and locations.min() > 0 and locations.max() < 1
    loss.backward()
    for name, parameter in module.named_parameters():
        if name.startswith("critic"):  # GFNet's critic, kept for the layout, learns nothing here
            assert parameter.grad is None
        else:
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert all(p.grad is None for p in classifier.parameters())  # frozen, input gradients only


def test_training_is_deterministic_given_the_seed(tmp_path):
    weights = []
    for seed in (0, 0, 1):
        policy = DifferentiableAgent().train(fake_run(tmp_path, seed=seed))
        weights.append(policy.module.state_dict())
    same = [torch.equal(weights[0][k], weights[1][k]) for k in weights[0]]
    other = [torch.equal(weights[0][k], weights[2][k]) for k in weights[0]]
    assert all(same) and not all(other)


def test_it_records_its_training_cost(tmp_path):
    agent = DifferentiableAgent()
    run = fake_run(tmp_path, eval_freq=2 * 8 * 4)
    agent.train(run)
    assert [p["timesteps"] for p in run.evaluations] == [64, 96]
    # 2 images of the start-up check, then 8 images a batch: one glance, 4 focus steps each
    assert [p["classifier_images"] for p in run.evaluations] == [
        {"glance": 2 + 16, "focus": 2 + 64},
        {"glance": 2 + 24, "focus": 2 + 96},
    ]
    assert 0 < run.evaluations[0]["train_s"] < run.evaluations[1]["train_s"]
    assert agent.training_cost == {
        k: run.evaluations[-1][k] for k in ("train_s", "classifier_images")
    }
    assert 0 < agent.learner_seconds <= agent.training_cost["train_s"]


class Detaching(FakeClassifier):
    def focus(self, patches, state):
        return super().focus(patches.detach(), state.detach())


class NumpyFocus(FakeClassifier):
    def focus(self, patches, state):
        return super().focus(torch.from_numpy(patches.numpy()), state)


class IgnoresPatches(FakeClassifier):
    def focus(self, patches, state):
        return super().focus(patches * 0.0, state)  # a gradient path, but a zero gradient


@pytest.mark.parametrize(
    ("classifier", "problem"),
    [
        (Detaching, "without a gradient path"),
        (NumpyFocus, "failed under autograd"),
        (IgnoresPatches, "zero gradient"),
    ],
)
def test_a_classifier_not_differentiable_in_its_input_is_refused_by_name(
    tmp_path, classifier, problem
):
    run = fake_run(tmp_path, env_kwargs={"classifier": classifier(patch_size=28)})
    with pytest.raises(ValueError, match=rf"{classifier.__name__}'s focus\(\) .*{problem}"):
        DifferentiableAgent().train(run)
    name = "'my-classifier' (IgnoresPatches)"  # how a registry name is reported
    with pytest.raises(ValueError, match=re.escape(f"the classifier {name}'s focus()")):
        check_differentiable(IgnoresPatches(), torch.rand(2, 1, 60, 60), torch.arange(2), name)


def test_it_refuses_env_arguments_and_hyperparameters_it_cannot_use(tmp_path):
    agent = DifferentiableAgent()
    with pytest.raises(ValueError, match="observation='dict'"):
        agent.train(fake_run(tmp_path, env_kwargs={"observation": "hidden"}))
    with pytest.raises(ValueError, match="stop_action=False"):
        agent.train(fake_run(tmp_path, env_kwargs={"stop_action": True}))
    with pytest.raises(ValueError, match="unknown differentiable hyperparameters"):
        agent.train(fake_run(tmp_path, hyperparams={"lr": 1e-3}))


def test_it_is_registered_white_box_saved_loaded_and_reused(tmp_path):
    agent = resolve_agent("differentiable")
    assert isinstance(agent, DifferentiableAgent) and agent.white_box
    policy, record = train_or_reuse("differentiable", fake_run(tmp_path))
    assert not record["reused"] and (tmp_path / POLICY_FILE).is_file()
    assert record["evaluations"][-1]["classifier_images"]["focus"] == 2 + 96
    assert record["white_box"] and record["timing"]["classifier_images"]["focus"] == 2 + 96
    assert reference_label("differentiable", WHITE_BOX).endswith(
        "(white-box: classifier gradients)"
    )
    again, record = train_or_reuse("differentiable", fake_run(tmp_path))
    assert record["reused"] and isinstance(again, DifferentiablePolicy) and again.white_box
    env = gym.make_vec(
        FAKE_ENV,
        num_envs=6,
        autoreset_mode=AutoresetMode.DISABLED,
        observation="dict",
        classifier=FakeClassifier(patch_size=28),
        split="test",
    )
    actions = {id(p): [] for p in (policy, again)}
    obs, _ = env.reset(seed=3)
    start = np.ones(6, dtype=bool)
    for _ in range(4):
        for p in (policy, again):
            actions[id(p)].append(p.predict(obs, episode_start=start)[0])
        obs, *_ = env.step(actions[id(policy)][-1])
        start[:] = False
    first, second = (np.stack(a) for a in actions.values())
    assert np.array_equal(first, second)
    assert len(np.unique(first.round(4))) > 2  # the actions vary, so equality means something


def test_it_learns_where_to_look_on_translated_mnist(tmp_path):
    # one focus step, so the single location decides the gain; 200 batches of 64 training
    # images (12,800 focus steps, about 11 s on one thread), the gfnet test's budget. Measured
    # on these 500 test canvases (seeds 0/1/2): trained 0.965/0.963/0.950, random 0.922 (gains
    # 6.1/5.7/4.1 standard errors); gfnet at this budget 0.978
    run = Run(
        ONE_LOOK,
        {"max_focus_steps": 1},
        timesteps=12_800,
        num_envs=64,
        run_dir=tmp_path,
        device="cpu",
        eval_images=8,
    )
    policy = DifferentiableAgent().train(run)
    env = one_look_test_env()
    trained = final_true_class_prob(policy, env)
    random = final_true_class_prob(make_baseline("random", 1, seed=0), env)
    env.close()
    assert_clear_gain(trained, random, standard_errors=3)
