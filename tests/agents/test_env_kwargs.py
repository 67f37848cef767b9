"""``--env-kwargs`` takes env arguments only: settings of the command (split, seed,
deterministic, device) and values of the wrong type are one-line refusals naming the key."""

import re

import pytest

from agents.cli import main
from tests.helpers import cli_error

EVALUATE = ["evaluate", "--agent", "center", "--env", "GlanceFocus-ClutteredMNIST-v0",
            "--test-images", "2"]  # fmt: skip


@pytest.mark.parametrize(
    "item, says",
    [
        ("split:train", r"'split' is not an env argument here; the commands choose the split"),
        ("seed:3", r"'seed' is not an env argument here; pass --seed"),
        ("deterministic:False", r"'deterministic' is not an env argument here; evaluation always"),
        ("device:cpu", r"'device' is not an env argument here; pass --device"),
    ],
)
def test_settings_of_the_command_are_refused_as_env_arguments(capsys, item, says):
    # as env arguments they went to the evaluation harness: split:train printed train-split
    # accuracy as test accuracy; device:cpu was a TypeError (device given twice)
    with pytest.raises(SystemExit) as exit_info:
        main([*EVALUATE, "--env-kwargs", item])
    assert exit_info.value.code == 2
    assert re.search(f"--env-kwargs {re.escape(item.split(':')[0])}:.*{says}.*Drop it from "
                     "--env-kwargs", cli_error(capsys.readouterr().err))  # fmt: skip


def test_a_training_run_refuses_a_split_in_its_env_arguments(tmp_path):
    from agents.train import AgentConfig

    with pytest.raises(ValueError, match=r"split:'test': 'split' is not an env argument here"):
        AgentConfig(out=str(tmp_path), env_kwargs={"split": "test"})


@pytest.mark.parametrize(
    "item, says",
    [
        ("max_focus_steps:'3'", r"max_focus_steps must be int, got '3' \(str\); write it without"),
        ("checkpoint:1", r"checkpoint must be str or PathLike or None, got 1 \(int\)"),
        ("max_focus_steps:" + "9" * 5000, r"max_focus_steps: a number of 5,000 digits, more"),
    ],
)
def test_malformed_env_argument_values_are_refused_naming_the_key(capsys, item, says):
    with pytest.raises(SystemExit) as exit_info:
        main([*EVALUATE, "--env-kwargs", item])
    assert exit_info.value.code == 2
    error = cli_error(capsys.readouterr().err)
    assert re.search(says, error) and "Traceback" not in error
