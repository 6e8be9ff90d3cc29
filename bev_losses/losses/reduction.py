"""The one reducer every bev-losses loss goes through (mmdet's call contract).

``weight_reduce_loss(loss, weight, reduction, avg_factor, weight_rule)``:

* ``weight`` (optional) is multiplied onto the element-wise ``loss`` after being aligned with it
  by :func:`align_weight` under the loss's ``weight_rule`` (mmdet's rule for that loss);
* ``reduction='none'`` returns the weighted element-wise loss;
* ``reduction='sum'`` returns its sum; with ``avg_factor`` this is a ``ValueError`` (as mmdet);
* ``reduction='mean'`` returns its mean, or ``sum / (avg_factor + eps)`` when ``avg_factor`` is
  given, with ``eps = torch.finfo(torch.float32).eps`` exactly as mmdet. ``avg_factor`` may be a
  number or a one-element tensor (kept on its device: no host read).

An empty ``loss`` reduces to a zero that is still connected to the graph (``loss.sum()``), never
to the NaN of ``torch.mean`` over nothing. Nothing here reads tensor data.
"""
import numbers
from typing import Optional, Union

import torch
from torch import Tensor

REDUCTIONS = ('none', 'mean', 'sum')
EPS = torch.finfo(torch.float32).eps
WEIGHT_RULES = ('broadcast', 'rows')

AvgFactor = Optional[Union[float, Tensor]]


def check_reduction(reduction: str, name: str = 'reduction') -> str:
    """Return ``reduction`` if it is one of ``none|mean|sum``, else raise ``ValueError``."""
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(f'{name} must be one of {REDUCTIONS}, got {reduction!r}')
    return reduction


def check_avg_factor(avg_factor) -> AvgFactor:
    """``None``, a real number or a one-element real tensor; else ``TypeError`` / ``ValueError``
    naming ``avg_factor`` (structure only: a tensor's value is not read)."""
    if avg_factor is None:
        return None
    if isinstance(avg_factor, torch.Tensor):
        if avg_factor.numel() != 1 or avg_factor.dtype == torch.bool \
                or avg_factor.dtype.is_complex:
            raise ValueError(f'avg_factor must be a number or a one-element real tensor, got '
                             f'a {avg_factor.dtype} tensor of shape {tuple(avg_factor.shape)}')
        return avg_factor.reshape(())
    if isinstance(avg_factor, bool) or not isinstance(avg_factor, numbers.Real):
        raise TypeError(f'avg_factor must be None, a number or a one-element tensor, got '
                        f'{type(avg_factor).__name__} ({avg_factor!r})')
    return float(avg_factor)


def align_weight(weight: Tensor, loss: Tensor, rule: str = 'rows') -> Tensor:
    """Reshape ``weight`` so that it broadcasts onto ``loss``, by mmdet's rule for the loss.

    ``rule='broadcast'`` (mmdet's ``weight_reduce_loss``: regression, KL, Gaussian focal):
    the same shape, or anything torch broadcasting turns into ``loss``'s shape, e.g. ``(C,)``
    onto ``(N, C)``; a ``(N,)`` weight onto a ``(N, C)`` loss broadcasts over the *last* dim,
    so it fits only when ``N == C`` (then it scales columns, exactly as mmdet); otherwise it is
    a ``ValueError`` that says to pass ``weight[:, None]`` for per-row weights.

    ``rule='rows'`` (mmdet's focal loss and sigmoid cross-entropy, per-sample weights), in
    this order: the same shape; a prefix of ``loss``'s shape, e.g. ``(N,)`` onto ``(N, C)``,
    trailing singleton dims appended (rows, also when ``N == C``, as mmdet); the same number of
    elements (mmdet's flattened per-anchor-per-class weight); torch broadcasting.

    Raises:
        TypeError: ``weight`` is not a tensor.
        ValueError: none of the above applies; the message names both shapes.
    """
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f'weight must be a torch.Tensor or None, got {type(weight).__name__}')
    if weight.shape == loss.shape:
        return weight
    if rule == 'rows':
        if 0 < weight.dim() < loss.dim() and weight.shape == loss.shape[:weight.dim()]:
            return weight.reshape(tuple(weight.shape) + (1,) * (loss.dim() - weight.dim()))
        if weight.dim() > 0 and loss.dim() > 0 and weight.numel() == loss.numel():
            return weight.reshape(loss.shape)
    elif rule != 'broadcast':
        raise ValueError(f'weight rule must be one of {WEIGHT_RULES}, got {rule!r}')
    try:
        if torch.broadcast_shapes(weight.shape, loss.shape) == loss.shape:
            return weight
    except RuntimeError:
        pass
    hint = ''
    if rule == 'broadcast' and 0 < weight.dim() < loss.dim() \
            and weight.shape == loss.shape[:weight.dim()]:
        hint = ('; weights broadcast from the last dim (as mmdet): pass a per-row weight as '
                'weight[:, None]')
    raise ValueError(f'weight of shape {tuple(weight.shape)} cannot be applied to the '
                     f'element-wise loss of shape {tuple(loss.shape)}{hint}')


def weight_reduce_loss(loss: Tensor,
                       weight: Optional[Tensor] = None,
                       reduction: str = 'mean',
                       avg_factor: AvgFactor = None,
                       weight_rule: str = 'rows') -> Tensor:
    """Apply ``weight`` and reduce the element-wise ``loss`` (see the module docstring).

    Args:
        loss: element-wise loss, any shape.
        weight: optional weight, aligned to ``loss`` by :func:`align_weight` (``weight_rule``).
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        avg_factor: optional divisor replacing the element count of ``'mean'`` (a number or a
            one-element tensor).
        weight_rule: ``'rows'`` or ``'broadcast'``, see :func:`align_weight`.

    Returns:
        ``loss``'s shape for ``'none'``, else a scalar ``()``.
    """
    check_reduction(reduction)
    avg_factor = check_avg_factor(avg_factor)
    if weight is not None:
        loss = loss * align_weight(weight, loss, weight_rule).to(loss.dtype)
    if avg_factor is None:
        if reduction == 'mean':
            return loss.mean() if loss.numel() > 0 else loss.sum()
        if reduction == 'sum':
            return loss.sum()
        return loss
    if reduction == 'mean':
        return loss.sum() / (avg_factor + EPS)
    if reduction == 'sum':
        raise ValueError('avg_factor can not be used with reduction="sum"')
    return loss


def divide_nonzero(total: Tensor, count: Tensor) -> Tensor:
    """``total / count`` for a ``count`` tensor that may be 0 (then ``total`` is 0 too: a
    mean over nothing is 0, connected to the graph, instead of NaN). No host read."""
    return total / torch.where(count != 0, count, count.new_ones(()))


def reduce_sum(total: Tensor, numel: int, reduction: str,
               avg_factor: AvgFactor = None) -> Tensor:
    """Finish ``'mean'`` / ``'sum'`` from an already weighted sum ``total ()`` of ``numel``
    element-wise losses: what :func:`weight_reduce_loss` returns for the element-wise loss
    (``'mean'``: ``total / numel``, or ``total / (avg_factor + eps)``; an empty loss gives
    ``total``, 0)."""
    avg_factor = check_avg_factor(avg_factor)
    if avg_factor is None:
        return total / numel if reduction == 'mean' and numel > 0 else total
    if reduction == 'sum':
        raise ValueError('avg_factor can not be used with reduction="sum"')
    return total / (avg_factor + EPS)
