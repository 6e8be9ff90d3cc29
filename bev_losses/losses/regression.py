"""Element-wise regression losses: L1, MSE and Smooth L1 (Huber divided by ``beta``).

Functional core (``l1_loss``, ``mse_loss``, ``smooth_l1_loss``) and thin modules (``L1Loss``,
``MSELoss``, ``SmoothL1Loss``) with mmdet's call contract
``forward(pred, target, weight=None, avg_factor=None, reduction_override=None)``.

Shapes:
    pred: ``(*)``, any shape, floating point.
    target: ``(*)``, the shape of ``pred`` (cast to ``pred``'s dtype).
    weight: optional, anything :func:`bev_losses.losses.reduction.align_weight` accepts,
        e.g. ``(*)``, a prefix of ``pred``'s shape such as ``(N,)`` for ``(N, C)``, or a scalar.
    output: ``(*)`` for ``reduction='none'``, else a scalar.

Plain calls equal ``torch.nn.functional.l1_loss`` / ``mse_loss`` / ``smooth_l1_loss``; with
``weight`` / ``avg_factor`` they equal mmdet 3.3's ``L1Loss`` / ``MSELoss`` / ``SmoothL1Loss``.
Differences from mmdet: ``beta=0`` is allowed (exactly L1, finite gradients: torch's kernel),
``beta<0`` and shape mismatches raise ``ValueError`` instead of ``assert``; half / bfloat16
inputs and autocast regions are computed and returned in float32; an empty ``pred``/``target``
pair gives 0 connected to the graph (mmdet: NaN from ``mean`` of nothing for ``MSELoss``).
As in mmdet, an empty ``target`` with a non-empty ``pred`` gives ``pred.sum() * 0`` (0 with a
graph, NaN if ``pred`` holds NaN).
"""
import math
from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..registry import MODELS
from .base import BaseLoss, autocast_off, no_autocast, to_float32
from .reduction import (EPS, align_weight, check_reduction, reduce_weighted_sum,
                        weight_reduce_loss)

__all__ = ['l1_loss', 'mse_loss', 'smooth_l1_loss', 'L1Loss', 'MSELoss', 'SmoothL1Loss']

AvgFactor = Optional[Union[float, Tensor]]


def _check_beta(beta: float) -> float:
    if isinstance(beta, bool) or not isinstance(beta, (int, float)):
        raise TypeError(f'beta must be a real number >= 0, got {type(beta).__name__} ({beta!r})')
    if not math.isfinite(beta) or beta < 0:
        raise ValueError(f'beta must be a finite number >= 0, got {beta!r}')
    return float(beta)


def _prepare(pred: Tensor, target: Tensor, name: str):
    """Validate ``pred``/``target`` and bring them to one float (>= float32) dtype."""
    if not isinstance(pred, torch.Tensor):
        raise TypeError(f'{name}: pred must be a torch.Tensor, got {type(pred).__name__}')
    if not isinstance(target, torch.Tensor):
        raise TypeError(f'{name}: target must be a torch.Tensor, got {type(target).__name__}')
    if not pred.is_floating_point():
        raise TypeError(f'{name}: pred must be a floating point tensor, got {pred.dtype}')
    pred = to_float32(pred)
    if target.numel() == 0 and pred.shape != target.shape:
        return pred, None  # mmdet's empty-target case: pred.sum() * 0
    if pred.shape != target.shape:
        raise ValueError(f'{name}: pred and target must have the same shape, got pred of shape '
                         f'{tuple(pred.shape)} and target of shape {tuple(target.shape)}')
    if target.dtype != pred.dtype:
        target = target.to(pred.dtype)
    return pred, target


class _WeightedSum(torch.autograd.Function):
    """``sum(weight * f(pred - target))`` for L1 / MSE / Smooth L1, with an analytic gradient.

    Shapes: ``pred``, ``target`` ``(*)``; ``weight`` ``None`` or broadcastable onto ``(*)``
    (already aligned, ``pred``'s dtype); output ``()``, the sum divided by ``divisor`` (a
    number: 1, the element count of ``'mean'`` or ``avg_factor + eps``).

    With ``d = pred - target`` the forward builds ``g = weight * f'(d) / k`` and ``h`` such that
    the sum is one dot product ``dot(g, h) * c`` (a single fused reduction, no element-wise
    loss kept), and saves only ``g``; backward is ``grad_out * k * g``:

    * MSE: ``f'(d)/k = d`` (``k = 2``), ``h = d``, ``c = 1``;
    * L1 (and Smooth L1 with ``beta = 0``): ``g = weight * sign(d)``, ``h = d``;
    * Smooth L1: ``g = weight * clamp(d, -beta, beta)``, ``h = d - clamp(d, -beta, beta) / 2``,
      ``c = k = 1 / beta``; this is ``0.5 d**2 / beta`` inside ``|d| < beta`` and
      ``|d| - beta / 2`` outside, the gradient ``clamp(d / beta, -1, 1)`` as torch's.

    NaN in ``pred`` propagates into the value (``dot``); its gradient equals torch's kernels'
    (``sign(NaN) = 0`` for L1 as ``F.l1_loss``'s backward).
    """

    @staticmethod
    def forward(ctx, pred: Tensor, target: Tensor, weight: Optional[Tensor], kind: str,
                beta: float, divisor: float) -> Tensor:
        d = torch.sub(pred, target)
        if kind == 'smooth_l1' and beta == 0.0:
            kind = 'l1'
        if kind == 'mse':
            g, h, k = (d if weight is None else d * weight), d, 2.0
        elif kind == 'l1':
            g, h, k = torch.sign(d), d, 1.0
            if weight is not None:
                g.mul_(weight)
        else:
            g = torch.clamp(d, -beta, beta)
            h = d.sub_(g, alpha=0.5)                    # in place: d is no longer needed
            if weight is not None:
                g.mul_(weight)
            k = 1.0 / beta
        total = torch.dot(g.reshape(-1), h.reshape(-1))
        if kind == 'smooth_l1':
            total.mul_(k)
        if divisor != 1.0:
            total.div_(divisor)
        ctx.k = k / divisor
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            ctx.save_for_backward(g)
        return total

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        (g,) = ctx.saved_tensors
        grad = g * (grad_out * ctx.k)
        grad_target = -grad if ctx.needs_input_grad[1] else None
        return (grad if ctx.needs_input_grad[0] else None), grad_target, None, None, None, None


# torch's own element-wise kernels, called as ``F.l1_loss`` / ``F.mse_loss`` /
# ``F.smooth_l1_loss`` call them once they have broadcast ``pred`` and ``target``. Here the
# shapes are already checked equal, so the ~4 us of Python those wrappers spend per call
# (``__torch_function__`` dispatch, size warning, ``broadcast_tensors``) is skipped; the values
# and gradients are the same kernels'. Without the private entry points, the public ones.
try:
    from torch.nn import _reduction as _torch_reduction
    _ENUM = {r: _torch_reduction.get_enum(r) for r in ('none', 'mean', 'sum')}
    _L1, _MSE, _SMOOTH_L1 = (torch._C._nn.l1_loss, torch._C._nn.mse_loss,
                             torch._C._nn.smooth_l1_loss)
except (ImportError, AttributeError):  # pragma: no cover - other torch builds
    _ENUM = {r: r for r in ('none', 'mean', 'sum')}

    def _L1(p, t, r):
        return F.l1_loss(p, t, reduction=r)

    def _MSE(p, t, r):
        return F.mse_loss(p, t, reduction=r)

    def _SMOOTH_L1(p, t, r, beta):
        return F.smooth_l1_loss(p, t, reduction=r, beta=beta)


def _kernel(kind: str, pred: Tensor, target: Tensor, reduction: str, beta: float) -> Tensor:
    """torch's kernel of ``kind`` on ``pred``, ``target`` ``(*)`` of one shape and dtype.

    Returns ``(*)`` for ``'none'``, else a scalar; ``smooth_l1`` with ``beta = 0`` is L1 (as
    ``F.smooth_l1_loss``).
    """
    if kind == 'mse':
        return _MSE(pred, target, _ENUM[reduction])
    if kind == 'l1' or beta == 0.0:
        return _L1(pred, target, _ENUM[reduction])
    return _SMOOTH_L1(pred, target, _ENUM[reduction], beta)


# A plain L1 / MSE call smaller than this runs torch's kernel: there the ~15 us of Python a
# custom Function costs per call outweighs its fewer passes (crossover ~50k elements, 2 threads).
_PLAIN_FUSED_MIN_NUMEL = 1 << 17
# dtypes the modules' plain-call fast path passes straight to the kernel (half goes through
# :func:`_prepare`, which upcasts it)
_KERNEL_DTYPES = (torch.float32, torch.float64)


def _fused_reduced(kind: str, pred: Tensor, target: Tensor, weight: Optional[Tensor],
                   reduction: str, avg_factor: AvgFactor, beta: float) -> Tensor:
    """Weighted ``'mean'`` / ``'sum'`` of a non-empty ``pred`` ``(*)`` through
    :class:`_WeightedSum` (a weight that needs a gradient takes the generic path)."""
    if weight is not None:
        weight = align_weight(to_float32(weight), pred).to(pred.dtype)
    if isinstance(avg_factor, torch.Tensor) or (reduction == 'sum' and avg_factor is not None):
        total = _WeightedSum.apply(pred, target, weight, kind, beta, 1.0)
        return reduce_weighted_sum(total, pred.numel(), reduction, avg_factor)
    # a number: divide inside the Function (one autograd node less, ~10 us a call)
    divisor = 1.0 if reduction == 'sum' else \
        float(pred.numel()) if avg_factor is None else float(avg_factor + EPS)
    return _WeightedSum.apply(pred, target, weight, kind, beta, divisor)


def _reduced(kind: str, name: str, pred: Tensor, target: Tensor, weight: Optional[Tensor],
             reduction: str, avg_factor: AvgFactor, beta: float = 1.0) -> Tensor:
    """The loss ``kind`` (``'l1'``, ``'mse'``, ``'smooth_l1'``) of ``pred``, ``target`` ``(*)``,
    weighted and reduced (the functions and modules all end here; ``name`` is the one errors
    carry).

    ``'mean'`` / ``'sum'`` of a non-empty input go through :class:`_WeightedSum` (one dot
    product, one saved tensor; on 2 CPU threads 1.1x-2x faster than torch's own L1 / MSE
    kernels and 1.4x-9x faster than mmdet's weighted path), except a plain call (no
    ``weight``, no ``avg_factor``) of Smooth L1 (torch's fused kernel is faster) or of fewer
    than ``_PLAIN_FUSED_MIN_NUMEL`` elements, and a ``weight`` that needs a gradient. The fused
    path is differentiable once (a second derivative raises instead of being silently wrong).
    Everything else is torch's element-wise kernel and the shared reducer.
    """
    check_reduction(reduction)
    with no_autocast(pred):
        pred, target = _prepare(pred, target, name)
        if target is None:
            return pred.sum() * 0
        if reduction != 'none' and pred.numel() > 0:
            if weight is None and avg_factor is None and (
                    kind == 'smooth_l1' or pred.numel() < _PLAIN_FUSED_MIN_NUMEL):
                return _kernel(kind, pred, target, reduction, beta)
            if not (isinstance(weight, torch.Tensor) and weight.requires_grad
                    and torch.is_grad_enabled()):
                return _fused_reduced(kind, pred, target, weight, reduction, avg_factor, beta)
        loss = _kernel(kind, pred, target, 'none', beta)
        return weight_reduce_loss(loss, to_float32(weight), reduction, avg_factor)


def l1_loss(pred: Tensor,
            target: Tensor,
            weight: Optional[Tensor] = None,
            reduction: str = 'mean',
            avg_factor: AvgFactor = None) -> Tensor:
    """``|pred - target|``, weighted and reduced.

    Args:
        pred: ``(*)`` prediction.
        target: ``(*)`` target, same shape.
        weight: optional element weight broadcastable onto ``(*)`` (see module docstring).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        avg_factor: optional divisor replacing the element count of ``'mean'``.

    Returns:
        ``(*)`` for ``'none'``, else a scalar; float32 for half inputs.
    """
    return _reduced('l1', 'l1_loss', pred, target, weight, reduction, avg_factor)


def mse_loss(pred: Tensor,
             target: Tensor,
             weight: Optional[Tensor] = None,
             reduction: str = 'mean',
             avg_factor: AvgFactor = None) -> Tensor:
    """``(pred - target) ** 2``, weighted and reduced. Shapes as :func:`l1_loss`."""
    return _reduced('mse', 'mse_loss', pred, target, weight, reduction, avg_factor)


def smooth_l1_loss(pred: Tensor,
                   target: Tensor,
                   weight: Optional[Tensor] = None,
                   reduction: str = 'mean',
                   avg_factor: AvgFactor = None,
                   beta: float = 1.0) -> Tensor:
    """Smooth L1: ``0.5 * d**2 / beta`` if ``d < beta`` else ``d - 0.5 * beta``.

    ``d = |pred - target|``.
    ``beta=0`` is exactly L1 (with the L1 gradient ``sign(pred - target)``, never 0/0).
    Shapes as :func:`l1_loss`.

    Raises:
        ValueError: ``beta < 0`` (or not finite).
    """
    beta = _check_beta(beta)
    return _reduced('smooth_l1', 'smooth_l1_loss', pred, target, weight, reduction,
                    avg_factor, beta)


class _RegressionLoss(BaseLoss):
    # the loss computed and the name errors carry; the module calls :func:`_reduced` directly
    # (its arguments were validated at construction, the functional wrapper adds nothing)
    _kind = ''
    _name = ''
    beta = 1.0

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: AvgFactor = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Args: ``pred`` ``(*)``, ``target`` ``(*)``, ``weight`` broadcastable onto ``(*)``.

        Returns ``loss_weight`` times the reduced loss: ``(*)`` for ``'none'``, else a scalar.
        """
        if weight is None and avg_factor is None and reduction_override is None \
                and type(pred) is Tensor and type(target) is Tensor \
                and pred.dtype in _KERNEL_DTYPES and target.dtype == pred.dtype \
                and pred.shape == target.shape and self.loss_weight == 1.0 \
                and self.reduction != 'none' and 0 < pred.numel() \
                and (self._kind == 'smooth_l1' or pred.numel() < _PLAIN_FUSED_MIN_NUMEL) \
                and autocast_off():
            # the plain call _reduced would send to torch's kernel, without its ~2 us of
            # checks that cannot fail here (same kernel, same values and gradients)
            return _kernel(self._kind, pred, target, self.reduction, self.beta)
        reduction = self.resolve_reduction(reduction_override)
        loss = _reduced(self._kind, self._name, pred, target, weight, reduction, avg_factor,
                        self.beta)
        return loss if self.loss_weight == 1.0 else self.loss_weight * loss


@MODELS.register_module()
class L1Loss(_RegressionLoss):
    """L1 loss module (see :func:`l1_loss`).

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        loss_weight: multiplier of the result.
    """

    _kind, _name = 'l1', 'l1_loss'


@MODELS.register_module()
class MSELoss(_RegressionLoss):
    """Mean squared error module (see :func:`mse_loss`).

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        loss_weight: multiplier of the result.
    """

    _kind, _name = 'mse', 'mse_loss'


@MODELS.register_module()
class SmoothL1Loss(_RegressionLoss):
    """Smooth L1 module (see :func:`smooth_l1_loss`).

    Args:
        beta: threshold between the quadratic and linear parts, ``>= 0`` (``0``: L1).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        loss_weight: multiplier of the result.
    """

    _kind, _name = 'smooth_l1', 'smooth_l1_loss'

    def __init__(self, beta: float = 1.0, reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(reduction=reduction, loss_weight=loss_weight)
        self.beta = _check_beta(beta)

    def extra_repr(self) -> str:
        return f'beta={self.beta}, ' + super().extra_repr()
