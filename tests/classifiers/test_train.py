import numpy as np
import pytest
import torch

from classifiers import create_classifier, load_file
from classifiers.train import TrainConfig, Trainer, main, sample_locations

TINY = dict(
    classifier="gf-mnist-translated60", epochs=2, batch_size=16, max_images=32, progress=False
)


def _weights(path):
    return load_file(path)["state_dict"]


def test_cli_trains_checkpoints_logs_and_exports(tmp_path, capsys):
    out, export = tmp_path / "run", tmp_path / "w.pt"
    argv = ["--classifier", "gf-mnist-translated60", "--epochs", "1", "--batch-size", "16"]
    argv += ["--max-images", "32", "--no-progress", "--out", str(out), "--export", str(export)]
    assert main(argv) == 0
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
    Trainer(TrainConfig(**TINY, out=str(tmp_path / "a"))).fit()
    Trainer(TrainConfig(**TINY, out=str(tmp_path / "b"))).fit(stop_after=1)  # "interrupted"
    Trainer(TrainConfig(**TINY, out=str(tmp_path / "b"), resume=True)).fit()
    a, b = _weights(tmp_path / "a" / "last.pt"), _weights(tmp_path / "b" / "last.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    Trainer(TrainConfig(**TINY, out=str(tmp_path / "c"), seed=1)).fit(stop_after=1)
    c = _weights(tmp_path / "c" / "last.pt")
    first = _weights(tmp_path / "a" / "last.pt")
    assert not all(torch.equal(first[k], c[k]) for k in first)


def test_training_lowers_the_loss(tmp_path):
    config = TrainConfig(**{**TINY, "epochs": 4, "max_images": 64}, out=str(tmp_path))
    history = Trainer(config).fit()
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_resume_without_checkpoint_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="drop --resume"):
        Trainer(TrainConfig(**TINY, out=str(tmp_path), resume=True)).fit()


def test_invalid_settings_are_named():
    with pytest.raises(ValueError, match="epochs=0"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match=r"target_patch_prob=1\.5"):
        TrainConfig(target_patch_prob=1.5)
    with pytest.raises(ValueError, match="pick matching --data"):
        Trainer(
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
