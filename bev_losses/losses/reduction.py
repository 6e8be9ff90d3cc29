"""The one reducer every bev-losses loss goes through (mmdet's call contract).

``weight_reduce_loss(loss, weight, reduction, avg_factor)``:

* ``weight`` (optional) is multiplied onto the element-wise ``loss`` after being aligned with it
  (see :func:`align_weight`);
* ``reduction='none'`` returns the weighted element-wise loss;
* ``reduction='sum'`` returns its sum; with ``avg_factor`` this is a ``ValueError`` (as mmdet);
* ``reduction='mean'`` returns its mean, or ``sum / (avg_factor + eps)`` when ``avg_factor`` is
  given, with ``eps = torch.finfo(torch.float32).eps`` exactly as mmdet.

An empty ``loss`` reduces to a zero that is still connected to the graph (``loss.sum()``), never
to the NaN of ``torch.mean`` over nothing.

``reduce_weighted_sum(total, numel, reduction, avg_factor)`` finishes the same ``'mean'`` /
``'sum'`` contract for fused losses that compute the weighted sum directly.
"""
from typing import Optional, Union

import torch
from torch import Tensor

REDUCTIONS = ('none', 'mean', 'sum')
EPS = torch.finfo(torch.float32).eps


def check_reduction(reduction: str, name: str = 'reduction') -> str:
    """Return ``reduction`` if it is one of ``none|mean|sum``, else raise ``ValueError``."""
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(f'{name} must be one of {REDUCTIONS}, got {reduction!r}')
    return reduction


def align_weight(weight: Tensor, loss: Tensor) -> Tensor:
    """Reshape ``weight`` so that it broadcasts onto ``loss``.

    Accepted, in this order:

    * the same shape as ``loss``;
    * a prefix of ``loss``'s shape, e.g. ``(N,)`` onto ``(N, C)`` (mmdet's per-sample weight):
      trailing singleton dims are appended;
    * the same number of elements (mmdet's flattened per-anchor-per-class weight);
    * anything torch broadcasting accepts, e.g. ``(C,)`` onto ``(N, C)`` or a scalar.

    Raises:
        TypeError: ``weight`` is not a tensor.
        ValueError: none of the above applies; the message names both shapes.
    """
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f'weight must be a torch.Tensor or None, got {type(weight).__name__}')
    if weight.shape == loss.shape:
        return weight
    if 0 < weight.dim() < loss.dim() and tuple(weight.shape) == tuple(loss.shape[:weight.dim()]):
        return weight.reshape(tuple(weight.shape) + (1,) * (loss.dim() - weight.dim()))
    if weight.dim() > 0 and weight.numel() == loss.numel() and loss.dim() > 0:
        return weight.reshape(loss.shape)
    try:
        if torch.broadcast_shapes(weight.shape, loss.shape) == loss.shape:
            return weight
    except RuntimeError:
        pass
    raise ValueError(f'weight of shape {tuple(weight.shape)} cannot be applied to the '
                     f'element-wise loss of shape {tuple(loss.shape)}')


def weight_reduce_loss(loss: Tensor,
                       weight: Optional[Tensor] = None,
                       reduction: str = 'mean',
                       avg_factor: Optional[Union[float, Tensor]] = None) -> Tensor:
    """Apply ``weight`` and reduce the element-wise ``loss`` (see the module docstring).

    Args:
        loss: element-wise loss, any shape.
        weight: optional weight, aligned to ``loss`` by :func:`align_weight`.
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        avg_factor: optional divisor replacing the element count of ``'mean'``.

    Returns:
        ``loss``'s shape for ``'none'``, else a scalar.
    """
    check_reduction(reduction)
    if weight is not None:
        loss = loss * align_weight(weight, loss).to(loss.dtype)
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


def reduce_weighted_sum(total: Tensor,
                        numel: int,
                        reduction: str = 'mean',
                        avg_factor: Optional[Union[float, Tensor]] = None) -> Tensor:
    """Finish a ``'mean'`` / ``'sum'`` reduction from an already weighted sum.

    For fused losses that compute ``total = sum(weight * loss)`` directly (a scalar) instead of
    the element-wise ``loss``: returns what :func:`weight_reduce_loss` returns for the same
    ``reduction`` and ``avg_factor``, where ``numel`` is the number of elements of the
    (weighted) element-wise loss.

    Args:
        total: scalar ``()``, the weighted sum.
        numel: element count of the element-wise loss (``> 0``), the divisor of ``'mean'``.
        reduction: ``'mean'`` or ``'sum'``.
        avg_factor: optional divisor replacing ``numel`` of ``'mean'``.

    Returns:
        a scalar ``()``.
    """
    if check_reduction(reduction) == 'none':
        raise ValueError('reduce_weighted_sum needs reduction "mean" or "sum"')
    if avg_factor is None:
        return total / numel if reduction == 'mean' else total
    if reduction == 'sum':
        raise ValueError('avg_factor can not be used with reduction="sum"')
    return total / (avg_factor + EPS)
