"""RL agents, heuristic baselines and the evaluation harness for glance-and-focus environments.

This package talks to environments only through the Gymnasium and Stable-Baselines3 APIs
(``gymnasium.make_vec``, ``gf_env.sb3.make_sb3_vec_env``). Trained SB3 models and the heuristics
share SB3's ``predict`` signature, so :func:`evaluate_policy` treats them alike.
"""

from agents.baselines import (
    BASELINES,
    CenterPolicy,
    HeuristicPolicy,
    RandomPolicy,
    RasterPolicy,
    make_baseline,
)
from agents.early_exit import BudgetPoint, budget_curve, calibrate_thresholds, exit_shares
from agents.evaluation import EvalResult, bootstrap_intervals, evaluate_policy
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
    "evaluate_policy",
    "exit_shares",
    "make_baseline",
]
