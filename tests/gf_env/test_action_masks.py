"""Action masks on grid actions: the single env, the vector env, the SB3 adapter, MaskablePPO."""

import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from classifiers.testing import FakeClassifier
from gf_env import GlanceFocusEnv, GlanceFocusVectorEnv
from gf_env.sb3 import make_sb3_vec_env

ENV_ID = "GlanceFocus-ClutteredMNIST-v0"  # 60x60, P = 28: a 3x3 grid, 4 focus steps
FAKE = {"data": "cluttered60", "classifier": FakeClassifier(patch_size=28)}


def test_single_env_masks_visited_cells():
    env = GlanceFocusEnv(action_type="grid", **FAKE)
    env.reset(seed=0)
    assert env.action_masks().dtype == np.bool_ and env.action_masks().all()
    assert env.action_masks().shape == (9,)
    env.step(np.int64(4))
    env.step(np.int64(8))
    expected = np.ones(9, dtype=bool)
    expected[[4, 8]] = False
    np.testing.assert_array_equal(env.action_masks(), expected)
    env.reset()
    assert env.action_masks().all()


def test_stop_action_stays_allowed():
    env = GlanceFocusEnv(action_type="grid", stop_action=True, max_focus_steps=9, **FAKE)
    env.reset(seed=0)
    for cell in range(8):
        env.step(np.int64(cell))
    masks = env.action_masks()
    assert masks.shape == (10,) and masks.tolist() == [False] * 8 + [True, True]
    env.step(np.int64(8))
    assert env.action_masks().tolist() == [True] * 10  # the episode ended: nothing is masked


def test_every_cell_visited_without_stop_unmasks_all():
    env = GlanceFocusEnv(action_type="grid", max_focus_steps=10, **FAKE)
    env.reset(seed=0)
    for cell in range(9):
        env.step(np.int64(cell))
    assert env.action_masks().all()  # never an empty mask


def test_continuous_actions_have_no_masks():
    env = GlanceFocusEnv(**FAKE)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action_type='grid'"):
        env.action_masks()


def test_vector_env_masks_per_sub_environment():
    env = GlanceFocusVectorEnv(
        num_envs=3, action_type="grid", autoreset_mode=AutoresetMode.NEXT_STEP, **FAKE
    )
    env.reset(seed=0)
    env.step(np.array([0, 1, 2]))
    env.step(np.array([3, 1, 5]))  # env 1 may repeat (masks are advice), its row shows one cell
    masks = env.action_masks()
    assert masks.shape == (3, 9)
    assert [np.flatnonzero(~row).tolist() for row in masks] == [[0, 3], [1], [2, 5]]


def test_sb3_adapter_routes_masks_per_index():
    from sb3_contrib.common.maskable.utils import get_action_masks, is_masking_supported

    venv = make_sb3_vec_env(
        ENV_ID, num_envs=3, seed=0, action_type="grid", classifier=FAKE["classifier"]
    )
    venv.reset()
    venv.step(np.array([0, 4, 8]))
    assert is_masking_supported(venv) and venv.has_attr("action_masks")
    masks = get_action_masks(venv)
    assert masks.shape == (3, 9)
    assert [np.flatnonzero(~row).tolist() for row in masks] == [[0], [4], [8]]
    assert [np.flatnonzero(~m).tolist() for m in venv.env_method("action_masks", indices=[2])] == [
        [8]
    ]


@pytest.mark.parametrize("stop_action", [False, True])
def test_maskable_ppo_trains_and_never_revisits_a_cell(stop_action):
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.callbacks import BaseCallback

    class CheckMasks(BaseCallback):
        """Every action MaskablePPO took was allowed; no cell twice within an episode."""

        def __init__(self):
            super().__init__()
            self.visited = [set() for _ in range(4)]
            self.steps = 0

        def _on_step(self) -> bool:
            actions, masks = self.locals["actions"], self.locals["action_masks"]
            assert masks[np.arange(4), actions].all()
            for i, (action, done) in enumerate(zip(actions, self.locals["dones"], strict=True)):
                if action != 9:  # the stop action
                    assert int(action) not in self.visited[i]
                    self.visited[i].add(int(action))
                if done:
                    self.visited[i].clear()
            self.steps += 1
            return True

    venv = make_sb3_vec_env(
        ENV_ID,
        num_envs=4,
        seed=0,
        action_type="grid",
        stop_action=stop_action,
        classifier=FakeClassifier(patch_size=28),
    )
    model = MaskablePPO(
        "MlpPolicy",
        venv,
        n_steps=32,
        batch_size=64,
        n_epochs=1,
        seed=0,
        policy_kwargs={"net_arch": [8]},
    )
    callback = CheckMasks()
    model.learn(256, callback=callback)
    assert callback.steps == 64 and model.num_timesteps == 256
    # a trained policy told the masks keeps off visited cells when acting, too
    env = GlanceFocusEnv(action_type="grid", stop_action=stop_action, **FAKE)
    obs, _ = env.reset(seed=3)
    chosen, done = [], False
    while not done:
        action, _ = model.predict(obs, action_masks=env.action_masks(), deterministic=True)
        obs, _, done, _, _ = env.step(np.int64(action))
        chosen.append(int(action))
    cells = [c for c in chosen if c != 9]
    assert len(cells) == len(set(cells))
