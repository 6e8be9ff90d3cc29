"""Gaussian focal loss (CornerNet / CenterNet / CenterPoint heatmaps), mmdet's contract.

Per element of a predicted heatmap ``p`` and a Gaussian target heatmap ``t``::

    loss = pos_weight * [t == 1] * -log(p + eps) * (1 - p)**alpha
         + neg_weight * (1 - t)**gamma * -log(1 - p + eps) * p**alpha,     eps = 1e-12

equal to mmdet 3.3's ``GaussianFocalLoss`` (dense path, and the ``pos_inds``/``pos_labels``
path of CenterNet-update). ``activated=False`` takes logits ``x`` and computes the same loss in
log space (``-log p = softplus(-x)``, ``p**alpha = exp(alpha * logsigmoid(x))``), without
``eps`` and without the clamp that mmdet3d's ``CenterHead`` applies (``clip_sigmoid``): finite
values and gradients for any finite logit.

Off the CPU (and under ``torch.compile``) the loss is dense: the positives are a mask
(``t == 1``), so no tensor data is read on the training path (no device synchronisation); for
``gamma > 0`` the negative weight ``(1 - t)**gamma`` vanishes on the positives and both terms
are one focal term (:mod:`bev_losses.losses.focal_term`) with an analytic gradient, one tensor
saved for backward. On a CPU tensor, where reading data is free, the positives are found as an
index list instead (the mask and its selections are several element-wise passes that a CPU
pays in full): the negative term runs densely with no mask and the positive term on the few
positives. The choice is made in one place (:func:`~bev_losses.losses.checks.host_reads_free`);
both variants are tested against the same references. The unreduced loss is built for
``'none'`` only; ``'mean'`` / ``'sum'`` are one sum of a temporary product.
"""
from typing import Optional, Union

import torch
from torch import Tensor

from ..registry import MODELS
from ..traps import warn_known_traps
from .base import BaseLoss, no_autocast, to_float32
from .checks import (check_bool, check_index_bounds, check_number, check_pred,
                     check_probabilities, host_reads_free)
from .focal_term import focal_term
from .reduction import (align_weight, check_avg_factor, check_reduction, reduce_sum,
                        weight_reduce_loss)

__all__ = ['gaussian_focal_loss', 'GaussianFocalLoss']

Number = Union[int, float]
EPS = 1e-12


def _neg_weight_map(target: Tensor, gamma: float, neg_weight: float) -> Tensor:
    """``neg_weight * (1 - target)**gamma``, the usual exponents as products."""
    w = torch.rsub(target, 1.0)
    if gamma == 4:
        w = w.square_().square_()
    elif gamma == 2:
        w = w.square_()
    elif gamma != 1:
        w = w.pow(gamma)
    return w if neg_weight == 1.0 else w.mul_(neg_weight)


def _check_args(alpha, gamma, pos_weight, neg_weight, activated):
    return (check_number(alpha, 'alpha', 0.0), check_number(gamma, 'gamma', 0.0),
            check_number(pos_weight, 'pos_weight'), check_number(neg_weight, 'neg_weight'),
            check_bool(activated, 'activated'))


def gaussian_focal_loss(pred: Tensor,
                        target: Tensor,
                        weight: Optional[Tensor] = None,
                        alpha: float = 2.0,
                        gamma: float = 4.0,
                        pos_weight: float = 1.0,
                        neg_weight: float = 1.0,
                        reduction: str = 'mean',
                        avg_factor: Optional[Union[Number, Tensor]] = None,
                        activated: bool = True,
                        pos_inds: Optional[Tensor] = None,
                        pos_labels: Optional[Tensor] = None) -> Tensor:
    """Gaussian focal loss (see the module docstring).

    Args:
        pred: heatmap of any shape, e.g. ``(B, C, H, W)``: probabilities in ``[0, 1]``
            (``activated=True``) or logits (``activated=False``).
        target: Gaussian heatmap of ``pred``'s shape, values in ``[0, 1]``; ``1`` marks the
            positives unless ``pos_inds`` is given.
        weight: optional weight broadcast onto the element-wise loss (torch broadcasting, as
            mmdet).
        alpha: exponent of the prediction factor, ``>= 0``.
        gamma: exponent of ``1 - target`` for negatives, ``>= 0``.
        pos_weight, neg_weight: multipliers of the positive and negative terms.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        avg_factor: divisor of ``'mean'`` (CenterHead: ``max(num_pos, 1)``), a number or a
            one-element tensor.
        activated: ``pred`` holds probabilities (``True``) or logits (``False``).
        pos_inds: optional positives as row indices ``(M,)`` into ``pred (N, C)`` (mmdet's
            CenterNet-update path); then ``pos_labels (M,)`` gives their classes, the positive
            and negative terms are reduced separately (``pos_weight * reduce(pos) +
            neg_weight * reduce(neg)``, as mmdet) and ``'none'`` returns the ``(N, C)``
            negative map with the positive losses added at ``(pos_inds, pos_labels)``.
        pos_labels: classes ``(M,)`` of ``pos_inds``.

    Returns:
        element-wise loss of ``pred``'s shape for ``'none'``, else a scalar.
    """
    check_reduction(reduction)
    alpha, gamma, pos_weight, neg_weight, activated = _check_args(alpha, gamma, pos_weight,
                                                                  neg_weight, activated)
    return _gaussian_focal(pred, target, weight, alpha, gamma, pos_weight, neg_weight,
                           reduction, avg_factor, activated, pos_inds, pos_labels)


def _gaussian_focal(pred, target, weight, alpha, gamma, pos_weight, neg_weight, reduction,
                    avg_factor, activated, pos_inds, pos_labels) -> Tensor:
    """:func:`gaussian_focal_loss` with its options validated (the module validates them at
    construction). Shapes as there."""
    check_pred(pred, min_dim=0)
    if not isinstance(target, torch.Tensor):
        raise TypeError(f'target must be a torch.Tensor, got {type(target).__name__}')
    if not target.is_floating_point():
        raise TypeError(f'target must be a floating point heatmap, got {target.dtype}')
    if target.shape != pred.shape:
        raise ValueError(f'target of shape {tuple(target.shape)} must have the shape of pred '
                         f'{tuple(pred.shape)}')
    if (pos_inds is None) != (pos_labels is None):
        raise ValueError('pos_inds and pos_labels must be given together')
    avg_factor = check_avg_factor(avg_factor)
    if activated:
        check_probabilities(pred, name='pred')
    # the CPU variant's search for the positives also gives the target's range (one pass)
    flat, bounds = _ones_index(target) if host_reads_free(target) else (None, None)
    check_probabilities(target, name='target', bounds=bounds)
    prob_eps = EPS if activated else None
    with no_autocast(pred):
        pred = to_float32(pred)
        target = target.to(pred.dtype)
        weight = to_float32(weight)
        if pos_inds is not None:
            return _with_pos_inds(pred, target, weight, pos_inds, pos_labels, alpha, gamma,
                                  pos_weight, neg_weight, reduction, avg_factor, prob_eps)
        c_neg = _neg_weight_map(target, gamma, neg_weight)
        if weight is not None:
            weight = align_weight(weight, pred, 'broadcast')
        summed = reduction != 'none'     # then the weighted sum is one torch sum
        if flat is not None:
            # CPU: the negative term everywhere (its weight is 0 on the positives unless
            # gamma = 0), the positive term on the few positives, found by index (no mask)
            loss = focal_term(pred, None, pos_weight, c_neg, alpha, prob_eps, weight, summed,
                              pos_index=flat)
        elif gamma > 0:
            # dense: (1 - t)**gamma is 0 on the positives, so both terms are one focal term
            loss = focal_term(pred, target == 1, pos_weight, c_neg, alpha, prob_eps, weight,
                              summed)
        else:
            loss = (focal_term(pred, target == 1, pos_weight, 0.0, alpha, prob_eps, weight,
                               summed)
                    + focal_term(pred, None, 0.0, c_neg, alpha, prob_eps, weight, summed))
        return reduce_sum(loss, pred.numel(), reduction, avg_factor) if summed else loss


def _ones_index(target: Tensor, row: int = 128):
    """Flat indices ``(M,)`` of the elements equal to 1, sorted (``target.eq(1).nonzero()``),
    and ``(min, max)`` of ``target``, for a CPU heatmap; ``(None, None)`` where a function
    transform hides the data (vmap).

    Heatmaps hold few exact ones, and a dense ``eq`` plus ``nonzero`` over millions of cells
    costs about five element-wise passes; so the maxima of rows of ``row`` cells are taken
    first (one cheap reduction, which also gives the maximum the value check needs) and only
    the rows reaching 1 (or NaN) are searched.
    """
    flat = target.reshape(-1)
    n = flat.numel() - flat.numel() % row
    try:
        rows = flat[:n].view(-1, row)
        hi = rows.amax(1)              # (amax and amin apart: twice as fast as aminmax(dim))
        hit = hi.lt(1).logical_not_().nonzero().squeeze(1)
        r, c = rows.index_select(0, hit).eq(1).nonzero(as_tuple=True)
        found = hit[r].mul_(row).add_(c)
        if n < flat.numel():
            tail = flat[n:]
            found = torch.cat((found, tail.eq(1).nonzero().squeeze(1).add_(n)))
            hi = torch.cat((hi, tail))
        bounds = torch.stack((flat.amin(), hi.max())).tolist() if flat.numel() else None
    except RuntimeError:
        return None, None
    return found, bounds


def _with_pos_inds(pred, target, weight, pos_inds, pos_labels, alpha, gamma, pos_weight,
                   neg_weight, reduction, avg_factor, prob_eps):
    if pred.dim() != 2:
        raise ValueError(f'with pos_inds, pred must be (N, C), got shape {tuple(pred.shape)}')
    for name, t in (('pos_inds', pos_inds), ('pos_labels', pos_labels)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f'{name} must be a torch.Tensor, got {type(t).__name__}')
        if t.is_floating_point() or t.dtype == torch.bool or t.dim() != 1:
            raise TypeError(f'{name} must be a 1-D integer tensor, got {t.dtype} of shape '
                            f'{tuple(t.shape)}')
    if pos_inds.shape != pos_labels.shape:
        raise ValueError(f'pos_inds of shape {tuple(pos_inds.shape)} and pos_labels of shape '
                         f'{tuple(pos_labels.shape)} must match')
    n, c = pred.shape
    check_index_bounds(pos_inds, -n, n, 'pos_inds')
    check_index_bounds(pos_labels, 0, c, 'pos_labels')
    # mmdet: neg_weight * reduce((1 - t)**gamma * neg term) over every element
    neg = focal_term(pred, None, 0.0, _neg_weight_map(target, gamma, neg_weight), alpha,
                     prob_eps)
    rows, cols = pos_inds.long() % max(n, 1), pos_labels.long()
    pos_pred = pred[rows, cols]
    pos = focal_term(pos_pred, torch.ones_like(pos_pred, dtype=torch.bool), pos_weight, 0.0,
                     alpha, prob_eps)
    pos_w = None
    if weight is not None:
        weight = align_weight(weight, neg, 'broadcast').expand(neg.shape)
        pos_w = weight[rows, cols]
    if reduction == 'none':
        neg = weight_reduce_loss(neg, weight, 'none')
        pos = pos if pos_w is None else pos * pos_w
        return neg.index_put((rows, cols), pos, accumulate=True)
    return (weight_reduce_loss(pos, pos_w, reduction, avg_factor)
            + weight_reduce_loss(neg, weight, reduction, avg_factor))


@MODELS.register_module()
class GaussianFocalLoss(BaseLoss):
    """Gaussian focal loss for heatmaps, mmdet's ``GaussianFocalLoss`` (module docstring).

    Args:
        alpha: exponent of the prediction factor (``>= 0``).
        gamma: exponent of ``1 - target`` for negatives (``>= 0``).
        pos_weight, neg_weight: multipliers of the positive and negative terms.
        activated: ``pred`` holds probabilities (mmdet, CenterHead after ``clip_sigmoid``);
            ``False``: logits, computed in log space.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        loss_weight: multiplier of the loss.

    Shapes:
        ``pred`` and ``target`` of the same shape, e.g. ``(B, C, H, W)``; with ``pos_inds``,
        ``(N, C)`` and ``pos_inds``/``pos_labels`` of shape ``(M,)``.
    """

    def __init__(self,
                 alpha: float = 2.0,
                 gamma: float = 4.0,
                 pos_weight: float = 1.0,
                 neg_weight: float = 1.0,
                 activated: bool = True,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(reduction, loss_weight)
        (self.alpha, self.gamma, self.pos_weight, self.neg_weight,
         self.activated) = _check_args(alpha, gamma, pos_weight, neg_weight, activated)
        warn_known_traps(self)

    def forward(self,
                pred: Tensor,
                target: Tensor,
                pos_inds: Optional[Tensor] = None,
                pos_labels: Optional[Tensor] = None,
                avg_factor: Optional[Union[Number, Tensor]] = None,
                reduction_override: Optional[str] = None,
                weight: Optional[Tensor] = None) -> Tensor:
        """Loss of the heatmap ``pred`` against ``target``, mmdet's positional order.

        The third positional argument is ``pos_inds`` (as mmdet), not ``weight``; pass
        ``weight=`` by keyword. A floating tensor given as ``pos_inds`` is rejected, since it
        is almost surely a misplaced weight.
        """
        if isinstance(pos_inds, torch.Tensor) and pos_inds.is_floating_point():
            raise TypeError('pos_inds (third positional argument, as in mmdet) must be an '
                            'integer index tensor; pass a loss weight as weight=...')
        reduction = self.resolve_reduction(reduction_override)
        return self.scale(_gaussian_focal(pred, target, weight, self.alpha, self.gamma,
                                          self.pos_weight, self.neg_weight, reduction,
                                          avg_factor, self.activated, pos_inds, pos_labels))

    def extra_repr(self) -> str:
        return (f'alpha={self.alpha}, gamma={self.gamma}, pos_weight={self.pos_weight}, '
                f'neg_weight={self.neg_weight}, activated={self.activated}, '
                + super().extra_repr())
