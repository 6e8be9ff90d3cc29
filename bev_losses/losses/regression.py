"""Element-wise regression losses: L1, MSE and Smooth L1 (Huber divided by ``beta``).

Functional core (``l1_loss``, ``mse_loss``, ``smooth_l1_loss``) and thin modules (``L1Loss``,
``MSELoss``, ``SmoothL1Loss``) with mmdet's call contract
``forward(pred, target, weight=None, avg_factor=None, reduction_override=None)``.

Shapes:
    pred: ``(*)``, any shape, floating point.
    target: ``(*)``, the shape of ``pred`` (cast to ``pred``'s dtype).
    weight: optional, broadcastable onto ``(*)`` by torch's rule, as mmdet's
        ``weight_reduce_loss`` multiplies it: ``(*)``, ``(C,)`` onto ``(N, C)``, a scalar; a
        per-row weight is ``(N, 1)`` (a ``(N,)`` weight scales the *last* dim, as in mmdet, and
        is a ``ValueError`` unless that dim has ``N`` entries).
    output: ``(*)`` for ``reduction='none'``, else a scalar.

Each is torch's element-wise kernel (``reduction='none'``) and the shared reducer: one path.
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

from ..registry import MODELS
from .base import BaseLoss, no_autocast, to_float32
from .reduction import check_avg_factor, check_reduction, weight_reduce_loss

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


def _elementwise(kind: str, pred: Tensor, target: Tensor, beta: float,
                 reduction: str = 'none') -> Tensor:
    """torch's kernel of ``kind`` on ``pred``, ``target`` ``(*)``: ``(*)`` for ``'none'``,
    else its own ``'mean'`` / ``'sum'``; ``smooth_l1`` with ``beta = 0`` is L1 (as
    ``F.smooth_l1_loss``)."""
    if kind == 'mse':
        return F.mse_loss(pred, target, reduction=reduction)
    if kind == 'l1' or beta == 0.0:
        return F.l1_loss(pred, target, reduction=reduction)
    return F.smooth_l1_loss(pred, target, reduction=reduction, beta=beta)


def _reduced(kind: str, name: str, pred: Tensor, target: Tensor, weight: Optional[Tensor],
             reduction: str, avg_factor: AvgFactor, beta: float = 1.0) -> Tensor:
    """The loss ``kind`` (``'l1'``, ``'mse'``, ``'smooth_l1'``) of ``pred``, ``target`` ``(*)``,
    weighted and reduced: torch's element-wise kernel, then the shared reducer with mmdet's
    weight rule (torch broadcasting). Every function and module ends here; ``name`` is the one
    errors carry."""
    check_reduction(reduction)
    avg_factor = check_avg_factor(avg_factor)
    pred, target = _prepare(pred, target, name)
    with no_autocast(pred):
        if target is None:
            return pred.sum() * 0
        if weight is None and avg_factor is None and reduction != 'none' and pred.numel() > 0:
            # the plain call: torch's kernel reduces itself (one pass less than 'none' + mean)
            return _elementwise(kind, pred, target, beta, reduction)
        loss = _elementwise(kind, pred, target, beta)
        return weight_reduce_loss(loss, to_float32(weight), reduction, avg_factor, 'broadcast')


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
        reduction = self.resolve_reduction(reduction_override)
        return self.scale(_reduced(self._kind, self._name, pred, target, weight, reduction,
                                   avg_factor, self.beta))


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
