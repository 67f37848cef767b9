"""One device check (issue 26): env throughput and one leaderboard cell, on one device, in one run.

Parts (``--parts``, in this order):

- ``mnist``: :func:`benchmarks.env_throughput.measure` on ``GlanceFocus-ClutteredMNIST100-v0`` at
  64 and 1,024 envs: the native vector env against the classifier alone (its limit) in the same
  run; SyncVectorEnv too at 64 envs (1,024 single envs would each hold a copy of the classifier).
- ``leaderboard``: one cell of ``glance-focus leaderboard`` (PPO, ClutteredMNIST100, seed 0, the
  suite's budget of 250k steps, the leaderboard's settings: 64 envs, a learning-curve point every
  25k steps on 500 test images, then all 1,000 test images), the leaderboard's own job
  (:class:`agents.leaderboard.Job`) run by :func:`agents.leaderboard.run_job`, with the env and
  the learner on the device; the env steps/s and the learner's share of the training time as
  ``leaderboard.md`` reports them.
- ``imagenet``: the ImageNet-scale row (``env_throughput.py --imagenet``) for
  ``gf-resnet50-p96`` (T = 5) and ``gf-mobilenetv3-large-p96`` (T = 3), random weights, on 1,000
  generated 224x224 JPEGs, at 64 and 256 envs, each with its classifier-alone limit. The JPEGs
  are decoded on the CPU (``--workers`` threads), so these rows say how much of the GPU the
  decoding leaves.

Prints the device, the torch/CUDA versions and a table; writes ``<out>/gpu.json`` after every part
(a run stopped half-way keeps what it measured). A part that fails is recorded with its error
and the others still run; the exit status is then 1. Needs no network.

On a GPU machine (one line; a bare machine with torch but none of this project's other
packages runs it through ``benchmarks/gpu.sh``, which first installs the wheels that
``bash benchmarks/gpu.sh wheels`` put in ``build/gpu-wheels`` here)::

    python -m benchmarks.gpu --device cuda --out results/gpu
    bash benchmarks/gpu.sh --device cuda --out results/gpu

The CPU smoke run (what ``tests/benchmarks/test_gpu.py`` runs; 15-20 s on one core)::

    python -m benchmarks.gpu --device cpu --sizes smoke --out /tmp/gpu-smoke

Time of the full run on one H100, an ESTIMATE (no GPU has run it yet; scaled from CPU numbers and
FLOPs; ``gpu.json`` records each part's real seconds):

- start and imports: about 15 s;
- ``mnist``: 20-40 s, mostly building SyncVectorEnv's 64 single envs (18 s on a busy 2-core CPU)
  and its 70 step calls of 64 one-image forwards; the vector env at 64 and 1,024 envs takes a few
  seconds (on the CPU 64 envs run at about 7,000 steps/s, 9 ms a step call; a GPU step is
  launch-bound, about 1-3 ms);
- ``leaderboard``: 0.5-2 min. On one CPU core the cell took 159 s (1,650 env steps/s, 45% in the
  learner: 3,920 minibatch updates at about 17 ms). On the GPU an update of these small networks
  is launch-bound (about 5 ms) and a rollout step is the env plus a policy forward and the
  host-device copies of observations and actions (about 3-4 ms for 64 envs);
- ``imagenet``: 0.5-1.5 min: writing 1,000 JPEGs (2 s), building each model, and per row 110 step
  calls of the env and of the limit. At 256 envs the env is bound by decoding (8 ms an image on
  one core here, 256 images every T steps spread over ``--workers`` threads), not the GPU.

In all about 2-4.5 minutes, under 8 with room to spare; ``--parts`` runs fewer parts.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import numpy as np
import torch
import tyro

from agents.leaderboard import Job, LeaderboardConfig, get_suite, make_job, run_job
from agents.reporting import print_table, write_json
from agents.settings import Reuse
from benchmarks import env_throughput
from benchmarks._report import machine
from classifiers.utils import resolve_device

ENV_ID = env_throughput.DEFAULT_ENV
AGENT = "ppo"
SEED = 0
RESULT_FILE = "gpu.json"
Part = Literal["mnist", "leaderboard", "imagenet"]


@dataclass(frozen=True)
class Sizes:
    """How much each part measures.

    Args:
        mnist_envs: env counts of the ``mnist`` rows.
        sync_envs: those of them that also measure SyncVectorEnv.
        imagenet_classifiers: ImageNet GF models of the ``imagenet`` rows.
        imagenet_envs: env counts of the ``imagenet`` rows.
        rounds, steps, warmup: interleaved rounds, step calls per round and variant, untimed step
            calls first (``mnist``); ``imagenet_rounds`` for the ``imagenet`` rows.
        images, image_side: generated JPEGs and their side.
        classifier_overrides: architecture fields of the ImageNet models (smaller inputs).
        timesteps: the leaderboard cell's budget (``None``: the suite's, 250k).
        leaderboard: other :class:`~agents.leaderboard.LeaderboardConfig` fields (``{}``: the
            leaderboard's defaults).
    """

    mnist_envs: tuple[int, ...]
    sync_envs: tuple[int, ...]
    imagenet_classifiers: tuple[str, ...]
    imagenet_envs: tuple[int, ...]
    rounds: int = 60
    imagenet_rounds: int = 20
    steps: int = 5
    warmup: int = 10
    images: int = 1000
    image_side: int = 224
    classifier_overrides: dict[str, Any] = field(default_factory=dict)
    timesteps: int | None = None
    leaderboard: dict[str, Any] = field(default_factory=dict)


SIZES = {
    "full": Sizes(
        mnist_envs=(64, 1024),
        sync_envs=(64,),
        imagenet_classifiers=("gf-resnet50-p96", "gf-mobilenetv3-large-p96"),
        imagenet_envs=(64, 256),
    ),
    # seconds on one CPU core: a few envs, one rollout of 256 steps, one ImageNet model at 64px
    "smoke": Sizes(
        mnist_envs=(2, 4),
        sync_envs=(2,),
        imagenet_classifiers=("gf-mobilenetv3-large-p96",),
        imagenet_envs=(2,),
        rounds=2,
        imagenet_rounds=2,
        steps=2,
        warmup=1,
        images=12,
        image_side=64,
        classifier_overrides={"image_size": (64, 64), "patch_size": 32, "glance_size": 32},
        timesteps=256,
        leaderboard={"num_envs": 16, "eval_freq": 0, "eval_images": 8, "test_images": 8},
    ),
}


@dataclass
class Args:
    """Env throughput and one leaderboard cell on one device (issue 26)."""

    device: str = "auto"
    """cuda, cpu, cuda:1, ... (auto: CUDA when present)"""
    out: str = "results/gpu"
    """folder of gpu.json"""
    sizes: Literal["full", "smoke"] = "full"
    """full: the issue's sizes; smoke: seconds on a CPU (the test)"""
    parts: tuple[Part, ...] = ("mnist", "leaderboard", "imagenet")
    """which parts to run"""
    workers: int = 8
    """JPEG decoding threads of the imagenet rows"""
    run_dir: str | None = None
    """keep the leaderboard cell's run folder here (default: a temporary folder)"""


def device_info(device: torch.device) -> dict[str, Any]:
    """The device and the software versions the numbers were measured with."""
    info: dict[str, Any] = {
        "device": str(device),
        "torch": torch.__version__,
        "cuda_runtime": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "machine": machine(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(
            name=props.name,
            memory_gib=props.total_memory / 2**30,
            capability=f"{props.major}.{props.minor}",
            multiprocessors=props.multi_processor_count,
            float32_matmul_precision=torch.get_float32_matmul_precision(),
            tf32_convolutions=torch.backends.cudnn.allow_tf32,
        )
    else:
        info["name"] = info["machine"]["processor"]
    return info


def _row_settings(sizes: Sizes, rounds: int) -> dict[str, Any]:
    return {"rounds": rounds, "steps": sizes.steps, "warmup": sizes.warmup}


def mnist_rows(sizes: Sizes, device: torch.device) -> list[dict[str, Any]]:
    """The ``mnist`` part: one :func:`env_throughput.measure` row per env count."""
    rows = []
    for n in sizes.mnist_envs:
        row = env_throughput.measure(
            ENV_ID,
            n,
            device=str(device),
            sync=n in sizes.sync_envs,
            **_row_settings(sizes, sizes.rounds),
        )
        env_throughput.print_row(row)
        rows.append(row)
    return rows


def imagenet_rows(sizes: Sizes, device: torch.device, workers: int) -> list[dict[str, Any]]:
    """The ``imagenet`` part: one row per (model, env count), all on one folder of JPEGs."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="gf-gpu-") as folder:
        env_throughput.write_images(
            folder, sizes.images, env_throughput.IMAGENET_CLASSES, side=sizes.image_side
        )
        for name in sizes.imagenet_classifiers:
            for n in sizes.imagenet_envs:
                row = env_throughput.measure(
                    num_envs=n,
                    device=str(device),
                    imagenet=name,
                    images_root=folder,
                    workers=workers,
                    classifier_overrides=sizes.classifier_overrides,
                    **_row_settings(sizes, sizes.imagenet_rounds),
                )
                env_throughput.print_row(row)
                rows.append(row)
    return rows


def leaderboard_job(sizes: Sizes, device: torch.device, out: str) -> Job:
    """The leaderboard's (PPO, ClutteredMNIST100, seed 0) job as ``glance-focus leaderboard
    --tasks GlanceFocus-ClutteredMNIST100-v0 --agents ppo --seeds 0 --device <device>`` plans it:
    the suite's task and budget and :class:`~agents.leaderboard.LeaderboardConfig`'s defaults,
    except where ``sizes`` says otherwise. Built here rather than through
    :func:`~agents.leaderboard.plan`, whose config first imports the report's statistics and plot
    modules (rliable, arch, pandas < 3), which a bare GPU machine lacks and this cell never uses."""
    defaults = {f.name: f.default for f in fields(LeaderboardConfig) if f.default is not MISSING}
    settings = {**defaults, **sizes.leaderboard}
    (task,) = [t for t in get_suite(settings["suite"]).tasks if t.env_id == ENV_ID]
    if sizes.timesteps is not None:
        task = replace(task, timesteps=sizes.timesteps)
    settings = SimpleNamespace(**{**settings, "device": str(device)})
    return make_job(AGENT, task, SEED, out, settings, settings.test_images, Reuse(reuse=False))


def leaderboard_cell(sizes: Sizes, device: torch.device, out: str) -> dict[str, Any]:
    """The ``leaderboard`` part: :func:`leaderboard_job` trained and tested by
    :func:`agents.leaderboard.run_job` in the folder ``out``, with the timing the leaderboard
    reports (``leaderboard.md``'s cost table: env steps/s, the learner's share of the time)."""
    job = leaderboard_job(sizes, device, out)
    result = run_job(job)
    record = result["record"]
    timing = record["timing"]
    correct = np.asarray(result["correct"], dtype=bool)
    return {
        "key": result["key"],
        "device": str(device),
        "timesteps": job.task.timesteps,
        "trained_timesteps": record["evaluations"][-1]["timesteps"],
        "num_envs": job.run.num_envs,
        "eval_freq": job.run.eval_freq,
        "eval_images": job.run.eval_images,
        "test_images": len(correct),
        "env_steps_per_s": timing["env_steps_per_s"],
        "learner_share": timing["learner_share"],
        "wall_s": timing["wall_s"],
        "eval_s": timing["eval_s"],
        "test_eval_s": result["eval_s"],
        "test_accuracy_per_step": correct.mean(axis=0).tolist(),
        "evaluations": record["evaluations"],
    }


def summary_rows(report: dict[str, Any]) -> list[list[Any]]:
    """One table row per measurement, in the order the parts ran: env steps/s, the classifier
    alone's (the limit), a/c and a/b, or the leaderboard cell's env steps/s and learner's share."""
    rows: list[list[Any]] = []
    for part, entry in report["parts"].items():
        for row in entry.get("rows", []):
            sync = "" if row["vector_over_sync"] is None else f"{row['vector_over_sync']:.2f}"
            what = row["classifier"] or "ClutteredMNIST100"
            rows.append(
                [
                    f"{part} {what}",
                    row["num_envs"],
                    row["vector_steps_per_s"],
                    row["limit_steps_per_s"],
                    f"{row['vector_over_limit']:.2f}",
                    sync,
                    "",
                ]
            )
        if "cell" in entry:
            cell, share = entry["cell"], entry["cell"]["learner_share"]
            rows.append(
                [
                    f"{part} {AGENT} seed {SEED}, {cell['timesteps']:,} steps",
                    cell["num_envs"],
                    cell["env_steps_per_s"],
                    "",
                    "",
                    "",
                    "-" if share is None else f"{100 * share:.0f}%",
                ]
            )
    return rows


def _run_part(name: str, report: dict[str, Any], work: Callable[[], dict[str, Any]]) -> None:
    """Run one part into ``report["parts"][name]`` with its seconds; an error is recorded (and
    printed) instead of ending the run, so one failing part leaves the others' numbers."""
    print(f"\n== {name}", flush=True)
    started = time.perf_counter()
    try:
        entry = work()
    except Exception as error:  # the other parts still run: device time is scarce
        traceback.print_exc()
        entry = {"error": f"{type(error).__name__}: {error}"}
    entry["seconds"] = time.perf_counter() - started
    report["parts"][name] = entry
    print(f"== {name}: {entry['seconds']:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the parts, print the table and write ``<out>/gpu.json``; returns its content."""
    args = tyro.cli(Args, args=argv, prog="python -m benchmarks.gpu")
    device = resolve_device(args.device)
    sizes = SIZES[args.sizes]
    path = Path(args.out) / RESULT_FILE
    report: dict[str, Any] = {
        "device": device_info(device),
        "sizes": args.sizes,
        "settings": {**vars(args), "parts": list(args.parts)},
        "parts": {},
        "seconds": 0.0,
    }
    info = report["device"]
    print(
        f"device {info['device']} ({info['name']}), torch {info['torch']}, CUDA "
        f"{info['cuda_runtime']}, cuDNN {info['cudnn']}, sizes {args.sizes}",
        flush=True,
    )
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        run_dir = args.run_dir or stack.enter_context(tempfile.TemporaryDirectory(prefix="gf-gpu-"))
        works = {
            "mnist": lambda: {"rows": mnist_rows(sizes, device)},
            "leaderboard": lambda: {"cell": leaderboard_cell(sizes, device, run_dir)},
            "imagenet": lambda: {"rows": imagenet_rows(sizes, device, args.workers)},
        }
        for name in [p for p in works if p in args.parts]:
            _run_part(name, report, works[name])
            report["seconds"] = time.perf_counter() - started
            write_json(report, path)
    print(f"\n{info['name']} ({info['device']}), {report['seconds']:.0f} s in all")
    rows = summary_rows(report)
    if rows:
        headers = ["measurement", "envs", "env steps/s", "limit steps/s", "a/c", "a/b"]
        print_table([*headers, "learner share"], rows)
    for name, entry in report["parts"].items():
        if "error" in entry:
            print(f"{name} FAILED: {entry['error']}")
    print(f"wrote {path}")
    return report


def failed(report: dict[str, Any]) -> bool:
    """Whether any part of ``report`` ended with an error."""
    return any("error" in entry for entry in report["parts"].values())


if __name__ == "__main__":
    sys.exit(1 if failed(main()) else 0)
