"""Checkpoint files: written atomically, read with ``torch.load(weights_only=True)`` only."""

from __future__ import annotations

import errno
import glob
import os
import pickle
import re
import socket
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from torch import nn

FORMAT = "glance-focus-classifier"
FORMAT_VERSION = 1

# The most bytes one member of a zip file (a torch checkpoint, a saved agent) may inflate to before
# it is read: a 1 MB file can otherwise unpack to gigabytes. Released GFNet files hold single
# tensors of up to about 420 MB (a policy's first layer); text members (an agent's ``data``) are
# kilobytes. The environment variable raises (or lowers) both caps for files you trust.
MAX_MEMBER_BYTES = 1 << 30
MAX_TEXT_MEMBER_BYTES = 64 << 20
MAX_MEMBER_VARIABLE = "GF_MAX_MEMBER_BYTES"
# The most bytes all members of one file may inflate to together, counting the records of the zip
# archives nested in it (an agent's ``policy.pth`` is a torch zip of its own): members each under
# their cap must not add up to gigabytes. Its own variable raises (or lowers) it.
MAX_FILE_BYTES = 2 << 30
MAX_FILE_VARIABLE = "GF_MAX_FILE_BYTES"

# Temporary files of writers whose liveness cannot be checked (another host, an unnamed writer) are
# removed once they have not changed for this long; a checkpoint write takes seconds.
STALE_TEMPORARY_SECONDS = 3600
HOST = re.sub(r"[^\w-]", "-", socket.gethostname())
"""This machine's name as temporary files and folders record their writer (``<pid>@<HOST>``)."""


# numpy's reconstructors of arrays and scalars (released GFNet files may keep FLOPs tables and
# thresholds as numpy values), under numpy 1's and numpy 2's module names, and the dtype classes of
# booleans and numbers (their state is set after construction). They rebuild plain numbers from
# bytes; no object, string or structured dtype is allowed.
_NUMPY_GLOBALS = [
    np.ndarray,
    np.dtype,
    *{type(np.dtype(code)) for code in "?" + np.typecodes["AllInteger"] + np.typecodes["AllFloat"]},
    *(
        (function, f"numpy.{core}.multiarray.{name}")
        for function, name in (
            (np.empty(0).__reduce__()[0], "_reconstruct"),
            (np.float64(0).__reduce__()[0], "scalar"),
        )
        for core in ("core", "_core")
    ),
]
# What a path that exists but is not a file is, for the message (reading /dev/zero never ends).
_SPECIAL_FILES = (
    ("is_char_device", "character device"),
    ("is_block_device", "block device"),
    ("is_fifo", "named pipe"),
    ("is_socket", "socket"),
)
# torch's two refusals of a global: not allowlisted, or from a blocked module (os, subprocess...).
_REFUSED_GLOBAL = re.compile(
    r"Unsupported global: GLOBAL (\S+)|unsupported GLOBAL (\S+) whose module"
)


class CheckpointError(ValueError):
    """A file that is not a usable checkpoint for the requested model."""


def inflate_cap(default: int = MAX_MEMBER_BYTES, variable: str = MAX_MEMBER_VARIABLE) -> int:
    """The most bytes a compressed member or file may inflate to: ``default``, unless the
    environment variable ``variable`` (``GF_MAX_MEMBER_BYTES`` for members, ``GF_MAX_FILE_BYTES``
    for whole files) sets another number (``4e9`` is accepted).

    Args:
        default: the cap when the variable is not set.
        variable: the environment variable that overrides it.
    """
    override = os.environ.get(variable)
    try:
        return int(float(override)) if override else default
    except (ValueError, OverflowError):
        raise ValueError(f"{variable}={override!r} is not a number of bytes (e.g. 4e9)") from None


def check_member_sizes(
    archive: zipfile.ZipFile, source: str, text: frozenset[str] = frozenset()
) -> None:
    """Refuse a zip archive if a member, or all members together, would inflate beyond the caps,
    before anything reads it.

    Readers allocate at most the size a member declares (``zipfile`` stops there and then fails
    its checksum; torch reads into a buffer of that size), so checking the declared sizes bounds
    the memory any later read takes. A member that is itself a zip archive (an agent's
    ``policy.pth``) is opened and its records are checked too, and counted in the total in place
    of the member's own size: torch inflates them when it loads the member.

    Args:
        archive: the open archive.
        source: the file's name, for the message.
        text: names of members that hold text, capped at :data:`MAX_TEXT_MEMBER_BYTES` instead of
            :data:`MAX_MEMBER_BYTES`.

    Raises:
        CheckpointError: a member, a record of a nested archive, or the whole file is too large;
            the message names it, its size and the cap.
    """
    file_cap = inflate_cap(MAX_FILE_BYTES, MAX_FILE_VARIABLE)
    total = 0
    for info in archive.infolist():
        total += _inflated_size(archive, info, source, text, nested=True)
        if total > file_cap:
            raise CheckpointError(
                f"{source!r}: its members inflate to more than {file_cap:,} bytes together "
                f"({total:,} bytes by member {info.filename!r}, counting the records of nested "
                f"archives); it was not read. If you trust the file, raise the cap with "
                f"{MAX_FILE_VARIABLE}=BYTES"
            )


def _inflated_size(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, source: str, text: frozenset[str], nested: bool
) -> int:
    """The bytes ``info`` inflates to, refused beyond its cap; for a member that is a zip archive
    (when ``nested``), the larger of its own size and the total of its records."""
    cap = inflate_cap(MAX_TEXT_MEMBER_BYTES if info.filename in text else MAX_MEMBER_BYTES)
    if info.file_size > cap:
        raise CheckpointError(
            f"{source!r}: member {info.filename!r} inflates to {info.file_size:,} bytes, more "
            f"than the {cap:,} allowed (from {info.compress_size:,} compressed); it was not "
            f"read. If you trust the file, raise the cap with {MAX_MEMBER_VARIABLE}=BYTES"
        )
    if not nested or info.is_dir():
        return info.file_size
    with archive.open(info) as handle:
        if handle.read(4) != b"PK\x03\x04":
            return info.file_size
    inner_source = f"{source}:{info.filename}"
    try:
        with archive.open(info) as handle, zipfile.ZipFile(handle) as inner:
            records = sum(
                _inflated_size(inner, record, inner_source, frozenset(), nested=False)
                for record in inner.infolist()
            )
    except zipfile.BadZipFile:  # starts like a zip but is none; its readers will say so
        return info.file_size
    return max(info.file_size, records)


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write`` on a temporary file beside ``path``, sync it, then rename it over ``path``.

    A crash leaves either the old file or the new one, never a truncated one; concurrent writers
    each get their own temporary file, named after the writer's process id and host. Temporary
    files that killed writers left for ``path`` are removed first (:func:`remove_stale_temporaries`).

    Args:
        path: the file to write.
        write: writes the contents to the open binary handle it is given.

    Raises:
        OSError: the disk is full (``errno.ENOSPC``/``EDQUOT``); the message names the path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}@{HOST}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; give it normal permissions
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        full = _disk_full(error)
        if full is None:
            raise
        raise OSError(
            full.errno,
            f"no space left on the disk that holds {str(path.parent)!r} while writing "
            f"{str(path)!r} ({full.strerror}); the old {path.name} is kept (if there was one). "
            "Free some space or write elsewhere",
        ) from error
    return path


def _disk_full(error: BaseException) -> OSError | None:
    """The "disk full" error behind ``error``: torch reports a failed write as "[enforce fail at
    inline_container.cc] unexpected pos" with the ``OSError`` only as its context."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of ``path`` that a killed :func:`atomic_write` left behind.

    A temporary file is stale when the process named in it ran on this host and no longer exists,
    or when nothing has written to it for :data:`STALE_TEMPORARY_SECONDS` (files of writers on
    other hosts sharing the folder, and files named before writers recorded their process id).
    A live writer's file is never removed, even one in another process.

    Args:
        path: the file whose temporaries to look for (``.NAME.*.tmp`` beside it).

    Returns:
        The files removed.
    """
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(?:(\d+)@([\w-]*)\.)?\w+\.tmp")
    removed = []
    for candidate in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        match = pattern.fullmatch(candidate.name)
        if match is None or not candidate.is_file():
            continue
        pid, host = match.groups()
        try:
            if pid is not None and host == HOST:
                stale = not process_alive(int(pid))
            else:
                stale = time.time() - candidate.stat().st_mtime > STALE_TEMPORARY_SECONDS
            if stale:
                candidate.unlink()
                removed.append(candidate)
        except FileNotFoundError:  # its writer renamed it, or another cleaner got there first
            continue
    return removed


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine exists (a writer that may still finish)."""
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        pass
    return True


def save_atomic(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` ``obj`` to ``path`` atomically (:func:`atomic_write`)."""
    return atomic_write(path, lambda handle: torch.save(obj, handle))


def load_file(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint file safely; only tensors, plain containers and numpy numbers/arrays are
    accepted (``torch.load(weights_only=True)`` with numpy's reconstructors allowed for this load).

    Args:
        path: the checkpoint file.
        map_location: where to put the tensors.

    Raises:
        CheckpointError: the file is damaged, holds something other than a dict, needs code
            to be rebuilt (the message names the global) or a member too large to read
            (:func:`check_member_sizes`).
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            f"checkpoint {str(path)!r} is a folder; pass the file inside it (e.g. {str(path / 'last.pt')!r})"
        )
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    if not path.is_file():
        kind = next(
            (kind for test, kind in _SPECIAL_FILES if getattr(path, test)()), "special file"
        )
        raise CheckpointError(
            f"checkpoint {str(path)!r} is not a regular file (a {kind}); pass a checkpoint file "
            "saved on disk"
        )
    if path.stat().st_size == 0:
        raise CheckpointError(
            f"checkpoint {str(path)!r} is empty (0 bytes); the write that made it was cut short: "
            "re-export or re-download it"
        )
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            check_member_sizes(archive, str(path))
    try:
        with torch.serialization.safe_globals(_NUMPY_GLOBALS):
            data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for damaged files
        unsafe = _REFUSED_GLOBAL.search(str(exc))
        if isinstance(exc, pickle.UnpicklingError) and unsafe:
            raise CheckpointError(
                f"refused to load {str(path)!r}: it holds a {unsafe.group(1) or unsafe.group(2)} "
                "object that only arbitrary code could rebuild (torch.load(weights_only=True) "
                "refuses it), which is unsafe for files from elsewhere. Re-save it as a dict of "
                "tensors."
            ) from None
        detail = re.search(r"WeightsUnpickler error:\s*(.+)", str(exc))
        detail = detail.group(1) if detail else (str(exc).splitlines() or [""])[0]
        raise CheckpointError(
            f"{str(path)!r} is not a readable checkpoint (truncated or corrupt?): "
            f"{type(exc).__name__}: {detail}; re-export it, or re-download it and compare its size"
        ) from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{str(path)!r} holds a {type(data).__name__}, expected a dict")
    return data


def classifier_checkpoint(name: str, model: nn.Module, **meta: Any) -> dict[str, Any]:
    """The dict a classifier is saved as: format tag, registry name, config, weights, metadata.

    Args:
        name: the registry name to load it as (any label for an unregistered model).
        model: any ``nn.Module``; its ``config.to_dict()`` is recorded when it has one (then
            :func:`load_into` checks the architecture), else the config is ``None``.
        **meta: JSON-like metadata (how the weights were made).
    """
    to_dict = getattr(getattr(model, "config", None), "to_dict", None)
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "name": name,
        "config": to_dict() if callable(to_dict) else None,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": meta,
    }


def load_into(model: nn.Module, data: dict[str, Any], source: str = "checkpoint") -> None:
    """Load a classifier checkpoint dict into ``model``, checking config and keys.

    Raises:
        CheckpointError: the file is for another architecture or patch size, or its keys or
            shapes do not match; the message names the differences.
    """
    if data.get("format") != FORMAT or "state_dict" not in data:
        raise CheckpointError(
            f"{source} is not a glance-focus classifier checkpoint (keys: {sorted(data)[:8]}); "
            "expected one written by classifiers.train or save_atomic(classifier_checkpoint(...))"
        )
    saved = data.get("config")
    state = data["state_dict"]
    if saved is not None and not isinstance(saved, dict):
        raise CheckpointError(
            f"{source} has a {type(saved).__name__} under 'config', expected a dict or None; "
            "the file was not written by classifier_checkpoint()"
        )
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(
            f"{source} has a malformed 'state_dict' ({type(state).__name__}); expected a dict of "
            "parameter names to tensors, as model.state_dict() gives"
        )
    config = getattr(model, "config", None)
    if config is not None and saved is not None:
        current = config.to_dict()
        diff = {k: (saved.get(k), v) for k, v in current.items() if _norm(saved.get(k)) != _norm(v)}
        if diff:
            detail = ", ".join(f"{k}: file {a!r} vs model {b!r}" for k, (a, b) in diff.items())
            raise CheckpointError(
                f"{source} was saved for another architecture ({detail}); create the classifier "
                f"the file was trained as (its registry name is {data.get('name')!r})"
            )
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or shapes:
        raise CheckpointError(
            f"{source} does not match the model: missing keys {missing[:10]}, unexpected keys "
            f"{unexpected[:10]}, shape mismatches {shapes[:10]}"
        )
    broken = sorted(k for k, v in state.items() if v.is_floating_point() and not v.isfinite().all())
    if broken:
        raise CheckpointError(
            f"{source} holds NaN or infinite weights in {broken[:10]}; the training that wrote it "
            "diverged: use an earlier checkpoint or retrain with a lower learning rate"
        )
    model.load_state_dict(state)


def _norm(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_norm(v) for v in value]
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    return value
