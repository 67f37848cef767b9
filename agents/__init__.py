"""RL agents, heuristic baselines and the evaluation harness for glance-and-focus environments.

This package talks to environments only through the Gymnasium and Stable-Baselines3 APIs
(``gymnasium.make``, ``gf_env.sb3.make_sb3_vec_env``). Its agents, baselines and benchmark command
are being built; until then ``examples/ppo_sb3.py`` shows PPO on the batched environment.
"""
