"""Focal loss (Lin et al. 2017), sigmoid (mmdet's) and softmax (multi-class) forms.

Sigmoid form, per element of ``pred (..., C)`` with binary target ``t`` and ``p = sigmoid(x)``::

    loss = a_t * |t - p|**gamma * BCE(x, t),   a_t = alpha * t + (1 - alpha) * (1 - t)

equal to mmdet 3.3's ``FocalLoss`` (its pure-PyTorch path) for integer labels in ``[0, C]``
(``C`` = background), one-hot or soft targets of ``pred``'s shape, and ``activated=True``
(probabilities in). With logits and integer labels the one-hot target is a 0/1 float mask
(a scatter) and the loss is the shared focal term (:mod:`bev_losses.losses.focal_term`): log
space, an analytic gradient, one tensor saved for backward, weights folded into its
coefficients, ``'mean'`` / ``'sum'`` one accurate sum, no tensor data read.

Softmax form (``use_sigmoid=False``), per sample with class probabilities ``p = softmax(x)``::

    loss_i = class_weight[y_i] * (1 - p_{i, y_i})**gamma * (-log p_{i, y_i})

so ``gamma=0`` equals :class:`~bev_losses.losses.cross_entropy.CrossEntropyLoss` (softmax mode)
exactly, including ``class_weight``, ``ignore_index`` and torch's mean. The scalar ``alpha`` of
the sigmoid form balances each binary positive against its negatives and has no softmax
counterpart (it would only rescale the loss), so it is not applied in softmax mode;
class balancing there is ``class_weight`` (the per-class ``alpha_t`` of the paper's
multi-class form). ``1 - p_y`` is computed as ``-expm1(log p_y)`` (accurate near ``p_y = 1``).
"""
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from ..registry import MODELS
from ..traps import warn_known_traps
from .base import BaseLoss, no_autocast, to_float32
from .checks import (check_bool, check_index, check_labels,
                     check_number, check_pred, check_probabilities, check_target_tensor,
                     class_weight_tensor)
from .cross_entropy import softmax_targets
from .focal_term import focal_term
from .reduction import (align_weight, check_avg_factor, check_reduction, divide_nonzero,
                        reduce_sum, weight_reduce_loss)

__all__ = ['sigmoid_focal_loss', 'softmax_focal_loss', 'FocalLoss']

Number = Union[int, float]


def _check_gamma_alpha(gamma, alpha):
    return check_number(gamma, 'gamma', 0.0), check_number(alpha, 'alpha', 0.0, 1.0)


def _safe_pow(x: Tensor, gamma: float) -> Tensor:
    """``x ** gamma`` for ``x >= 0`` whose gradient stays finite at ``x = 0`` for ``gamma < 1``
    (the base is clamped to the smallest normal float: the value changes by at most
    ``tiny ** gamma``, the gradient at 0 is 0 instead of ``inf``)."""
    if 0 < gamma < 1:
        x = x.clamp_min(torch.finfo(x.dtype).tiny)
    return x * x if gamma == 2 else x.pow(gamma)


def _clamped_log(x: Tensor) -> Tensor:
    """``log(x)`` clamped at -100 (as ``F.binary_cross_entropy``), with a finite gradient at
    ``x = 0`` and NaN propagated."""
    live = ~(x <= 0)                                   # NaN stays live and propagates
    safe = torch.where(live, x, torch.ones_like(x))
    return torch.where(live, safe.log().clamp_min(-100.0), torch.full_like(x, -100.0))


def _focal_dense(pred: Tensor, t: Tensor, gamma: float, alpha: float, activated: bool) -> Tensor:
    """mmdet's ``py_sigmoid_focal_loss`` / ``py_focal_loss_with_prob`` element-wise for a
    target ``t`` of ``pred``'s shape (binary or soft), by autograd ops."""
    if activated:
        p = pred
        # F.binary_cross_entropy's value (logs clamped at -100); NaN propagates instead of
        # raising (torch asserts on values outside [0, 1], a device-side assert on CUDA)
        bce = -(t * _clamped_log(p) + (1 - t) * _clamped_log(1 - p))
    else:
        p = torch.sigmoid(pred)
        bce = F.softplus(pred) - pred * t              # BCE with logits, log space
    pt = (1 - p) * t + p * (1 - t)
    return bce * ((alpha * t + (1 - alpha) * (1 - t)) * _safe_pow(pt, gamma))


def sigmoid_focal_loss(pred: Tensor,
                       target: Tensor,
                       weight: Optional[Tensor] = None,
                       gamma: float = 2.0,
                       alpha: float = 0.25,
                       reduction: str = 'mean',
                       avg_factor: Optional[Union[Number, Tensor]] = None,
                       activated: bool = False,
                       class_weight: Optional[Union[Tensor, Sequence[float]]] = None,
                       ignore_index: Optional[int] = None) -> Tensor:
    """Sigmoid focal loss (mmdet's contract).

    Args:
        pred: logits ``(..., C)`` (probabilities when ``activated=True``).
        target: integer labels of shape ``pred.shape[:-1]`` in ``[0, C]`` (``C`` =
            background) or ``ignore_index``; or a one-hot / soft target of ``pred``'s shape
            with values in ``[0, 1]`` (elements equal to ``ignore_index`` are ignored).
        weight: optional weight broadcast onto the element-wise loss ``(..., C)``; per-sample
            ``pred.shape[:-1]`` and flattened ``(M * C,)`` weights are accepted (as mmdet).
        gamma: focusing exponent, ``>= 0``.
        alpha: weight of positives in ``[0, 1]`` (negatives get ``1 - alpha``).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        avg_factor: divisor of ``'mean'``.
        activated: ``pred`` holds probabilities (mmdet's ``py_focal_loss_with_prob``).
        class_weight: optional ``(C,)`` multiplier of each class column.
        ignore_index: optional label (or target value) that contributes nothing; ``'mean'``
            without ``avg_factor`` then averages over the non-ignored elements only.

    Returns:
        element-wise loss ``pred.shape`` for ``'none'``, else a scalar.
    """
    check_reduction(reduction)
    gamma, alpha = _check_gamma_alpha(gamma, alpha)
    check_bool(activated, 'activated')
    ignore_index = check_index(ignore_index, 'ignore_index')
    return _sigmoid_focal(pred, target, weight, gamma, alpha, reduction, avg_factor, activated,
                          class_weight, ignore_index)


def _one_hot(labels: Tensor, pred: Tensor) -> Tensor:
    """``(..., C)`` 0/1 one-hot in ``pred``'s dtype of labels ``(...)``; a label outside
    ``[0, C)`` (the background ``C``, an ignored label) gives an all-zero row. One fill and a
    scatter of ``(...)`` values: no ``(..., C)`` comparison."""
    num_classes = pred.shape[-1]
    index = labels.long().clamp(0, max(num_classes - 1, 0)).unsqueeze(-1)
    hit = ((labels >= 0) & (labels < num_classes)).unsqueeze(-1).to(pred.dtype)
    return pred.new_zeros(pred.shape).scatter_(-1, index, hit)


def _sigmoid_focal_labels(pred, onehot, valid, weight, gamma, alpha, cw, reduction,
                          avg_factor) -> Tensor:
    """Sigmoid focal loss of logits ``(..., C)`` against a 0/1 ``onehot`` of their shape: the
    focal term with the weight, the ignore mask ``valid (..., 1)`` and the class weights
    folded into its coefficients; ``'mean'`` / ``'sum'`` one sum (torch's, accurate)."""
    c_pos, c_neg = (alpha, 1.0 - alpha) if cw is None else (cw * alpha, cw * (1.0 - alpha))
    wt = None if weight is None else align_weight(to_float32(weight), pred, 'rows')
    if valid is not None:
        keep = valid.to(pred.dtype)
        wt = keep if wt is None else wt * keep
    summed = reduction != 'none'
    loss = focal_term(pred, onehot, c_pos, c_neg, gamma, None, wt, summed)
    if not summed or avg_factor is not None or reduction == 'sum':
        return loss if not summed else reduce_sum(loss, pred.numel(), reduction, avg_factor)
    if valid is not None:                      # mean over the non-ignored elements
        return divide_nonzero(loss, valid.expand(pred.shape).sum().to(loss.dtype))
    return reduce_sum(loss, pred.numel(), 'mean')


def _sigmoid_focal(pred, target, weight, gamma, alpha, reduction, avg_factor, activated,
                   class_weight, ignore_index) -> Tensor:
    check_pred(pred)
    check_target_tensor(target)
    avg_factor = check_avg_factor(avg_factor)
    num_classes = pred.shape[-1]
    if activated:
        check_probabilities(pred, name='pred')
    with no_autocast(pred):
        pred = to_float32(pred)
        cw = class_weight_tensor(class_weight, num_classes, pred)
        valid = None                   # bool, broadcastable to the loss: non-ignored elements
        if target.shape == pred.shape[:-1] and not target.is_floating_point():
            check_labels(target, num_classes + 1, ignore_index)
            onehot = _one_hot(target, pred)
            if ignore_index is not None:
                valid = (target != ignore_index).unsqueeze(-1)           # (..., 1)
            if not activated:
                return _sigmoid_focal_labels(pred, onehot, valid, weight, gamma, alpha, cw,
                                             reduction, avg_factor)
            loss = _focal_dense(pred, onehot, gamma, alpha, True)
        elif target.shape == pred.shape:
            if target.is_floating_point():
                check_probabilities(target, ignore_index)
            else:
                check_labels(target, 2, ignore_index)
            t = target.to(pred.dtype)
            if ignore_index is not None:
                valid = target != ignore_index
                t = torch.where(valid, t, t.new_zeros(()))
            loss = _focal_dense(pred, t, gamma, alpha, activated)
        elif target.is_floating_point() and target.shape == pred.shape[:-1]:
            raise TypeError(f'target has the shape of class labels {tuple(target.shape)} but '
                            f'a floating dtype ({target.dtype}); pass integer labels')
        else:
            raise ValueError(f'target of shape {tuple(target.shape)} does not fit pred of shape '
                             f'{tuple(pred.shape)}: expected labels of shape '
                             f'{tuple(pred.shape[:-1])} or a target of shape {tuple(pred.shape)}')
        if cw is not None:
            loss = loss * cw
        if valid is not None:
            loss = torch.where(valid, loss, loss.new_zeros(()))
        if valid is not None and avg_factor is None and reduction == 'mean':
            # mean over the non-ignored elements
            total = weight_reduce_loss(loss, to_float32(weight), 'sum')
            return divide_nonzero(total, valid.expand(loss.shape).sum().to(loss.dtype))
        return weight_reduce_loss(loss, to_float32(weight), reduction, avg_factor)


def softmax_focal_loss(pred: Tensor,
                       target: Tensor,
                       weight: Optional[Tensor] = None,
                       gamma: float = 2.0,
                       class_weight: Optional[Union[Tensor, Sequence[float]]] = None,
                       ignore_index: int = -100,
                       reduction: str = 'mean',
                       avg_factor: Optional[Union[Number, Tensor]] = None) -> Tensor:
    """Multi-class (softmax) focal loss, ``(1 - p_t)**gamma * CE_i`` per sample.

    With ``gamma=0`` this is :func:`~bev_losses.losses.cross_entropy.cross_entropy` exactly
    (same mean conventions: torch's for plain calls, mmdet's with ``weight``/``avg_factor``).

    Args:
        pred: logits ``(N, C)`` or ``(N, C, d1, ...)``.
        target: indices ``(N,)`` / ``(N, d1, ...)`` in ``[0, C)`` or ``ignore_index``; or
            class probabilities ``q`` of ``pred``'s shape, for which
            ``loss_i = -sum_c class_weight[c] q_c (1 - p_c)**gamma log p_c``.
        weight: optional per-sample weight (shape of the index target).
        gamma: focusing exponent, ``>= 0``.
        class_weight: optional ``(C,)`` class weights (``alpha_t`` of the multi-class form).
        ignore_index: ignored label of index targets.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        avg_factor: divisor of ``'mean'``.

    Returns:
        per-sample loss for ``'none'``, else a scalar.
    """
    check_reduction(reduction)
    gamma, _ = _check_gamma_alpha(gamma, 0.0)
    ignore_index = check_index(ignore_index, 'ignore_index')
    return _softmax_focal(pred, target, weight, gamma, class_weight,
                          -100 if ignore_index is None else ignore_index, reduction,
                          avg_factor)


def _softmax_focal(pred, target, weight, gamma, class_weight, ignore_index, reduction,
                   avg_factor) -> Tensor:
    check_pred(pred, min_dim=2)
    check_target_tensor(target)
    avg_factor = check_avg_factor(avg_factor)
    num_classes = pred.shape[1]
    with no_autocast(pred):
        pred = to_float32(pred)
        cw = class_weight_tensor(class_weight, num_classes, pred)
        target, valid = softmax_targets(pred, target, ignore_index)
        logp = F.log_softmax(pred, dim=1)
        if valid is None:                                   # probability targets
            term = -(target * _safe_pow(-torch.expm1(logp), gamma) * logp)
            if cw is not None:
                term = term * cw.view((1, -1) + (1,) * (pred.dim() - 2))
            loss = term.sum(1)
        else:
            safe = torch.where(valid, target, target.new_zeros(()))
            logpt = logp.gather(1, safe.unsqueeze(1)).squeeze(1)
            wt = valid.to(pred.dtype) if cw is None else torch.where(valid, cw[safe],
                                                                     cw.new_zeros(()))
            loss = -(_safe_pow(-torch.expm1(logpt), gamma) * logpt) * wt
        if weight is None and avg_factor is None and reduction == 'mean' and valid is not None:
            return divide_nonzero(loss.sum(), wt.sum())     # torch's mean
        return weight_reduce_loss(loss, to_float32(weight), reduction, avg_factor)


@MODELS.register_module()
class FocalLoss(BaseLoss):
    """Focal loss, sigmoid (mmdet's, default) or softmax form. See the module docstring.

    Args:
        use_sigmoid: sigmoid (per-class binary) form; ``False`` selects the softmax form.
        gamma: focusing exponent ``>= 0``.
        alpha: sigmoid form: weight of positives in ``[0, 1]``; not used by the softmax form.
        activated: sigmoid form only: ``pred`` holds probabilities.
        class_weight: optional per-class weights (``C`` numbers).
        ignore_index: optional label contributing nothing.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        loss_weight: multiplier of the loss.

    Shapes:
        sigmoid: ``pred (..., C)``; ``target (...)`` labels in ``[0, C]`` or ``(..., C)``.
        softmax: ``pred (N, C, *)``; ``target (N, *)`` indices or ``(N, C, *)`` probabilities.
    """

    def __init__(self,
                 use_sigmoid: bool = True,
                 gamma: float = 2.0,
                 alpha: float = 0.25,
                 activated: bool = False,
                 class_weight: Optional[Sequence[float]] = None,
                 ignore_index: Optional[int] = None,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(reduction, loss_weight)
        self.use_sigmoid = check_bool(use_sigmoid, 'use_sigmoid')
        self.activated = check_bool(activated, 'activated')
        if activated and not use_sigmoid:
            raise ValueError('activated=True is only supported with use_sigmoid=True')
        self.gamma, self.alpha = _check_gamma_alpha(gamma, alpha)
        self.set_class_weight(class_weight)
        self.ignore_index = check_index(ignore_index, 'ignore_index')
        warn_known_traps(self)

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[Union[Number, Tensor]] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Loss of ``pred`` against ``target`` (shapes in the class docstring)."""
        reduction = self.resolve_reduction(reduction_override)
        if self.use_sigmoid:
            loss = _sigmoid_focal(pred, target, weight, self.gamma, self.alpha, reduction,
                                  avg_factor, self.activated, self.class_weight_buffer,
                                  self.ignore_index)
        else:
            ignore = -100 if self.ignore_index is None else self.ignore_index
            loss = _softmax_focal(pred, target, weight, self.gamma, self.class_weight_buffer,
                                  ignore, reduction, avg_factor)
        return self.scale(loss)

    def extra_repr(self) -> str:
        return (f'use_sigmoid={self.use_sigmoid}, gamma={self.gamma}, alpha={self.alpha}, '
                f'activated={self.activated}, class_weight={self.class_weight}, '
                f'ignore_index={self.ignore_index}, ' + super().extra_repr())
