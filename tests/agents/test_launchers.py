"""Launchers: a failed run does not discard the others, and a Ray address where nothing answers
is refused at once instead of waited on for ever."""

import socket
import time

import pytest

from agents.launchers import RunsFailed, launch


def square_or_fail(x: int) -> int:
    if x < 0:
        raise ValueError(f"bad job {x}")
    time.sleep(0.5)  # the failure comes first
    return x * x


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failed_run_does_not_discard_the_others(workers, capsys):
    finished = []
    with pytest.raises(RunsFailed, match=r"1 of 3 runs failed \(-1: ValueError: bad job -1\)") as e:
        for job, result in launch(square_or_fail, [-1, 2, 3], workers=workers):
            finished.append((job, result))  # a sweep saves each here, as it finishes
    assert sorted(finished) == [(2, 4), (3, 9)]
    assert [job for job, _ in e.value.failures] == [-1]
    assert "failed -1: ValueError: bad job -1" in capsys.readouterr().err


def test_a_ray_address_where_nothing_answers_is_refused_at_once():
    pytest.importorskip("ray")
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"127.0.0.1:{port}"
    started = time.perf_counter()
    with pytest.raises(
        ConnectionError, match=f"no Ray cluster answers at --ray-address '{address}'"
    ):
        list(launch(square_or_fail, [1], launcher="ray", ray_address=address, connect_timeout_s=2))
    assert time.perf_counter() - started < 10
