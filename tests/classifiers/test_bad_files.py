"""Bad checkpoint files, data folders, devices and overrides: each a clear error naming the fix.

(The malicious-pickle test lives in test_registry.py.)"""

import errno
import gzip
import io
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from classifiers import (
    CheckpointError,
    checkpoint,
    classifier_checkpoint,
    create_classifier,
    load_file,
    save_atomic,
)
from classifiers.data import load_folder_digits
from classifiers.registry import resolve_device
from tests.helpers import write_idx

NAME = "gf-mnist-cluttered60"


@pytest.fixture(scope="module")
def good():
    return classifier_checkpoint(NAME, create_classifier(NAME, device="cpu"))


def _refused(tmp_path, data, match):
    path = save_atomic(data, tmp_path / "w.pt")
    with pytest.raises(CheckpointError, match=match):
        create_classifier(NAME, checkpoint=path)


def test_a_folder_or_an_empty_file_is_not_a_checkpoint(tmp_path):
    with pytest.raises(IsADirectoryError, match=r"is a folder; pass the file inside it .*last.pt"):
        load_file(tmp_path)
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"is empty \(0 bytes\).*re-export"):
        create_classifier(NAME, checkpoint=tmp_path / "empty.pt")


def test_truncated_at_any_point_is_refused(tmp_path, good):
    blob = save_atomic(good, tmp_path / "good.pt").read_bytes()
    for cut in (1, 100, len(blob) // 2, len(blob) - 1):
        (tmp_path / "cut.pt").write_bytes(blob[:cut])
        with pytest.raises(CheckpointError, match="not a readable checkpoint"):
            load_file(tmp_path / "cut.pt")


def test_malformed_contents_are_named(tmp_path, good):
    _refused(tmp_path, torch.zeros(3), "holds a Tensor, expected a dict")
    _refused(tmp_path, {**good, "config": "small"}, "has a str under 'config', expected a dict")
    _refused(tmp_path, {**good, "state_dict": [1, 2]}, r"malformed 'state_dict' \(list\)")
    _refused(tmp_path, {**good, "state_dict": {"head.fc.weight": 3}}, "malformed 'state_dict'")
    nan = {k: v.clone() for k, v in good["state_dict"].items()}
    nan["head.fc.bias"][0] = float("nan")
    _refused(
        tmp_path, {**good, "state_dict": nan}, r"NaN or infinite weights in \['head.fc.bias'\]"
    )


def test_checkpoint_for_another_patch_size_names_it(tmp_path, good):
    other = create_classifier(NAME, patch_size=20, device="cpu")
    _refused(tmp_path, classifier_checkpoint(NAME, other), "patch_size: file 20 vs model 28")


def test_unknown_override_suggests_the_setting():
    with pytest.raises(
        TypeError, match=r"has no setting 'hiden_size' \(did you mean 'hidden_size'"
    ):
        create_classifier(NAME, hiden_size=64)


@pytest.mark.parametrize(
    ("device", "match"),
    [("gpu", "device='gpu' is not a device name"), (3.5, "device=3.5 is not a device name")],
)
def test_bad_device_names(device, match):
    with pytest.raises(ValueError, match=match):
        resolve_device(device)


def test_cuda_index_beyond_the_machine_is_refused():
    with pytest.raises(ValueError, match=r"device='cuda:99' but this machine has \d+ usable CUDA"):
        resolve_device("cuda:99")


def _mnist(tmp_path, images, labels):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    write_idx(raw / "t10k-images-idx3-ubyte", images, False)
    write_idx(raw / "t10k-labels-idx1-ubyte", labels, False)
    return tmp_path


def test_mnist_folders_that_hold_the_wrong_thing(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file; pass the folder that holds MNIST/raw"):
        load_folder_digits(tmp_path / "file", "test")
    labels = np.arange(4) % 10
    root = _mnist(tmp_path / "a", np.zeros((4, 32, 32), np.uint8), labels)
    with pytest.raises(ValueError, match=r"shape \(4, 32, 32\), expected \(N >= 1, 28, 28\)"):
        load_folder_digits(root, "test")
    root = _mnist(tmp_path / "b", np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8))
    with pytest.raises(ValueError, match=r"shape \(0, 28, 28\), expected \(N >= 1"):
        load_folder_digits(root, "test")
    root = _mnist(tmp_path / "c", np.zeros((4, 28, 28), np.uint8), np.array([0, 1, 12, 3]))
    with pytest.raises(ValueError, match=r"range over \[0, 12\], expected digits 0..9"):
        load_folder_digits(root, "test")


class _Opens:
    def __reduce__(self):
        return (print, ("unpickled",))


def test_unsafe_pickle_is_refused_naming_the_global_and_truncation_is_not_blamed_on_it(tmp_path):
    torch.save({"x": _Opens()}, tmp_path / "evil.pt")
    with pytest.raises(
        CheckpointError, match=r"refused to load .*a print object that only arbitrary code"
    ):
        load_file(tmp_path / "evil.pt")
    (tmp_path / "cut.pt").write_bytes((tmp_path / "evil.pt").read_bytes()[:1])
    with pytest.raises(CheckpointError, match=r"truncated or corrupt\?\): UnpicklingError: Unsupp"):
        load_file(tmp_path / "cut.pt")


class _RunsAShellCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("zipped", [True, False])
def test_an_os_system_pickle_is_refused_naming_the_global(tmp_path, zipped):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pt"
    torch.save({"x": _RunsAShellCommand(marker)}, path, _use_new_zipfile_serialization=zipped)
    with pytest.raises(CheckpointError, match=r"refused to load .*holds a posix\.system object"):
        load_file(path)
    assert not marker.exists()


def _release_file(path, numpy_core: str):
    """A file in the official release's layout (legacy torch format) whose FLOPs tables and
    thresholds are numpy values, as written under numpy 1 (``numpy.core``) or 2 (``numpy._core``).
    """
    meta = {
        "model_name": "resnet50",
        "patch_size": 96,
        "flops": np.array([1.5e8, 2.5e8]),
        "model_flops": np.float64(1.25e8),
        "policy_flops": np.float32(3.5e6),
        "dynamic_threshold": np.linspace(0.5, 1.0, 6).reshape(2, 3),
        "steps": np.int64(5),
    }
    buffer = io.BytesIO()
    torch.save({**meta, "fc": {"w": torch.ones(2)}}, buffer, _use_new_zipfile_serialization=False)
    blob = buffer.getvalue()
    assert blob.count(b"numpy._core.multiarray") >= 2
    path.write_bytes(blob.replace(b"numpy._core.multiarray", f"{numpy_core}.multiarray".encode()))
    return meta


@pytest.mark.parametrize("numpy_core", ["numpy.core", "numpy._core"])
def test_release_files_with_numpy_values_load(tmp_path, numpy_core):
    meta = _release_file(tmp_path / "release.pth.tar", numpy_core)
    data = load_file(tmp_path / "release.pth.tar")
    for key, value in meta.items():
        assert type(data[key]) is type(value) and np.array_equal(data[key], value), key
    assert torch.equal(data["fc"]["w"], torch.ones(2))
    with pytest.raises(pickle.UnpicklingError, match="numpy"):  # allowed for load_file only
        torch.load(tmp_path / "release.pth.tar", weights_only=True)


def test_zip_members_beyond_the_cap_are_not_read(tmp_path, monkeypatch):
    path = save_atomic({"w": torch.zeros(1000)}, tmp_path / "big.pt")
    monkeypatch.setenv("GF_MAX_MEMBER_BYTES", "1000")
    with pytest.raises(CheckpointError, match=r"member 'archive/data/0' inflates to 4,000 bytes, more "
                       r"than the 1,000 allowed .*raise the cap with GF_MAX_MEMBER_BYTES"):  # fmt: skip
        load_file(path)
    monkeypatch.setenv("GF_MAX_MEMBER_BYTES", "4e3")
    assert torch.equal(load_file(path)["w"], torch.zeros(1000))


def test_members_each_under_the_cap_are_refused_when_they_add_up_beyond_the_file_cap(
    tmp_path, monkeypatch
):
    # three records of 4,000 bytes, each under any member cap, 12,000 together: the same shape as
    # a 3 MB file with three records just under 1 GiB each
    tensors = {name: torch.zeros(1000) for name in "abc"}
    path = save_atomic(tensors, tmp_path / "three.pt")
    monkeypatch.setenv("GF_MAX_FILE_BYTES", "10000")
    with pytest.raises(CheckpointError, match=r"members inflate to more than 10,000 bytes together "
                       r"\(1[0-2],\d{3} bytes by member 'archive/data/\d'.*GF_MAX_FILE_BYTES=BYTES"):  # fmt: skip
        load_file(path)
    monkeypatch.setenv("GF_MAX_FILE_BYTES", "2e4")
    assert torch.equal(load_file(path)["c"], torch.zeros(1000))


def test_a_checkpoint_that_is_not_a_regular_file_is_named_as_such():
    with pytest.raises(CheckpointError, match=r"'/dev/zero' is not a regular file \(a character "):
        create_classifier(NAME, checkpoint="/dev/zero")


def test_mnist_files_with_an_impossible_header_or_a_fake_gz(tmp_path):
    root = _mnist(tmp_path / "a", np.zeros((4, 28, 28), np.uint8), np.arange(4))
    image_file = root / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    # 4 dimensions of 2**32 - 1 each: the product overflows int64
    image_file.write_bytes(bytes([0, 0, 8, 4]) + b"\xff" * 16 + bytes(784 * 4))
    with pytest.raises(
        ValueError, match=r"header says shape \(4294967295, 4294967295, .*more than"
    ):
        load_folder_digits(root, "test")
    image_file.unlink()
    image_file.with_suffix(".gz").write_bytes(b"plain bytes, no gzip")
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte.gz ends in .gz but is not a "):
        load_folder_digits(root, "test")
    raw = gzip.compress(bytes([0, 0, 8, 3, 0, 0, 0, 4, 0, 0, 0, 28, 0, 0, 0, 28]) + bytes(3136))
    image_file.with_suffix(".gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"ends in .gz but is not a complete gzip file"):
        load_folder_digits(root, "test")


class _DiskWithRoomFor(io.FileIO):
    """A file on a disk that fills up after ``room`` bytes."""

    room = 0

    def write(self, data):
        if len(data) > type(self).room:
            raise OSError(errno.ENOSPC, "No space left on device")
        type(self).room -= len(data)
        return super().write(data)


@pytest.mark.parametrize("room", [0, 5000])  # the flush fails, or torch with its own text
def test_a_full_disk_is_named_and_keeps_the_old_file(tmp_path, monkeypatch, room):
    path = save_atomic({"w": torch.ones(3)}, tmp_path / "last.pt")
    monkeypatch.setattr(_DiskWithRoomFor, "room", room)
    monkeypatch.setattr(
        checkpoint.os, "fdopen", lambda fd, mode: io.BufferedWriter(_DiskWithRoomFor(fd, "w"))
    )
    with pytest.raises(OSError, match=r"no space left on the disk that holds .* while writing "
                       r".*last\.pt.*the old last.pt is kept") as caught:  # fmt: skip
        save_atomic({"w": torch.zeros(100_000)}, path)
    assert caught.value.errno == errno.ENOSPC
    assert torch.equal(load_file(path)["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_a_sigkilled_write_leaves_a_temporary_that_the_next_write_removes(tmp_path):
    target = tmp_path / "last.pt"
    script = (
        "import sys, time\n"
        "from classifiers.checkpoint import atomic_write\n"
        "def write(handle):\n"
        "    handle.write(b'x' * 1000); handle.flush(); print('writing', flush=True); time.sleep(60)\n"
        "atomic_write(sys.argv[1], write)\n"
    )
    root = Path(__file__).resolve().parents[2]
    writer = subprocess.Popen(
        [sys.executable, "-c", script, str(target)], cwd=root, stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout.readline() == "writing\n"
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=60)
    (left,) = tmp_path.glob(".last.pt.*.tmp")
    assert left.stat().st_size == 1000 and f".{writer.pid}@" in left.name
    save_atomic({"w": torch.ones(1)}, target)
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_only_stale_temporaries_of_the_same_file_are_removed(tmp_path):
    host = checkpoint.HOST
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    old = time.time() - checkpoint.STALE_TEMPORARY_SECONDS - 60
    files = {
        f".last.pt.{dead.pid}@{host}.abc123.tmp": (None, True),  # killed writer here
        f".last.pt.{os.getpid()}@{host}.def456.tmp": (None, False),  # a live writer
        f".last.pt.{dead.pid}@elsewhere.ghi789.tmp": (None, False),  # recent, other host
        f".last.pt.{dead.pid}@elsewhere.jkl012.tmp": (old, True),  # idle for long, other host
        ".last.pt.mno345.tmp": (None, False),  # a writer without a pid, recent
        ".last.pt.pqr678.tmp": (old, True),  # ... idle for long
        f".model.zip.{dead.pid}@{host}.stu901.tmp": (None, False),  # another file's
    }
    for name, (mtime, _) in files.items():
        (tmp_path / name).write_bytes(b"x")
        if mtime is not None:
            os.utime(tmp_path / name, (mtime, mtime))
    removed = checkpoint.remove_stale_temporaries(tmp_path / "last.pt")
    assert sorted(p.name for p in removed) == sorted(n for n, (_, gone) in files.items() if gone)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        n for n, (_, gone) in files.items() if not gone
    )
