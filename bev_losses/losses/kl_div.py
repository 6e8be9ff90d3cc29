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

from ..registry import MODELS
from .base import BaseLoss, no_autocast, to_float32
from .checks import check_pred
from .reduction import check_avg_factor, weight_reduce_loss

__all__ = ['kl_div', 'KLDivLoss']

Number = Union[int, float]
KL_REDUCTIONS = ('none', 'mean', 'sum', 'batchmean')


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
    check_pred(pred, min_dim=2 if from_logits else 0)
    if not isinstance(target, torch.Tensor):
        raise TypeError(f'target must be a torch.Tensor, got {type(target).__name__}')
    if not target.is_floating_point():
        raise TypeError(f'target must be a floating point tensor, got {target.dtype}')
    if target.shape != pred.shape:
        raise ValueError(f'target of shape {tuple(target.shape)} must have the shape of pred '
                         f'{tuple(pred.shape)}')
    avg_factor = check_avg_factor(avg_factor)
    if reduction == 'batchmean' and avg_factor is not None:
        raise ValueError('avg_factor can not be used with reduction="batchmean"')
    with no_autocast(pred):
        pred = to_float32(pred)
        target = to_float32(target)
        if from_logits:
            pred = F.log_softmax(pred / temperature, dim=1)
            target = F.log_softmax(target / temperature, dim=1)
            log_target = True
        loss = F.kl_div(pred, target, reduction='none', log_target=log_target)
        if log_target:
            # a target log-probability of -inf (probability 0) contributes 0, as target 0 does
            # in probability space (torch gives 0 * inf = NaN); NaN in pred still propagates
            zero = torch.isneginf(target) & ~torch.isnan(pred)
            loss = torch.where(zero, loss.new_zeros(()), loss)
        if from_logits and temperature != 1.0:
            loss = loss * (temperature * temperature)
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
        reduction = self.resolve_reduction(reduction_override)
        return self.scale(_kl_div(pred, target, weight, reduction, avg_factor, self.log_target,
                                  self.from_logits, self.temperature))

    def extra_repr(self) -> str:
        return (f'log_target={self.log_target}, from_logits={self.from_logits}, '
                f'temperature={self.temperature}, ' + super().extra_repr())
