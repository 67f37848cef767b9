import numpy as np
import pytest
import torch

from classifiers import create_classifier, load_file
from classifiers.checkpoint import classifier_checkpoint, load_into
from classifiers.data import ArraySource, mnist_canvases
from classifiers.train import TrainConfig, build_trainer, main, sample_locations
from classifiers.training import (
    RunSettings,
    SourceBatches,
    StaleRunError,
    Trainer,
    evaluate,
    random_locate,
    step_loss,
    unroll,
)
from tests.classifiers.plain_classifier import PlainClassifier

TINY = dict(
    classifier="gf-mnist-translated60",
    epochs=2,
    batch_size=16,
    max_images=32,
    eval_images=32,
    progress=False,
)


def _weights(path):
    return load_file(path)["state_dict"]


def test_cli_trains_checkpoints_logs_and_exports(tmp_path, capsys):
    out, export = tmp_path / "run", tmp_path / "w.pt"
    argv = ["--classifier", "gf-mnist-translated60", "--epochs", "1", "--batch-size", "16"]
    argv += ["--max-images", "32", "--eval-images", "24", "--no-progress", "--out", str(out)]
    assert main([*argv, "--export", str(export)]) == 0
    assert (out / "last.pt").is_file() and list((out / "tb").glob("events.*"))
    data = load_file(export)
    assert data["meta"]["train_config"]["max_images"] == 32
    assert (
        len(data["meta"]["history"]) == 1
        and len(data["meta"]["history"][0]["test_acc_random"]) == 5
    )
    model = create_classifier("gf-mnist-translated60", checkpoint=export, device="cpu")
    assert not model.training
    assert "epoch 1/1" in capsys.readouterr().out


def test_same_seed_same_weights_and_resume_matches_uninterrupted(tmp_path):
    build_trainer(TrainConfig(**TINY, out=str(tmp_path / "a"))).fit()
    build_trainer(TrainConfig(**TINY, out=str(tmp_path / "b"))).fit(stop_after=1)  # "interrupted"
    build_trainer(TrainConfig(**TINY, out=str(tmp_path / "b"), resume=True)).fit()
    a, b = _weights(tmp_path / "a" / "last.pt"), _weights(tmp_path / "b" / "last.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    build_trainer(TrainConfig(**TINY, out=str(tmp_path / "c"), seed=1)).fit(stop_after=1)
    c = _weights(tmp_path / "c" / "last.pt")
    first = _weights(tmp_path / "a" / "last.pt")
    assert not all(torch.equal(first[k], c[k]) for k in first)


def test_resume_with_other_settings_or_data_is_refused_naming_them(tmp_path):
    build_trainer(TrainConfig(**TINY, out=str(tmp_path))).fit(stop_after=1)
    for change, named in [
        ({"epochs": 3}, "epochs: checkpoint 2, now 3"),
        ({"lr": 5e-4}, "lr: checkpoint 0.001, now 0.0005"),
        ({"max_images": 48}, "train_data"),
    ]:
        config = TrainConfig(**{**TINY, **change}, out=str(tmp_path), resume=True)
        with pytest.raises(StaleRunError, match=named):
            build_trainer(config).fit()
    # what does not change the weights may differ: evaluation size and frequency, progress bars
    settings = {**TINY, "eval_images": 8, "eval_every": 2}
    history = build_trainer(TrainConfig(**settings, out=str(tmp_path), resume=True)).fit()
    assert [h["epoch"] for h in history] == [1, 2]


def test_evaluation_size_and_frequency_are_settings_of_their_own(tmp_path):
    config = TrainConfig(**{**TINY, "epochs": 3, "eval_every": 2, "eval_images": None})
    trainer = build_trainer(TrainConfig(**{**vars(config), "out": str(tmp_path)}))
    history = trainer.fit()
    evaluated = [h["epoch"] for h in history if "test_acc_random" in h]
    assert evaluated == [2, 3]  # every 2nd epoch and the last
    assert len(trainer.batches.data) == 32  # --max-images caps training only
    calls = []
    trainer.evaluate = lambda: calls.append(1) or {"random": [0.0]}
    trainer.settings.epochs, trainer.settings.eval_every = 4, 1
    trainer.fit()
    assert calls == [1]  # one evaluation pass per evaluation, not one per kind of location


def test_training_lowers_the_loss(tmp_path):
    config = TrainConfig(**{**TINY, "epochs": 4, "max_images": 64}, out=str(tmp_path))
    history = build_trainer(config).fit()
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_resume_without_checkpoint_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="drop --resume"):
        build_trainer(TrainConfig(**TINY, out=str(tmp_path), resume=True)).fit()


def test_invalid_settings_are_named():
    with pytest.raises(ValueError, match="epochs=0"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match=r"target_patch_prob=1\.5"):
        TrainConfig(target_patch_prob=1.5)
    with pytest.raises(ValueError, match=r"eval_every=0 \(must be >= 1\)"):
        TrainConfig(eval_every=0)
    with pytest.raises(ValueError, match="pick matching --data"):
        build_trainer(
            TrainConfig(classifier="gf-mnist-translated60", data="cluttered100", progress=False)
        )


def test_sample_locations_uniform_and_targeted():
    rng = np.random.default_rng(0)
    boxes = np.array([[10, 20, 28, 28]] * 500)
    uniform = sample_locations(boxes, (60, 60), 28, 4, 0.0, 0.25, rng)
    assert uniform.shape == (500, 4, 2) and uniform.min() >= 0 and uniform.max() <= 1
    assert abs(uniform.mean() - 0.5) < 0.03
    targeted = sample_locations(boxes, (60, 60), 28, 4, 1.0, 0.0, rng)
    assert np.allclose(targeted[..., 0], 10 / 32) and np.allclose(targeted[..., 1], 20 / 32)


def test_any_nn_module_classifier_trains_without_deep_supervision(tmp_path):
    torch.manual_seed(0)
    model = PlainClassifier()
    data = mnist_canvases("cluttered60", "train", limit=64)
    test = ArraySource(*_rendered(mnist_canvases("cluttered60", "test", limit=48)), 10)
    settings = RunSettings(epochs=3, batch_size=16, lr=3e-3, out=str(tmp_path), progress=False)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = Trainer(
        model,
        SourceBatches(data, 16),
        random_locate(model.patch_size, 2, target_prob=0.5),
        settings,
        name="plain",
        evaluate=lambda: {"random": evaluate(model, test, focus_steps=2)},
    )
    history = trainer.fit()
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert all(len(h["test_acc_random"]) == 3 for h in history)
    assert all(not torch.equal(model.state_dict()[k], v) for k, v in initial.items())
    saved = load_file(tmp_path / "last.pt")  # classifier_checkpoint of a non-GFModel
    assert saved["config"] is None and saved["name"] == "plain"
    fresh = PlainClassifier()
    load_into(fresh, saved)
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in model.state_dict().items())


def _rendered(data):
    batch = data.sample_batch(
        range(len(data)), [np.random.default_rng(i) for i in range(len(data))]
    )
    return batch.images, batch.labels


def test_loss_is_the_mean_step_cross_entropy_plus_deep_supervision_where_offered():
    torch.manual_seed(0)
    plain = PlainClassifier()
    images, labels = torch.rand(4, 1, 60, 60), torch.tensor([0, 1, 2, 3])
    locations = torch.rand(4, 2, 2)
    steps = unroll(plain, images, locations)
    assert len(steps) == 3 and all(aux is None for _, aux in steps)
    expected = torch.stack([torch.nn.functional.cross_entropy(x, labels) for x, _ in steps]).mean()
    assert torch.equal(step_loss(steps, labels, dsn_ratio=1.0), expected)

    gf = create_classifier("gf-mnist-cluttered60", device="cpu")  # offers unroll()
    steps = unroll(gf, images, locations)
    assert all(aux is not None for _, aux in steps)
    without = step_loss(steps, labels, dsn_ratio=0.0)
    with_dsn = step_loss(steps, labels, dsn_ratio=1.0)
    aux_ce = torch.stack([torch.nn.functional.cross_entropy(a, labels) for _, a in steps]).mean()
    torch.testing.assert_close(with_dsn - without, aux_ce)


def test_classifier_checkpoint_of_a_module_whose_config_has_no_to_dict():
    data = classifier_checkpoint("plain", PlainClassifier(), stage=1)
    assert data["config"] is None and data["meta"] == {"stage": 1}
