"""Report files are written atomically."""

import json

import pytest

from agents.reporting import write_json
from classifiers.checkpoint import atomic_write


def test_an_interrupted_atomic_write_keeps_the_old_file(tmp_path):
    path = write_json({"run": 1}, tmp_path / "results.json")

    def crash(handle):
        handle.write(b'{"run": ')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, crash)
    assert json.loads(path.read_text()) == {"run": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temporary file left
