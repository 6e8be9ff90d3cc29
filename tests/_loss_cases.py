"""One catalogue of every bev-losses loss configuration, shared by the reliability tests.

Each :class:`Case` builds a loss module and a small deterministic input (``pred``, ``target``
and extra keyword arguments of ``forward``). Every floating input is on the bfloat16 grid and
its magnitudes lie where float16 is exact too, so casting the inputs to float16 / bfloat16 is
lossless: the float32 value of the loss on those inputs is then unambiguous.

Used by ``test_mixed_precision.py`` and ``test_nan_and_bad_input.py``.
"""
import math
from dataclasses import dataclass, field
from typing import Callable, Dict, Tuple

import torch
import torch.nn.functional as F

import bev_losses.losses as L


def on_half_grid(x: torch.Tensor) -> torch.Tensor:
    """Round to bfloat16, flush magnitudes < 1e-3 to 0: exact in float16 and bfloat16."""
    x = x.to(torch.bfloat16).float()
    x = torch.where(x.abs() < 1e-3, torch.zeros_like(x), x)
    assert torch.equal(x.half().float(), x) and torch.equal(x.bfloat16().float(), x)
    return x


def _logits(g, *shape, scale=3.0):
    return on_half_grid(torch.randn(*shape, generator=g) * scale)


def _probs(g, *shape):
    """Probabilities in [0, 1] including exact 0 and 1."""
    p = on_half_grid(torch.rand(*shape, generator=g))
    flat = p.view(-1)
    if flat.numel() >= 2:
        flat[0], flat[1] = 0.0, 1.0
    return p


def _labels(g, n, high, ignore=None):
    t = torch.randint(0, high, (n,), generator=g)
    if ignore is not None and n > 2:
        t[1] = ignore
    return t


def _heatmap(g, *shape):
    t = on_half_grid(torch.rand(*shape, generator=g) ** 4)
    t.view(-1)[:: max(1, t.numel() // 3)] = 1.0  # a few exact peaks
    return t


def _bev_boxes(g, n):
    xy = torch.randn(n, 2, generator=g) * 2
    size = torch.rand(n, 2, generator=g) * 3 + 0.5
    yaw = (torch.rand(n, 1, generator=g) * 2 - 1) * math.pi
    return on_half_grid(torch.cat((xy, size, yaw), 1))


def _bev_pair(g, n):
    b1 = _bev_boxes(g, n)
    b2 = b1 + torch.randn(n, 5, generator=g) * 0.5
    b2[:, 2:4] = b2[:, 2:4].abs() + 0.25
    b2 = on_half_grid(b2)
    b2[0] = b1[0]  # one identical pair
    return b1, b2


def _box3d_pair(g, n):
    b1, b2 = _bev_pair(g, n)
    z = on_half_grid(torch.randn(n, 2, generator=g))
    dz = on_half_grid(torch.rand(n, 2, generator=g) * 2 + 0.5)
    p = torch.cat((b1[:, :2], z[:, :1], b1[:, 2:4], dz[:, :1], b1[:, 4:]), 1)
    t = torch.cat((b2[:, :2], z[:, 1:], b2[:, 2:4], dz[:, 1:], b2[:, 4:]), 1)
    t[0] = p[0]
    return p, t


def _xyxy_pair(g, n):
    lo = torch.randn(n, 2, generator=g) * 3
    wh = torch.rand(n, 2, generator=g) * 4 + 0.5
    p = on_half_grid(torch.cat((lo, lo + wh), 1))
    lo2 = lo + torch.randn(n, 2, generator=g)
    wh2 = torch.rand(n, 2, generator=g) * 4 + 0.5
    t = on_half_grid(torch.cat((lo2, lo2 + wh2), 1))
    t[0] = p[0]
    return p, t


@dataclass
class Case:
    """A loss configuration: ``build(**overrides)`` and ``inputs(generator)``.

    ``inputs`` returns ``(pred, target, kwargs)``; ``kwargs`` go to ``forward`` by keyword.
    ``nan_index`` is a flat index of ``pred`` whose element takes part in the loss (not an
    ignored sample), used to plant a NaN.
    """
    id: str
    cls: type
    ctor: Dict = field(default_factory=dict)
    make: Callable = None
    nan_index: int = 0

    def build(self, **overrides):
        return self.cls(**{**self.ctor, **overrides})

    def inputs(self, seed: int = 0) -> Tuple[torch.Tensor, torch.Tensor, Dict]:
        g = torch.Generator().manual_seed(seed)
        out = self.make(g)
        return out if len(out) == 3 else (out[0], out[1], {})


N, C = 6, 4

CASES = [
    # -------------------------------------------------------------- cross-entropy
    Case('ce_softmax_index', L.CrossEntropyLoss, {},
         lambda g: (_logits(g, N, C), _labels(g, N, C, ignore=-100))),
    Case('ce_softmax_index_spatial', L.CrossEntropyLoss, {},
         lambda g: (_logits(g, 2, C, 3, 3), torch.randint(0, C, (2, 3, 3), generator=g))),
    Case('ce_softmax_prob_target', L.CrossEntropyLoss, {},
         lambda g: (_logits(g, N, C), on_half_grid(F.one_hot(_labels(g, N, C), C).float()
                                                   * 0.75 + 0.0625))),
    Case('ce_softmax_smooth_class_weight', L.CrossEntropyLoss,
         dict(label_smoothing=0.125, class_weight=[1.0, 2.0, 0.5, 1.5]),
         lambda g: (_logits(g, N, C), _labels(g, N, C))),
    Case('ce_sigmoid_labels', L.CrossEntropyLoss, dict(use_sigmoid=True),
         lambda g: (_logits(g, N, C), _labels(g, N, C + 1, ignore=-100))),
    Case('ce_sigmoid_soft_target', L.CrossEntropyLoss, dict(use_sigmoid=True),
         lambda g: (_logits(g, N, C), _probs(g, N, C))),
    # -------------------------------------------------------------------- focal
    Case('focal_sigmoid_labels', L.FocalLoss, {},
         lambda g: (_logits(g, N, C), _labels(g, N, C + 1))),
    Case('focal_sigmoid_labels_ignore', L.FocalLoss, dict(ignore_index=-1),
         lambda g: (_logits(g, N, C), _labels(g, N, C + 1, ignore=-1))),
    Case('focal_sigmoid_soft_target', L.FocalLoss, dict(gamma=1.5),
         lambda g: (_logits(g, N, C), _probs(g, N, C))),
    Case('focal_activated_labels', L.FocalLoss, dict(activated=True),
         lambda g: (_probs(g, N, C), _labels(g, N, C + 1)), nan_index=5),
    Case('focal_activated_soft_target', L.FocalLoss, dict(activated=True),
         lambda g: (_probs(g, N, C), _probs(g, N, C)), nan_index=5),
    Case('focal_softmax_index', L.FocalLoss, dict(use_sigmoid=False),
         lambda g: (_logits(g, N, C), _labels(g, N, C, ignore=-100))),
    Case('focal_softmax_prob_target', L.FocalLoss, dict(use_sigmoid=False, gamma=0.5),
         lambda g: (_logits(g, N, C), on_half_grid(torch.softmax(_logits(g, N, C), 1)))),
    # ----------------------------------------------------------- gaussian focal
    Case('gaussian_focal_activated', L.GaussianFocalLoss, {},
         lambda g: (_probs(g, 2, C, 4, 4), _heatmap(g, 2, C, 4, 4)), nan_index=7),
    Case('gaussian_focal_logits', L.GaussianFocalLoss, dict(activated=False),
         lambda g: (_logits(g, 2, C, 4, 4), _heatmap(g, 2, C, 4, 4))),
    Case('gaussian_focal_pos_inds', L.GaussianFocalLoss, {},
         lambda g: (_probs(g, N, C), on_half_grid(torch.rand(N, C, generator=g) * 0.5),
                    dict(pos_inds=torch.tensor([0, 3]), pos_labels=torch.tensor([1, 2]))),
         nan_index=5),
    # ---------------------------------------------------------------------- KL
    Case('kl_div', L.KLDivLoss, {},
         lambda g: (on_half_grid(torch.log_softmax(_logits(g, N, C), 1)),
                    on_half_grid(torch.softmax(_logits(g, N, C), 1)))),
    Case('kl_div_log_target_batchmean', L.KLDivLoss, dict(log_target=True,
                                                          reduction='batchmean'),
         lambda g: (on_half_grid(torch.log_softmax(_logits(g, N, C), 1)),
                    on_half_grid(torch.log_softmax(_logits(g, N, C), 1)))),
    Case('kl_div_distill', L.KLDivLoss, dict(from_logits=True, temperature=2.0),
         lambda g: (_logits(g, N, C), _logits(g, N, C))),
    # -------------------------------------------------------------- regression
    Case('l1', L.L1Loss, {}, lambda g: (_logits(g, N, 7), _logits(g, N, 7))),
    Case('mse', L.MSELoss, {}, lambda g: (_logits(g, N, 7), _logits(g, N, 7))),
    Case('smooth_l1', L.SmoothL1Loss, dict(beta=0.5),
         lambda g: (_logits(g, N, 7), _logits(g, N, 7))),
    Case('smooth_l1_beta0', L.SmoothL1Loss, dict(beta=0.0),
         lambda g: (_logits(g, N, 7), _logits(g, N, 7))),
    # -------------------------------------------------------------------- GIoU
    Case('giou_xyxy', L.GIoULoss, dict(box_format='xyxy'), lambda g: _xyxy_pair(g, N),
         nan_index=4),
    Case('giou_bev', L.GIoULoss, dict(box_format='bev'), lambda g: _bev_pair(g, N),
         nan_index=5),
    Case('giou_3d', L.GIoULoss, dict(box_format='3d'), lambda g: _box3d_pair(g, N),
         nan_index=7),
]

CASE_IDS = [c.id for c in CASES]
BY_ID = {c.id: c for c in CASES}


def call(loss, pred, target, kwargs, **extra):
    """``loss(pred, target, **kwargs, **extra)``: every argument but the first two by keyword."""
    return loss(pred, target, **kwargs, **extra)


def cpu_autocast_supports(dtype: torch.dtype) -> bool:
    """Whether ``torch.autocast('cpu', dtype=dtype)`` really autocasts in this torch (float16 on
    CPU came with torch 2.4; older versions refuse or disable it)."""
    import warnings

    from bev_losses.losses.base import _autocast_enabled
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings('error', message='.*autocast.*', category=UserWarning)
            with torch.autocast('cpu', dtype=dtype):
                return _autocast_enabled('cpu')
    except (RuntimeError, UserWarning):
        return False


#: torch.compile(fullgraph=True) of the losses needs dynamo support of ``setup_context``
#: Functions and ``torch.compiler.is_compiling`` (torch >= 2.3)
COMPILE_FULLGRAPH = hasattr(getattr(torch, 'compiler', None), 'is_compiling')
