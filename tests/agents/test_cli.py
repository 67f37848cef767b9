"""The ``glance-focus`` command line: RL Zoo's ``--gym-packages`` / ``--env-kwargs`` on every
subcommand, ``module:Id`` ids, a user's classifier and env id through the whole benchmark."""

import json
import sys

import pytest
import torch

from agents.cli import SUBCOMMANDS, main
from agents.plugins import env_spec, import_gym_packages, parse_env_kwargs
from classifiers import classifier_checkpoint, save_atomic
from classifiers.testing import FakeClassifier
from classifiers.training.fingerprint import file_sha256
from tests.helpers import cli_error

PLUGIN = """
import gymnasium as gym

from classifiers import register_classifier
from classifiers.testing import FakeClassifier


@register_classifier("{name}-gf", data="cluttered60", overwrite=True)
def gf(**overrides):
    return FakeClassifier(patch_size=28, **overrides)


@register_classifier("{name}-fullres", data="cluttered60", overwrite=True)
def fullres(**overrides):
    return FakeClassifier(patch_size=60, seed=1, **overrides)


gym.register(
    "{name}/Fake60-v0",
    entry_point="gf_env.glance_focus:GlanceFocusEnv",
    vector_entry_point="gf_env.vector:GlanceFocusVectorEnv",
    kwargs={{"data": "cluttered60", "classifier": "{name}-gf", "max_focus_steps": 4}},
)
"""


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """Write a user's module (a classifier, a full-resolution reference and an env id) and its
    weights into ``tmp_path``; returns ``(module name, gf weights, fullres weights)``."""

    def make(name):
        (tmp_path / f"{name}.py").write_text(PLUGIN.format(name=name))
        weights = {}
        for kind, model in (
            ("gf", FakeClassifier(patch_size=28)),
            ("fullres", FakeClassifier(patch_size=60, seed=1)),
        ):
            weights[kind] = tmp_path / f"{kind}.pt"
            save_atomic(classifier_checkpoint(f"{name}-{kind}", model), weights[kind])
        return name, weights["gf"], weights["fullres"]

    monkeypatch.syspath_prepend(str(tmp_path))
    yield make
    for name in [m for m in sys.modules if m.startswith("user_plugin")]:
        sys.modules.pop(name)


def test_every_subcommand_takes_gym_packages_and_env_kwargs():
    for name, (settings, _, _) in SUBCOMMANDS.items():
        fields = settings.__dataclass_fields__
        assert name == "train-classifier" or {"gym_packages", "env_kwargs"} <= set(fields), name


def test_env_kwargs_values_are_literals_where_they_parse():
    parsed = parse_env_kwargs(["a:4", "b:0.5", "c:True", "d:None", "e:/data/mnist", "f:'x'"])
    assert parsed == {"a": 4, "b": 0.5, "c": True, "d": None, "e": "/data/mnist", "f": "x"}
    with pytest.raises(ValueError, match=r"--env-kwargs takes key:value pairs, got 'mnist_root'"):
        parse_env_kwargs(["mnist_root"])


def test_module_prefixed_ids_and_missing_packages(plugin):
    name, _, _ = plugin("user_plugin_spec")
    assert name not in sys.modules
    spec = env_spec(f"{name}:{name}/Fake60-v0")  # gym.spec alone would not import the module
    assert spec.kwargs["classifier"] == f"{name}-gf" and name in sys.modules
    with pytest.raises(ModuleNotFoundError, match=r"--gym-packages: cannot import 'no_such_mod'"):
        import_gym_packages(["no_such_mod"])


def test_evaluate_runs_a_users_env_id_given_as_module_colon_id(plugin, capsys):
    name, gf, _ = plugin("user_plugin_eval")
    argv = ["evaluate", "--env", f"{name}:{name}/Fake60-v0", "--agent", "center"]
    argv += ["--env-kwargs", f"checkpoint:{gf}", "max_focus_steps:2", "--test-images", "8"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["step 0", "step 1", "step 2"]


def test_evaluate_refuses_env_kwargs_that_contradict_the_policy(capsys):
    argv = ["evaluate", "--agent", "saliency", "--env-kwargs", "observation:'hidden'"]
    with pytest.raises(SystemExit):
        main(argv)
    assert "observation: 'hidden' given, 'dict' needed" in cli_error(capsys.readouterr().err)


def test_benchmark_of_a_users_classifier_through_gym_packages_and_env_kwargs(plugin, tmp_path):
    name, gf, fullres = plugin("user_plugin_bench")
    out = tmp_path / "bench"
    argv = ["benchmark", "--gym-packages", name, "--env", f"{name}/Fake60-v0"]
    argv += ["--env-kwargs", f"checkpoint:{gf}", "max_focus_steps:2"]
    argv += ["--agents", "ppo", "random", "--timesteps", "32", "--num-envs", "4"]
    argv += ["--test-images", "8", "--calibration-images", "8", "--finetune-epochs", "1"]
    argv += ["--finetune-images", "8", "--fullres-classifier", f"{name}-fullres"]
    argv += ["--fullres-checkpoint", str(fullres), "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results["agents"]) == {"ppo", "ppo+stage3", "random"}
    assert results["env_kwargs"] == {"checkpoint": str(gf), "max_focus_steps": 2}  # what ran
    for agent in results["agents"].values():
        assert len(agent["anytime_accuracy"]) == 3  # max_focus_steps:2 reached every env
    # stage 3 fine-tuned the user's classifier from the checkpoint given, on its env's data
    stage3 = json.loads((out / "agents" / "ppo-seed0" / "summary.json").read_text())
    assert stage3["config"]["env_kwargs"] == {"checkpoint": str(gf), "max_focus_steps": 2}
    history = results["agents"]["ppo+stage3"]["finetune_history"][0]
    assert [h["epoch"] for h in history] == [0, 1] and len(history[0]["test_acc_policy"]) == 3
    full = results["full_resolution"]
    assert full["classifier"] == f"{name}-fullres" and full["checkpoint"] == str(fullres)
    assert 0.0 <= full["accuracy"] <= 1.0


def test_evaluate_runs_the_official_gfnet_policy_on_imagenet(tmp_path, capsys):
    # GFNet's ResNet-50 (P=96) and policy in the release layout, random weights, on an ImageNet
    # folder of 1,000 class folders (one generated photo each), as the README's command names them
    from classifiers import create_classifier
    from tests.classifiers.test_gfnet_import import official_layout
    from tests.image_folder import write_folder

    photo = write_folder(tmp_path / "photos") / "cat" / "04.jpg"
    root = tmp_path / "imagenet"
    for split in ("train", "val"):
        for c in range(1000):
            (root / split / f"n{c:08d}").mkdir(parents=True)
            (root / split / f"n{c:08d}" / "a.JPEG").symlink_to(photo)
    torch.manual_seed(0)
    checkpoint = tmp_path / "resnet50_patch_size_96.pth.tar"
    model = create_classifier("gf-resnet50-p96", device="cpu")
    torch.save(official_layout(model, "release", True), checkpoint)
    argv = ["evaluate", "--agent", "gfnet", "--model", str(checkpoint)]
    argv += ["--env", "GlanceFocus-ImageNet-v0", "--env-kwargs", f"root:{root}"]
    argv += ["classifier:gf-resnet50-p96", f"checkpoint:{checkpoint}", "--test-images", "2"]
    argv += ["--device", "cpu"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [f"step {t}" for t in range(5)]  # T = 5
    mflops = [float(line.split(" at ")[1].split()[0]) for line in lines]
    assert mflops == pytest.approx([1526.4 * (t + 1) for t in range(5)], abs=0.2)
    argv[argv.index("--model") + 1] = str(tmp_path / "photos" / "cat" / "04.jpg")  # not GFNet's
    with pytest.raises(SystemExit):
        main(argv)
    assert "04.jpg' is not a readable checkpoint" in cli_error(capsys.readouterr().err)


def test_a_full_resolution_reference_that_cannot_be_built_is_refused_before_training(capsys):
    argv = ["benchmark", "--agents", "random", "--fullres-classifier", "fullres-mnist-clutered100"]
    with pytest.raises(SystemExit):
        main(argv)
    error = cli_error(capsys.readouterr().err)
    assert "reference 'fullres-mnist-clutered100' is not a registered classifier" in error
    assert "Did you mean 'fullres-mnist-cluttered100'" in error
    # SearchMNIST's reference is registered, its weights not shipped
    argv = [
        "--env",
        "GlanceFocus-SearchMNIST-v0",
        "--fullres-classifier",
        "fullres-mnist-search2x128",
    ]
    with pytest.raises(SystemExit):
        main(["benchmark", *argv])
    assert "'fullres-mnist-search2x128' has no shipped weights; pass its weights with" in cli_error(
        capsys.readouterr().err
    )
    with pytest.raises(SystemExit):
        main(["benchmark", "--fullres-checkpoint", "no.pt"])
    assert "--fullres-checkpoint 'no.pt' is not a file" in cli_error(capsys.readouterr().err)


def test_leaderboard_gives_its_packages_and_env_kwargs_to_every_job(tmp_path):
    from agents.leaderboard import LeaderboardConfig, plan
    from agents.protocol import HeuristicAgent

    config = LeaderboardConfig(
        gym_packages=["json"],
        env_kwargs={"max_focus_steps": 2},
        tasks=["GlanceFocus-ClutteredMNIST-v0"],
        agents=["center"],
        seeds=[0],
        out=str(tmp_path),
    )
    _, jobs = plan(config)
    assert {j.agent for j in jobs} == {"center", "random", "oracle"}
    assert all(j.gym_packages == ("json",) for j in jobs)  # a spawned worker imports them
    assert all(j.run.env_kwargs == {"max_focus_steps": 2} for j in jobs)
    assert HeuristicAgent("center").train(jobs[0].run).max_focus_steps == 2


def test_the_benchmark_retrains_an_agent_when_its_classifier_weights_change(plugin, tmp_path):
    """``--env-kwargs checkpoint:ck.pt``, then other weights in ``ck.pt``: another task, so the
    agent is trained again (the fingerprint holds the file's hash, not only its path)."""
    name, gf, _ = plugin("user_plugin_weights")
    argv = ["benchmark", "--gym-packages", name, "--env", f"{name}/Fake60-v0"]
    argv += ["--env-kwargs", f"checkpoint:{gf}", "--agents", "ppo", "--timesteps", "16"]
    argv += ["--num-envs", "4", "--test-images", "4", "--calibration-images", "4"]
    argv += ["--finetune-epochs", "0", "--out", str(tmp_path / "bench"), "--no-progress"]
    run = tmp_path / "bench" / "agents" / "ppo-seed0"
    assert main(argv) == 0
    trained = file_sha256(run / "model.zip")
    assert main(argv) == 0  # the same weights: reused
    assert file_sha256(run / "model.zip") == trained
    save_atomic(classifier_checkpoint(f"{name}-gf", FakeClassifier(patch_size=28, seed=7)), gf)
    assert main(argv) == 0
    assert file_sha256(run / "model.zip") != trained  # trained again
    record = json.loads((run / "run.json").read_text())
    assert record["fingerprint"]["weights_sha256"]["classifier"] == file_sha256(gf)
