"""Kullback-Leibler divergence, ``torch.nn.KLDivLoss``'s contract plus a distillation mode.

Plain mode: ``pred`` holds log-probabilities, ``target`` probabilities (log-probabilities with
``log_target=True``); the element-wise loss is ``target * (log target - pred)`` and every
reduction equals ``torch.nn.KLDivLoss``, including ``'batchmean'`` (sum divided by
``pred.size(0)``). Unlike torch, an empty input gives a zero connected to the graph, and with
``log_target`` a target of ``-inf`` (probability 0) contributes 0 instead of NaN.

Distillation mode (``from_logits=True``): ``pred`` and ``target`` are the student's and the
teacher's logits ``(N, C, *)`` (class dim 1); the loss is
``T**2 * KL(softmax(target / T) || softmax(pred / T))`` element-wise (Hinton et al. 2015),
reduced as above (``'batchmean'`` is the textbook choice).
"""
import numbers
from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable
from torch.nn import _reduction as _torch_reduction

from ..registry import MODELS
from .base import BaseLoss, autocast_off, no_autocast, to_float32
from .cross_entropy import _check_pred
from .reduction import EPS, reduce_weighted_sum, weight_reduce_loss

__all__ = ['kl_div', 'KLDivLoss']

Number = Union[int, float]
KL_REDUCTIONS = ('none', 'mean', 'sum', 'batchmean')
_MEAN, _SUM = _torch_reduction.get_enum('mean'), _torch_reduction.get_enum('sum')
# A plain (no weight, no avg_factor) probability-target call smaller than this runs
# ``torch.kl_div``: there the ~15 us of Python the fused Function costs per call (apply, ctx,
# a Python backward) outweighs its fewer passes (crossover 10k-50k elements, 2 threads).
_FUSED_MIN_NUMEL = 1 << 15
_KERNEL_DTYPES = (torch.float32, torch.float64)


def _check_kl_reduction(reduction, name: str = 'reduction') -> str:
    if not isinstance(reduction, str) or reduction not in KL_REDUCTIONS:
        raise ValueError(f'{name} must be one of {KL_REDUCTIONS}, got {reduction!r}')
    return reduction


def _check_options(log_target, from_logits, temperature) -> float:
    for name, v in (('log_target', log_target), ('from_logits', from_logits)):
        if not isinstance(v, bool):
            raise TypeError(f'{name} must be a bool, got {type(v).__name__}')
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise TypeError(f'temperature must be a number, got {type(temperature).__name__}')
    if not temperature > 0:
        raise ValueError(f'temperature must be > 0, got {temperature!r}')
    if from_logits and log_target:
        raise ValueError('log_target must be False with from_logits=True (target holds the '
                         "teacher's logits)")
    if not from_logits and temperature != 1:
        raise ValueError('temperature only applies with from_logits=True')
    return float(temperature)


class _KLSum(torch.autograd.Function):
    """``sum(target * (log target - pred)) / divisor`` of probability targets, without the
    element-wise loss.

    Shapes: ``pred``, ``target`` ``(*)`` of one dtype; output ``()``. ``divisor`` is a number
    (1, the element count of ``'mean'``, the batch of ``'batchmean'`` or ``avg_factor + eps``),
    applied inside (one autograd node less than a separate divide).

    The sum is ``sum(xlogy(t, t)) - dot(t, pred)``: two fused reductions, nothing of ``(*)``
    saved but ``target`` itself (an input). Backward is one multiply,
    ``target * (-grad_out / divisor)``, as ``torch.kl_div``'s (the same floating-point steps as
    a divide after this Function). NaN (or ``-inf``) in ``pred`` propagates through the dot
    product as in torch (``0 * nan``). ``target`` must not need a gradient (the caller checks).
    """

    @staticmethod
    def forward(ctx, pred: Tensor, target: Tensor, divisor: float) -> Tensor:
        total = torch.xlogy(target, target).sum()
        total = total.sub_(torch.dot(target.reshape(-1), pred.reshape(-1)))
        if divisor != 1.0:
            total = total.div_(divisor)
        ctx.divisor = divisor
        ctx.save_for_backward(target)
        return total

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        (target,) = ctx.saved_tensors
        scale = grad_out.neg()
        if ctx.divisor != 1.0:
            scale = scale.div_(ctx.divisor)
        return target * scale, None, None


def kl_div(pred: Tensor,
           target: Tensor,
           weight: Optional[Tensor] = None,
           reduction: str = 'mean',
           avg_factor: Optional[Union[Number, Tensor]] = None,
           log_target: bool = False,
           from_logits: bool = False,
           temperature: float = 1.0) -> Tensor:
    """KL divergence ``KL(target || pred)`` (see the module docstring).

    Args:
        pred: log-probabilities of any shape; logits ``(N, C, *)`` with ``from_logits``.
        target: tensor of ``pred``'s shape: probabilities, log-probabilities
            (``log_target``), or teacher logits (``from_logits``).
        weight: optional weight broadcast onto the element-wise loss.
        reduction: ``'none'`` | ``'mean'`` (over all elements) | ``'sum'`` | ``'batchmean'``
            (sum / ``pred.size(0)``).
        avg_factor: divisor of ``'mean'`` (mmdet's contract); not allowed with ``'sum'`` or
            ``'batchmean'``.
        log_target: ``target`` holds log-probabilities.
        from_logits: ``pred`` and ``target`` hold logits; class dim 1.
        temperature: softening temperature ``T > 0`` of the distillation mode; the loss is
            multiplied by ``T**2``.

    Returns:
        element-wise loss of ``pred``'s shape for ``'none'``, else a scalar.
    """
    _check_kl_reduction(reduction)
    temperature = _check_options(log_target, from_logits, temperature)
    return _kl_div(pred, target, weight, reduction, avg_factor, log_target, from_logits,
                   temperature)


def _kl_div(pred: Tensor, target: Tensor, weight: Optional[Tensor], reduction: str,
            avg_factor: Optional[Union[Number, Tensor]], log_target: bool, from_logits: bool,
            temperature: float) -> Tensor:
    """:func:`kl_div` once ``reduction`` and the options are validated (the module validates
    them at construction and calls this directly). Shapes as :func:`kl_div`."""
    _check_pred(pred, min_dim=2 if from_logits else 0)
    if not isinstance(target, torch.Tensor):
        raise TypeError(f'target must be a torch.Tensor, got {type(target).__name__}')
    if not target.is_floating_point():
        raise TypeError(f'target must be a floating point tensor, got {target.dtype}')
    if target.shape != pred.shape:
        raise ValueError(f'target of shape {tuple(target.shape)} must have the shape of pred '
                         f'{tuple(pred.shape)}')
    if reduction == 'batchmean' and avg_factor is not None:
        raise ValueError('avg_factor can not be used with reduction="batchmean"')
    with no_autocast(pred):
        pred = to_float32(pred)
        target = to_float32(target)
        if (weight is None and reduction != 'none' and not from_logits and not log_target
                and pred.numel() > 0 and target.dtype == pred.dtype
                and not (target.requires_grad and torch.is_grad_enabled())):
            if avg_factor is None and pred.numel() < _FUSED_MIN_NUMEL:
                # torch's kernel, as F.kl_div runs it, without F's Python wrapper
                if reduction == 'batchmean':
                    return torch.kl_div(pred, target, _SUM) / (
                        pred.shape[0] if pred.dim() > 0 else 1)
                return torch.kl_div(pred, target, _SUM if reduction == 'sum' else _MEAN)
            if reduction == 'batchmean':
                divisor = float(max(pred.shape[0] if pred.dim() > 0 else 1, 1))
            elif isinstance(avg_factor, torch.Tensor) or (
                    reduction == 'sum' and avg_factor is not None):
                total = _KLSum.apply(pred, target, 1.0)
                return reduce_weighted_sum(total, pred.numel(), reduction, avg_factor)
            elif reduction == 'sum':
                divisor = 1.0
            else:
                divisor = float(pred.numel()) if avg_factor is None else \
                    float(avg_factor + EPS)
            return _KLSum.apply(pred, target, divisor)
        if from_logits:
            pred = F.log_softmax(pred / temperature, dim=1)
            target = F.log_softmax(target / temperature, dim=1)
            log_target = True
        loss = F.kl_div(pred, target, reduction='none', log_target=log_target)
        if log_target:
            # a target log-probability of -inf (probability 0) contributes 0, as target 0 does
            # in probability space (torch gives 0 * inf = NaN); NaN in pred still propagates
            zero = torch.isneginf(target) & ~torch.isnan(pred)
            if bool(zero.any()):
                loss = loss.masked_fill(zero, 0.0)
        if from_logits and temperature != 1.0:
            loss = loss * (temperature * temperature)
        if weight is not None:
            weight = to_float32(weight)
        if reduction == 'batchmean':
            batch = pred.shape[0] if pred.dim() > 0 else 1
            return weight_reduce_loss(loss, weight, 'sum') / max(batch, 1)
        return weight_reduce_loss(loss, weight, reduction, avg_factor)


@MODELS.register_module()
class KLDivLoss(BaseLoss):
    """KL divergence loss, equal to ``torch.nn.KLDivLoss`` (see the module docstring).

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` | ``'batchmean'``.
        log_target: ``target`` holds log-probabilities.
        from_logits: distillation mode, ``pred``/``target`` are student/teacher logits.
        temperature: distillation temperature ``T > 0`` (loss scaled by ``T**2``).
        loss_weight: multiplier of the loss.

    Shapes:
        ``pred`` and ``target`` of the same shape (``(N, C, *)`` with ``from_logits``).
    """

    def __init__(self,
                 reduction: str = 'mean',
                 log_target: bool = False,
                 from_logits: bool = False,
                 temperature: float = 1.0,
                 loss_weight: float = 1.0) -> None:
        _check_kl_reduction(reduction)
        super().__init__('mean', loss_weight)
        self.reduction = reduction
        self.temperature = _check_options(log_target, from_logits, temperature)
        self.log_target = log_target
        self.from_logits = from_logits

    def resolve_reduction(self, reduction_override: Optional[str]) -> str:
        if reduction_override is None:
            return self.reduction
        return _check_kl_reduction(reduction_override, 'reduction_override')

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[Union[Number, Tensor]] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """``KL(target || pred)`` reduced, times ``loss_weight``."""
        reduction = self.reduction
        if weight is None and avg_factor is None and reduction_override is None \
                and reduction != 'none' and not self.from_logits and not self.log_target \
                and self.loss_weight == 1.0 and type(pred) is Tensor and type(target) is Tensor \
                and pred.dtype in _KERNEL_DTYPES and target.dtype == pred.dtype \
                and pred.shape == target.shape and 0 < pred.numel() < _FUSED_MIN_NUMEL \
                and not (target.requires_grad and torch.is_grad_enabled()) and autocast_off():
            # the small plain call of :func:`_kl_div` (torch's kernel) without its checks,
            # which cannot fail here: same ops, same values and gradients
            if reduction == 'batchmean':
                return torch.kl_div(pred, target, _SUM) / (pred.shape[0] if pred.dim() > 0
                                                           else 1)
            return torch.kl_div(pred, target, _SUM if reduction == 'sum' else _MEAN)
        reduction = self.resolve_reduction(reduction_override)
        loss = _kl_div(pred, target, weight, reduction, avg_factor, self.log_target,
                       self.from_logits, self.temperature)
        return loss if self.loss_weight == 1.0 else self.loss_weight * loss

    def extra_repr(self) -> str:
        return (f'log_target={self.log_target}, from_logits={self.from_logits}, '
                f'temperature={self.temperature}, ' + super().extra_repr())
