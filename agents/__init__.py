"""RL agents, heuristic baselines and the evaluation harness for glance-and-focus environments.

This package talks to environments only through the Gymnasium and Stable-Baselines3 APIs
(``gymnasium.make_vec``, ``gf_env.sb3.make_sb3_vec_env``), ``info`` and ``render()``, and the
documented read-only attributes of the glance-and-focus envs (``patch_size``, ``image_size``,
``max_focus_steps``, ``step_flops``, ... and the label-reading ``oracle_true_class_probs``), read
with :func:`env_attr`; ``tests/agents/test_env_api.py`` fails if a module here imports the env's
engine or config or touches ``.engine``. Trained SB3 models, the GFNet policy and the heuristics
share SB3's ``predict`` signature, so :func:`evaluate_anytime` treats them alike;
:func:`load_policy` turns a name (and a saved file) into one of them.
"""

from gf_env.install import check_own_packages, require_extra

check_own_packages("agents", "classifiers")
require_extra("agents", feature="the agents package (and the glance-focus command)")

from agents.baselines import (
    BASELINES,
    CenterPolicy,
    HeuristicPolicy,
    RandomPolicy,
    RasterPolicy,
    make_baseline,
)
from agents.early_exit import BudgetPoint, budget_curve, calibrate_thresholds, exit_shares
from agents.env_api import env_attr
from agents.evaluation import EvalResult, bootstrap_intervals, evaluate_anytime
from agents.evaluation import evaluate_policy as evaluate_policy  # deprecated: evaluate_anytime
from agents.policies import load_policy, policy_names
from agents.torch_layers import GlanceStateExtractor

__all__ = [
    "BASELINES",
    "BudgetPoint",
    "CenterPolicy",
    "EvalResult",
    "GlanceStateExtractor",
    "HeuristicPolicy",
    "RandomPolicy",
    "RasterPolicy",
    "bootstrap_intervals",
    "budget_curve",
    "calibrate_thresholds",
    "env_attr",
    "evaluate_anytime",
    "exit_shares",
    "load_policy",
    "make_baseline",
    "policy_names",
]
