"""Stage 3: locations from the env's own episode logic, fine-tuning, export, resume, CLI."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO

from agents.cli import main
from agents.finetune import FinetuneConfig, build_finetune, env_arguments, finetune
from agents.train import policy_env_kwargs, train_agent
from classifiers import create_classifier
from classifiers.checkpoint import classifier_checkpoint, load_file, save_atomic
from classifiers.training import StaleRunError
from gf_env.rollout import rollout_locations
from tests.classifiers.plain_classifier import PlainClassifier
from tests.helpers import tiny_ppo_config

ENV = "GlanceFocus-ClutteredMNIST-v0"


@pytest.fixture(scope="module")
def policy_path(tmp_path_factory):
    out = tmp_path_factory.mktemp("policy")
    train_agent(tiny_ppo_config(out, ENV, timesteps=128, num_envs=8))
    return out / "model.zip"


def _act_on_state(obs):
    """A deterministic policy that depends on what it observes (so wrong observations show)."""
    hidden = obs["hidden"] if isinstance(obs, dict) else obs
    return np.stack([hidden[:, :8].mean(1), hidden[:, 8:16].mean(1)], axis=1) * 4 + 0.5


@pytest.mark.parametrize("observation", ["hidden", "dict"])
def test_rollout_locations_are_the_envs_own(observation):
    env = gym.make_vec(ENV, num_envs=5, split="test", observation=observation)
    obs, _ = env.reset(seed=3)
    engine = env.unwrapped.engine
    images, labels = engine.images.clone(), engine.labels.clone()
    for _ in range(4):
        obs, *_ = env.step(_act_on_state(obs))
    expected = engine.locations.copy()
    assert len(np.unique(expected.reshape(-1, 2), axis=0)) > 5  # the policy did move around
    got = rollout_locations(
        engine.classifier, images, labels, _act_on_state, observation=observation
    )
    np.testing.assert_allclose(got, expected, atol=1e-6)
    env.close()


def test_rollout_locations_map_grid_actions_like_the_env():
    env = gym.make_vec(ENV, num_envs=3, split="test", action_type="grid", grid_size=3)
    env.reset(seed=0)
    engine = env.unwrapped.engine
    cells = iter([np.array([0, 4, 8]), np.array([2, 6, 1]), np.array([3, 5, 7]), np.zeros(3, int)])
    got = rollout_locations(
        engine.classifier,
        engine.images,
        engine.labels,
        lambda obs: next(cells),
        action_type="grid",
        grid_size=3,
    )
    assert got.shape == (3, 4, 2) and got.dtype == np.float32
    np.testing.assert_allclose(got[:, 0], [[0, 0], [0.5, 0.5], [1, 1]])
    env.close()


def _config(policy_path, tmp_path, **kwargs) -> FinetuneConfig:
    settings = {
        "env": ENV,
        "model": str(policy_path),
        "max_images": 24,
        "eval_images": 24,
        "epochs": 2,
        "batch_size": 12,
        "out": str(tmp_path / "run"),
        "progress": False,
        **kwargs,
    }
    return FinetuneConfig(**settings)


def test_finetune_reports_before_and_after_and_exports_for_the_env(policy_path, tmp_path):
    config = _config(policy_path, tmp_path)
    assert env_arguments(config)["classifier"] == "gf-mnist-cluttered60"
    history = finetune(config)
    assert [h["epoch"] for h in history] == [0, 1, 2]
    assert "train_loss" not in history[0] and np.isfinite(history[-1]["train_loss"])
    for record in history:
        assert len(record["test_acc_policy"]) == len(record["test_acc_random"]) == 5
        # paired: both rows on the same canvases, so the glance (step 0) agrees exactly
        assert record["test_acc_policy"][0] == record["test_acc_random"][0]
    exported = load_file(config.export)
    assert exported["meta"]["stage"] == 3 and exported["meta"]["epochs_done"] == 2

    env = gym.make(ENV, checkpoint=config.export)
    finetuned = env.unwrapped.engine.classifier.state_dict()
    shipped = gym.make(ENV).unwrapped.engine.classifier.state_dict()
    for name, tensor in exported["state_dict"].items():
        torch.testing.assert_close(finetuned[name], tensor)
    assert any(not torch.equal(shipped[k], finetuned[k]) for k in shipped)


def test_interrupted_finetune_resumes_to_the_same_weights(policy_path, tmp_path):
    straight = build_finetune(_config(policy_path, tmp_path / "a"))
    straight.fit()
    interrupted = build_finetune(_config(policy_path, tmp_path / "b"))
    interrupted.fit(stop_after=1)
    resumed = build_finetune(_config(policy_path, tmp_path / "b", resume=True))
    resumed.fit()
    assert [h["epoch"] for h in resumed.history] == [0, 1, 2]
    for name, tensor in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], tensor, rtol=0, atol=0)


def test_policy_env_kwargs_read_off_the_saved_spaces(policy_path):
    from agents.train import load_model

    assert policy_env_kwargs(load_model("ppo", policy_path)) == {"observation": "dict"}


def test_cli_evaluates_and_visualizes_a_saved_dict_observation_agent(policy_path, tmp_path, capsys):
    argv = ["--env", ENV, "--agent", "ppo", "--model", str(policy_path), "--test-images", "8"]
    assert main(["evaluate", *argv]) == 0
    assert "step 4: accuracy" in capsys.readouterr().out
    assert main(["visualize", *argv, "--n", "4", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "examples.png").read_bytes()[:4] == b"\x89PNG"


def test_finetune_config_errors(policy_path, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"'missing\.zip' is not a file.*--model"):
        FinetuneConfig(model="missing.zip")
    with pytest.raises(ValueError, match="agent must be one of"):
        FinetuneConfig(model=str(policy_path), agent="ppo2")


def test_cli_finetune_prints_stage1_and_stage3(policy_path, tmp_path, capsys):
    argv = ["finetune", "--env", ENV, "--model", str(policy_path), "--max-images", "12"]
    argv += ["--eval-images", "12"]
    argv += ["--epochs", "1", "--batch-size", "12", "--out", str(tmp_path), "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "stage 1" in out and "-> stage 3" in out
    assert (tmp_path / "classifier.pt").is_file()


def test_resume_of_a_run_with_other_settings_is_refused_or_redone(policy_path, tmp_path, capsys):
    finetune(_config(policy_path, tmp_path))
    fewer = _config(policy_path, tmp_path, epochs=1, resume=True)
    with pytest.raises(StaleRunError, match="epochs: checkpoint 2, now 1"):
        finetune(fewer)
    other_policy = tmp_path / "other.zip"
    other_policy.write_bytes(policy_path.read_bytes() + b"\0")
    with pytest.raises(StaleRunError, match="policy_sha256"):
        build_finetune(_config(policy_path, tmp_path, model=str(other_policy), resume=True)).fit()
    history = finetune(fewer, restart_stale=True)  # the benchmark's reuse: redo the work
    assert [h["epoch"] for h in history] == [0, 1]
    assert "starting afresh" in capsys.readouterr().out
    assert load_file(tmp_path / "run" / "last.pt")["meta"]["epochs_done"] == 1


def test_finetune_uses_the_envs_weights_and_data(policy_path, tmp_path, mnist_root):
    shipped = create_classifier("gf-mnist-cluttered60", device="cpu")
    with torch.no_grad():
        for tensor in shipped.parameters():
            tensor.add_(0.01)
    weights = tmp_path / "weights.pt"
    save_atomic(classifier_checkpoint("gf-mnist-cluttered60", shipped), weights)
    kwargs = {"checkpoint": str(weights), "mnist_root": str(mnist_root)}
    trainer = build_finetune(_config(policy_path, tmp_path, env_kwargs=kwargs, max_images=None))
    for name, tensor in shipped.state_dict().items():
        assert torch.equal(trainer.model.state_dict()[name], tensor), name
    assert len(trainer.batches.data) == 30  # the 30 training digits under mnist_root


def test_finetune_trains_a_classifier_that_is_not_a_gfmodel(tmp_path):
    torch.manual_seed(0)
    plain = PlainClassifier(patch_size=28, state_dim=32, feature_shape=(8, 2, 2))
    env_kwargs = {"classifier": plain}
    env = gym.make(ENV, observation="dict", **env_kwargs)
    policy = tmp_path / "model.zip"  # an untrained policy on the plain classifier's observations
    PPO("MultiInputPolicy", env, n_steps=8, policy_kwargs={"net_arch": [8]}).save(policy)
    before = {k: v.clone() for k, v in plain.state_dict().items()}
    config = _config(policy, tmp_path, env_kwargs=env_kwargs, lr=1e-2)
    history = finetune(config)
    assert [h["epoch"] for h in history] == [0, 1, 2] and np.isfinite(history[-1]["train_loss"])
    assert all(torch.equal(plain.state_dict()[k], v) for k, v in before.items())  # a copy trained
    exported = load_file(config.export)
    assert exported["name"] == "PlainClassifier" and exported["meta"]["stage"] == 3
    assert any(not torch.equal(exported["state_dict"][k], v) for k, v in before.items())


def test_cli_env_kwargs_reach_the_env_arguments(policy_path, tmp_path, mnist_root):
    from agents.finetune import main as finetune_main

    argv = ["--model", str(policy_path), "--env", ENV, "--epochs", "1", "--batch-size", "15"]
    argv += ["--out", str(tmp_path), "--no-progress"]
    argv += ["--env-kwargs", f"mnist_root:{mnist_root}", "max_focus_steps:4"]
    assert finetune_main(argv) == 0
    meta = load_file(tmp_path / "classifier.pt")["meta"]
    assert meta["train_config"]["env_kwargs"] == {
        "mnist_root": str(mnist_root),
        "max_focus_steps": 4,
    }
    assert meta["fingerprint"]["train_data"]["digits"] == 30  # mnist_root's, not the embedded 4,000


def test_policy_and_random_rows_are_evaluated_on_the_same_canvases(policy_path, tmp_path):
    # more than one evaluation batch (256): the canvases of later batches must not depend on how
    # many random numbers the locations of earlier batches drew
    trainer = build_finetune(_config(policy_path, tmp_path, eval_images=300))
    accuracies = trainer.evaluate()
    assert accuracies["policy"][0] == accuracies["random"][0]  # the same glances
    assert accuracies["policy"][1:] != accuracies["random"][1:]


class CountingRecurrentPolicy:
    """Moves by how many steps its own state has counted since the episode started."""

    def __init__(self):
        self.starts = []

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        self.starts.append(episode_start.copy())
        n = len(observation)
        state = np.zeros(n) if state is None else state
        state = np.where(episode_start, 0, state + 1)
        return np.stack([0.2 + 0.2 * state, np.full(n, 0.5)], axis=1), state


def test_stage_3_carries_a_recurrent_policys_state_through_each_batch():
    from agents.finetune import policy_locate

    env = gym.make_vec(ENV, num_envs=3, split="test", observation="hidden")
    env.reset(seed=0)
    engine = env.unwrapped.engine
    policy = CountingRecurrentPolicy()
    locate = policy_locate(engine.classifier, policy, 4, True, {"observation": "hidden"})
    for _ in range(2):  # two batches: each one new episodes
        locations = locate(engine.images, engine.labels, None, None)
        np.testing.assert_allclose(locations[:, :, 0], [[0.2, 0.4, 0.6, 0.8]] * 3, atol=1e-6)
    assert [bool(s.all()) for s in policy.starts] == [True, False, False, False] * 2
    assert not any(s.any() for i, s in enumerate(policy.starts) if i % 4)
    env.close()
