"""Training on an image folder: one process (resumable) and two with torchrun + DDP on gloo."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch

from classifiers.checkpoint import load_file
from classifiers.registry import get_entry
from classifiers.train import TrainConfig, build_trainer
from tests.image_folder import write_folder

REPO = Path(__file__).resolve().parents[2]
TINY_RGB = "test-rgb-tiny-gf"
REGISTER = f"""
from classifiers import GFConfig, GFModel, register_classifier

@register_classifier({TINY_RGB!r}, overwrite=True)
def tiny_rgb(**overrides):
    return GFModel(GFConfig(
        in_chans=3, num_classes=3, image_size=(64, 64), patch_size=32, glance_size=32,
        hidden_size=16, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25),
        backbone_kwargs={{"widths": (8, 16), "embed_dim": 16}}, **overrides))
"""
exec(REGISTER)  # the same tiny RGB model in this process and in the torchrun workers


@pytest.fixture(scope="module")
def image_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("folder")
    write_folder(root / "train")
    write_folder(root / "val")
    return root


def config(root: Path, out: Path, **overrides) -> TrainConfig:
    settings = dict(
        classifier=TINY_RGB,
        image_root=str(root),
        out=str(out),
        epochs=2,
        batch_size=4,
        focus_steps=2,
        workers=0,
        progress=False,
        device="cpu",
        lr=1e-2,
        max_images=13,
        eval_images=13,
    )
    return TrainConfig(**{**settings, **overrides})


def test_folder_training_learns_resumes_exactly_and_skips_the_corrupt_file(image_root, tmp_path):
    assert get_entry(TINY_RGB).data is None  # the folder is the data
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        straight = build_trainer(config(image_root, tmp_path / "a"))
        history = straight.fit()
    assert any("zz_corrupt.jpg" in str(w.message) for w in caught)
    assert len(history) == 2 and all(len(h["test_acc_random"]) == 3 for h in history)
    assert straight.batches.batches_per_epoch == 13 // 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        build_trainer(config(image_root, tmp_path / "b")).fit(stop_after=1)
        resumed = build_trainer(config(image_root, tmp_path / "b", resume=True))
        resumed.fit()
    for key, value in straight.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    saved = load_file(tmp_path / "b" / "last.pt")
    assert saved["meta"]["epochs_done"] == 2 and "scaler" in saved


def test_image_root_errors_name_the_missing_split(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(FileNotFoundError, match="no val/ folder"):
        build_trainer(config(tmp_path, tmp_path / "out"))
    with pytest.raises(ValueError, match="optimizer"):
        config(tmp_path, tmp_path / "out", optimizer="adam")


def test_two_process_ddp_on_gloo_ends_with_identical_weights(image_root, tmp_path):
    script = tmp_path / "train_ddp.py"
    script.write_text(
        textwrap.dedent(REGISTER)
        + textwrap.dedent(
            f"""
            import sys
            import torch
            import torch.distributed as dist
            from classifiers.train import TrainConfig, build_trainer

            trainer = build_trainer(TrainConfig(
                classifier={TINY_RGB!r}, image_root=sys.argv[2], out=sys.argv[1], epochs=1,
                batch_size=4, focus_steps=2, workers=1, progress=False, device="cpu",
                threads=1, lr=1e-2, max_images=17, eval_images=17))
            assert trainer.distributed.world_size == 2 and trainer.batches.batches_per_epoch == 2
            trainer.fit()
            torch.save(trainer.model.state_dict(), f"{{sys.argv[1]}}/rank{{trainer.distributed.rank}}.pt")
            dist.destroy_process_group()
            """
        )
    )
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node", "2", str(script), str(out), str(image_root)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(2)]
    torch.manual_seed(0)
    initial = get_entry(TINY_RGB).factory().state_dict()  # the weights rank 0 started from
    changed = [k for k, v in initial.items() if not torch.equal(ranks[0][k], v)]
    assert changed  # training moved the weights
    for key, value in ranks[0].items():
        assert torch.equal(ranks[1][key], value), key
    saved = load_file(out / "last.pt")  # written by rank 0 alone
    for key, value in saved["state_dict"].items():
        assert torch.equal(ranks[0][key], value), key
