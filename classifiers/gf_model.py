"""The glance-and-focus model: a global encoder, a local encoder and a recurrent head."""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from classifiers.backbones import build_backbone
from classifiers.flops import count_flops
from classifiers.interface import StepFlops, StepOutput
from classifiers.patches import crop_patches, patch_corners
from classifiers.preprocessing import GLANCE_LOGITS, Preprocessing, check_choice, resize_glance


@dataclass(frozen=True)
class GFConfig:
    """Everything that fixes a GF model's architecture and preprocessing.

    Args:
        backbone: registered encoder name (see :mod:`classifiers.backbones`).
        num_classes: number of classes.
        in_chans: image channels.
        image_size: ``(H, W)`` of the full-resolution images it was trained on.
        patch_size: side P of the focus patches.
        glance_size: side of the downsampled whole image the glance sees (P in GFNet).
        glance_interpolation: ``torch.nn.functional.interpolate`` mode of the glance resize.
        hidden_size: size of the GRU state.
        mean, std: per-channel normalisation applied to inputs in [0, 1].
        backbone_kwargs: extra arguments of the encoder builder.
        head: ``"gru"`` (a GRU over the steps' features and one linear classifier, for
            ResNet/DenseNet/RegNet in GFNet) or ``"cascade"`` (``fc_t`` = Linear(t * features)
            on the concatenated features of steps 1..t, glance included; the glance prediction
            is the global encoder's own; MobileNet-V3/EfficientNet in GFNet).
        cascade_steps: steps (glance included) the cascaded head has classifiers for
            (``fc_2`` .. ``fc_<cascade_steps>``); GFNet's release always has 5.
        glance_align_corners, glance_antialias, glance_logits, crop_fraction, interpolation,
            bn_eps: the fields of :class:`~classifiers.preprocessing.Preprocessing` of the same
            names (:attr:`preprocessing` is the record); ``bn_eps`` is passed to the encoder
            builder when not ``None``.
    """

    backbone: str = "small_cnn"
    num_classes: int = 10
    in_chans: int = 1
    image_size: tuple[int, int] = (100, 100)
    patch_size: int = 32
    glance_size: int = 32
    glance_interpolation: str = "bilinear"
    hidden_size: int = 256
    mean: tuple[float, ...] = (0.1307,)
    std: tuple[float, ...] = (0.3081,)
    backbone_kwargs: dict[str, Any] = field(default_factory=dict)
    head: str = "gru"
    cascade_steps: int = 5
    glance_align_corners: bool = False
    glance_antialias: bool = True
    glance_logits: str = "head"
    crop_fraction: float = 0.875
    interpolation: str = "bilinear"
    bn_eps: float | None = None

    def __post_init__(self) -> None:
        check_choice("head", self.head, HEADS)
        check_choice("glance_logits", self.glance_logits, GLANCE_LOGITS)
        if self.cascade_steps < 2:
            raise ValueError(
                f"cascade_steps must be >= 2 (glance + one focus), got {self.cascade_steps}"
            )
        if self.patch_size < 1 or self.patch_size > min(self.image_size):
            raise ValueError(
                f"patch_size must be in [1, {min(self.image_size)}] for image_size "
                f"{self.image_size}, got {self.patch_size}"
            )
        if len(self.mean) != self.in_chans or len(self.std) != self.in_chans:
            raise ValueError(
                f"mean and std need one value per channel (in_chans={self.in_chans}), "
                f"got mean={self.mean}, std={self.std}"
            )

    @property
    def preprocessing(self) -> Preprocessing:
        """This model's preprocessing record (see :mod:`classifiers.preprocessing`)."""
        fields = {name: getattr(self, name) for name in PREPROCESSING_FIELDS}
        return Preprocessing(image_size=int(self.image_size[0]), **fields)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict; fields added after the first release are left out at their
        defaults, so that configs saved before they existed still compare equal."""
        data = asdict(self)
        for key, default in _LATER_FIELDS.items():
            if data[key] == default:
                del data[key]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GFConfig:
        data = dict(data)
        for key in ("image_size", "mean", "std"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)


HEADS = ("gru", "cascade")
PREPROCESSING_FIELDS = (
    "crop_fraction",
    "interpolation",
    "glance_interpolation",
    "glance_align_corners",
    "glance_antialias",
    "mean",
    "std",
    "bn_eps",
    "glance_logits",
)
"""Fields that :class:`GFConfig` and :class:`~classifiers.preprocessing.Preprocessing` share."""
_LATER_FIELDS = {
    "head": "gru",
    "cascade_steps": 5,
    "glance_align_corners": False,
    "glance_antialias": True,
    "glance_logits": "head",
    "crop_fraction": 0.875,
    "interpolation": "bilinear",
    "bn_eps": None,
}


class RecurrentHead(nn.Module):
    """GRU over per-step features and a linear classifier applied at every step.

    Module names follow the GFNet release (``rnn`` a sequence-first ``nn.GRU``, ``fc``) so its
    checkpoints load unchanged.
    """

    def __init__(self, feature_dim: int, hidden_size: int, num_classes: int):
        super().__init__()
        self.rnn = nn.GRU(feature_dim, hidden_size)
        self.fc = nn.Linear(hidden_size, num_classes)

    def forward(
        self, features: torch.Tensor, state: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = None if state is None else state.unsqueeze(0).contiguous()
        output, _ = self.rnn(features.unsqueeze(0), hidden)
        state = output[0]
        return self.fc(state), state


class CascadeHead(nn.Module):
    """GFNet's cascaded classifiers: ``fc_t`` = Linear(t * feature_dim, classes) on the pooled
    features of steps 1..t (the glance is step 1, classified by the global encoder's own head).

    The recurrent state is the features seen so far, zero-padded to ``steps * feature_dim``,
    followed by the number of steps taken, so that ``focus`` knows which classifier to apply.
    Module names (``fc_2`` ..) follow the GFNet release.
    """

    def __init__(self, feature_dim: int, steps: int, num_classes: int):
        super().__init__()
        self.feature_dim = feature_dim
        self.steps = steps
        for t in range(2, steps + 1):
            self.add_module(f"fc_{t}", nn.Linear(t * feature_dim, num_classes))

    @property
    def state_dim(self) -> int:
        return self.steps * self.feature_dim + 1

    def forward(
        self, features: torch.Tensor, state: torch.Tensor | None, glance_logits: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n, dim = features.shape
        if state is None:
            memory = features.new_zeros(n, self.steps, dim)
            taken = torch.zeros(n, dtype=torch.long, device=features.device)
        else:
            memory = state[:, :-1].reshape(n, self.steps, dim)
            taken = state[:, -1].round().long()
        if int(taken.max()) >= self.steps:
            raise ValueError(
                f"the cascaded head has classifiers for {self.steps} steps (glance included), "
                f"but a focus step {int(taken.max()) + 1} was asked for; run at most "
                f"{self.steps - 1} focus steps (max_focus_steps={self.steps - 1})"
            )
        slot = F.one_hot(taken, self.steps).to(features.dtype).unsqueeze(-1)  # (N, steps, 1)
        memory = memory * (1 - slot) + features.unsqueeze(1) * slot
        if state is None:
            logits = glance_logits
        else:
            logits = glance_logits.new_zeros(n, glance_logits.shape[1])
            for k in taken.unique().tolist():  # rows at the same step share a classifier
                rows = (taken == k).nonzero()[:, 0]
                fc = getattr(self, f"fc_{k + 1}")
                logits = logits.index_put((rows,), fc(memory[rows, : k + 1].flatten(1)))
        state = torch.cat([memory.flatten(1), (taken + 1).unsqueeze(1).to(memory.dtype)], dim=1)
        return logits, state


class GFModel(nn.Module):
    """A GFNet-style classifier implementing :class:`~classifiers.GlanceFocusClassifier`.

    The glance resizes the whole image to ``glance_size`` and runs the global encoder; each focus
    step runs the local encoder on a full-resolution ``patch_size`` crop. Both feed one GRU head
    that predicts after every step.

    Args:
        config: the architecture.

    Example:
        >>> import torch
        >>> from classifiers import GFConfig, GFModel
        >>> model = GFModel(GFConfig(image_size=(60, 60), patch_size=28, glance_size=16)).eval()
        >>> out = model.glance(torch.rand(4, 1, 60, 60))
        >>> out.logits.shape, out.state.shape
        (torch.Size([4, 10]), torch.Size([4, 256]))
    """

    def __init__(self, config: GFConfig):
        super().__init__()
        self.config = config
        kwargs = dict(
            in_chans=config.in_chans, num_classes=config.num_classes, **config.backbone_kwargs
        )
        if config.bn_eps is not None:
            kwargs["bn_eps"] = config.bn_eps
        self.global_encoder = build_backbone(
            config.backbone, input_size=config.glance_size, **kwargs
        )
        self.local_encoder = build_backbone(config.backbone, input_size=config.patch_size, **kwargs)
        feature_dim = self.local_encoder.feature_dim
        if config.head == "cascade":
            self.head = CascadeHead(feature_dim, config.cascade_steps, config.num_classes)
            self.state_range = (-math.inf, math.inf)  # raw features and a step count
        else:
            self.head = RecurrentHead(feature_dim, config.hidden_size, config.num_classes)
        self.register_buffer("mean", torch.tensor(config.mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(config.std).view(1, -1, 1, 1), persistent=False)
        self._flops: StepFlops | None = None

    state_range = (-1.0, 1.0)  # a GRU state is a tanh output

    num_classes = property(lambda self: self.config.num_classes)
    in_chans = property(lambda self: self.config.in_chans)
    patch_size = property(lambda self: self.config.patch_size)

    @property
    def state_dim(self) -> int:
        if isinstance(self.head, CascadeHead):
            return self.head.state_dim
        return self.config.hidden_size

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        return tuple(self.local_encoder.feature_map_shape)

    @property
    def device(self) -> torch.device:
        return self.mean.device

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    @property
    def preprocessing(self) -> Preprocessing:
        """The model's preprocessing record (:attr:`GFConfig.preprocessing`)."""
        return self.config.preprocessing

    def resize_glance(self, images: torch.Tensor) -> torch.Tensor:
        """Resize whole images to ``glance_size`` as the config's glance fields say."""
        cfg = self.config
        return resize_glance(
            images,
            cfg.glance_size,
            cfg.glance_interpolation,
            cfg.glance_align_corners,
            cfg.glance_antialias,
        )

    def _step(
        self, encoder: nn.Module, x: torch.Tensor, state: torch.Tensor | None
    ) -> tuple[StepOutput, torch.Tensor]:
        fmap = encoder.forward_features(self._normalize(x))
        pooled, aux_logits = encoder.forward_head(fmap)
        if isinstance(self.head, CascadeHead):
            logits, state = self.head(pooled, state, aux_logits)
        else:
            glance = state is None
            logits, state = self.head(pooled, state)
            if glance and self.config.glance_logits == "encoder":
                logits = aux_logits  # the head only starts its state (GFNet's RegNet glance)
        return StepOutput(logits, state, fmap), aux_logits

    def glance(self, images: torch.Tensor) -> StepOutput:
        """Resize whole images to ``glance_size`` and run the global encoder and the head from an
        empty state; the feature map is pooled to ``feature_shape``."""
        out = self._step(self.global_encoder, self.resize_glance(images), None)[0]
        size = self.feature_shape[1:]
        if out.features.shape[-2:] != size:  # report the glance map at the focus map's size
            out = StepOutput(out.logits, out.state, F.adaptive_avg_pool2d(out.features, size))
        return out

    def focus(self, patches: torch.Tensor, state: torch.Tensor) -> StepOutput:
        """Run the local encoder on full-resolution patches and update ``state``."""
        return self._step(self.local_encoder, patches, state)[0]

    def forward(
        self, images: torch.Tensor, locations: torch.Tensor
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """:meth:`unroll`, as ``forward`` so that wrappers such as DistributedDataParallel see
        the training computation."""
        return self.unroll(images, locations)

    def unroll(
        self, images: torch.Tensor, locations: torch.Tensor
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Glance, then focus at ``locations`` ``(N, T-1, 2)`` in [0, 1]; differentiable.

        Returns:
            Per step (glance first), the head's logits and the encoder's own logits.
        """
        out, aux = self._step(self.global_encoder, self.resize_glance(images), None)
        steps = [(out.logits, aux)]
        size = (images.shape[-2], images.shape[-1])
        for t in range(locations.shape[1]):
            corners = patch_corners(locations[:, t], size, self.config.patch_size)
            patches = crop_patches(images, corners, self.config.patch_size)
            out, aux = self._step(self.local_encoder, patches, out.state)
            steps.append((out.logits, aux))
        return steps

    def step_flops(self) -> StepFlops:
        """FLOPs per image of a glance on ``image_size`` and of one focus step, counted once by
        ``torch.utils.flop_counter`` on a CPU copy (its CUDA RNN kernels have no FLOP formula)."""
        if self._flops is None:
            cfg = self.config
            model = self if self.device.type == "cpu" else copy.deepcopy(self).cpu()
            images = torch.zeros(1, cfg.in_chans, *cfg.image_size)
            patches = torch.zeros(1, cfg.in_chans, cfg.patch_size, cfg.patch_size)
            with torch.no_grad():
                state = model.glance(images).state  # a cascaded head needs its step count
            self._flops = StepFlops(
                glance=count_flops(model.glance, images),
                focus=count_flops(model.focus, patches, state),
            )
        return self._flops
