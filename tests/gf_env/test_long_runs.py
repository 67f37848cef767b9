"""Long runs: the engine runs the classifier in inference mode and keeps nothing per step."""

import gc

import numpy as np
import torch

from classifiers.testing import FakeClassifier
from gf_env import GlanceFocusVectorEnv


class ModeSpy(torch.nn.Module):
    """Wraps a GF model and records whether each call ran under ``torch.inference_mode``."""

    def __init__(self):
        super().__init__()
        self.inner = FakeClassifier(patch_size=28)
        for name in ("num_classes", "in_chans", "patch_size", "state_dim", "feature_shape"):
            setattr(self, name, getattr(self.inner, name))
        self.device = torch.device("cpu")
        self.modes = []

    def glance(self, images):
        self.modes.append(torch.is_inference_mode_enabled())
        return self.inner.glance(images)

    def focus(self, patches, state):
        self.modes.append(torch.is_inference_mode_enabled())
        return self.inner.focus(patches, state)

    def step_flops(self):
        return self.inner.step_flops()


def test_classifier_calls_run_in_inference_mode_and_memory_stays_flat():
    spy = ModeSpy()
    vec = GlanceFocusVectorEnv(4, data="cluttered60", classifier=spy, max_focus_steps=2)
    vec.reset(seed=0)
    actions = np.random.default_rng(0).random((120, 4, 2), dtype=np.float32)

    def live():
        gc.collect()
        return len(gc.get_objects())

    for action in actions[:20]:
        vec.step(action)
    before = live()
    for action in actions[20:]:
        vec.step(action)
    assert len(spy.modes) == 121 and all(spy.modes)  # one glance at reset, then one call per step
    assert not torch.is_inference_mode_enabled()
    engine = vec.engine
    assert not any(t.requires_grad for t in (engine.state, engine.images))
    assert not any(p.requires_grad for p in spy.parameters())
    assert live() - before < 100  # 100 more steps leave (almost) no Python objects behind
