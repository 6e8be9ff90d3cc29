"""Cross-entropy: softmax (``torch.nn.functional.cross_entropy``) and sigmoid (mmdet's BCE) modes.

Softmax mode, plain call (no ``weight``, no ``avg_factor``): exactly
``F.cross_entropy(pred, target, weight=class_weight, ignore_index=..., label_smoothing=...,
reduction=...)`` for index targets ``(N,)`` / ``(N, d1, ...)`` and probability targets of
``pred``'s shape. In particular ``'mean'`` with ``class_weight`` divides by the *sum of the class
weights of the non-ignored targets*, ``sum_i w[y_i] * l_i / sum_i w[y_i]``, as torch does.

mmdet's softmax ``CrossEntropyLoss`` (mmdetection issue #9193) instead divides the class-weighted
sum by the *number* of elements (or of non-ignored elements with ``avg_non_ignore=True``), so
with ``class_weight`` or ignored labels mmdet's plain ``'mean'`` differs from torch's. Here the
plain call follows torch by default; ``mean_convention='mmdet'`` makes it follow mmdet (what
``tools/swap_losses.py`` writes for a converted softmax ``mmdet.CrossEntropyLoss``: mmdet3d's
segmentation decode heads call their loss without ``weight`` / ``avg_factor``, with class
weights and ignored labels). As soon as a ``weight`` or an ``avg_factor`` is passed (which is how
every mmdet/mmdet3d head calls its loss), mmdet's contract applies unchanged: the weighted
element-wise losses are summed and divided by ``avg_factor``, or averaged over all elements
(over the non-ignored ones when ``avg_non_ignore=True``); so the loss dicts of mmdet3d heads do
not change when ``mmdet.CrossEntropyLoss`` is swapped for ``bev_losses.CrossEntropyLoss``.

Sigmoid mode (``use_sigmoid=True``) equals mmdet's ``CrossEntropyLoss(use_sigmoid=True)``:
integer labels ``(...,)`` in ``[0, C]`` for ``pred`` ``(..., C)`` (``C`` is background: an
all-zero row), or targets of ``pred``'s shape (one-hot, soft, or a single logit per element);
``class_weight`` is BCE's ``pos_weight`` as in mmdet.

Every mode is one path of torch's own kernels (``F.cross_entropy`` / ``F.log_softmax``,
``F.binary_cross_entropy_with_logits``) and the shared reducer. Ignored labels are a mask and
every divisor stays a tensor: nothing reads tensor data back to the host. Empty inputs and
all-ignored targets give a zero connected to the graph (torch gives NaN). Labels out of range
are a ``ValueError`` where values are checked (see :mod:`bev_losses.losses.checks`).
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
from .reduction import check_avg_factor, check_reduction, divide_nonzero, weight_reduce_loss

__all__ = ['cross_entropy', 'binary_cross_entropy', 'CrossEntropyLoss']

Number = Union[int, float]

#: Values of ``CrossEntropyLoss(mean_convention=...)``.
MEAN_CONVENTIONS = ('torch', 'mmdet')


def check_mean_convention(mean_convention) -> str:
    if mean_convention not in MEAN_CONVENTIONS:
        raise ValueError(f'mean_convention must be one of {MEAN_CONVENTIONS}, got '
                         f'{mean_convention!r}')
    return mean_convention


def _mismatch(target: Tensor, pred: Tensor, index_shape, what: str = 'indices') -> Exception:
    if target.is_floating_point() and target.shape == index_shape:
        return TypeError(f'target has the shape of class {what} {tuple(target.shape)} but a '
                         f'floating dtype ({target.dtype}); pass integer labels (e.g. .long())')
    return ValueError(f'target of shape {tuple(target.shape)} does not fit pred of shape '
                      f'{tuple(pred.shape)}: expected {what} of shape {tuple(index_shape)} or '
                      f'probabilities of shape {tuple(pred.shape)}')


def softmax_targets(pred: Tensor, target: Tensor, ignore_index: int):
    """Validate a softmax target against ``pred (N, C, *)`` / ``(C,)``.

    Returns ``(target, valid)``: index targets as ``long`` with ``valid`` the bool mask of the
    non-ignored ones, or probability targets in ``pred``'s dtype with ``valid=None``.
    """
    class_dim = 1 if pred.dim() >= 2 else 0
    num_classes = pred.shape[class_dim]
    index_shape = pred.shape[:class_dim] + pred.shape[class_dim + 1:]
    if target.is_floating_point():
        if target.shape != pred.shape:
            raise _mismatch(target, pred, index_shape)
        check_probabilities(target)
        return target.to(pred.dtype), None
    if target.shape != index_shape:
        raise _mismatch(target, pred, index_shape)
    check_labels(target, num_classes, ignore_index)
    return target.long(), target != ignore_index


def cross_entropy(pred: Tensor,
                  target: Tensor,
                  weight: Optional[Tensor] = None,
                  class_weight: Optional[Union[Tensor, Sequence[float]]] = None,
                  ignore_index: int = -100,
                  label_smoothing: float = 0.0,
                  reduction: str = 'mean',
                  avg_factor: Optional[Union[Number, Tensor]] = None,
                  avg_non_ignore: bool = False,
                  mean_convention: str = 'torch') -> Tensor:
    """Softmax cross-entropy (see the module docstring for the two mean conventions).

    Args:
        pred: logits ``(N, C)``, ``(N, C, d1, ...)`` or ``(C,)``.
        target: class indices ``(N,)`` / ``(N, d1, ...)`` / ``()`` (integer dtype, values in
            ``[0, C)`` or ``ignore_index``), or class probabilities of ``pred``'s shape.
        weight: optional element-wise weight, broadcast onto the per-sample loss (shape of the
            index target); selects mmdet's mean convention.
        class_weight: optional ``(C,)`` class weights (``F.cross_entropy``'s ``weight``).
        ignore_index: label ignored in index targets.
        label_smoothing: in ``[0, 1]``, as ``F.cross_entropy``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        avg_factor: divisor of ``'mean'``; selects mmdet's mean convention.
        avg_non_ignore: with ``weight`` given and no ``avg_factor``, ``'mean'`` divides by the
            number of non-ignored samples instead of all samples (mmdet's flag).
        mean_convention: which ``'mean'`` a call without ``weight`` and ``avg_factor`` takes:
            ``'torch'`` (``F.cross_entropy``'s: divided by the summed class weights of the
            non-ignored targets) or ``'mmdet'`` (mmdet's: the class-weighted sum divided by
            the number of samples, of non-ignored samples with ``avg_non_ignore``). Calls with
            ``weight`` or ``avg_factor`` take mmdet's either way.

    Returns:
        per-sample loss (shape of ``pred`` without the class dim) for ``'none'``, else a scalar.
    """
    check_reduction(reduction)
    torch_mean = check_mean_convention(mean_convention) == 'torch'
    check_pred(pred)
    check_target_tensor(target)
    ignore_index = check_index(ignore_index, 'ignore_index')
    ignore_index = -100 if ignore_index is None else ignore_index
    label_smoothing = check_number(label_smoothing, 'label_smoothing', 0.0, 1.0)
    avg_factor = check_avg_factor(avg_factor)
    num_classes = pred.shape[1 if pred.dim() >= 2 else 0]
    with no_autocast(pred):
        pred = to_float32(pred)
        cw = class_weight_tensor(class_weight, num_classes, pred)
        target, valid = softmax_targets(pred, target, ignore_index)
        loss = F.cross_entropy(pred, target, weight=cw, ignore_index=ignore_index,
                               reduction='none', label_smoothing=label_smoothing)
        if weight is None and avg_factor is None and torch_mean:
            if reduction != 'mean' or valid is None:
                return weight_reduce_loss(loss, None, reduction)
            # torch's mean: divide by the class weights of the non-ignored targets
            if cw is None:
                denom = valid.sum().to(loss.dtype)
            else:
                denom = torch.where(valid, cw[target.clamp(0, num_classes - 1)],
                                    cw.new_zeros(())).sum()
            # nothing valid: the sum is 0, and so is the loss (torch: 0 / 0 = NaN)
            return divide_nonzero(loss.sum(), denom)
        # mmdet's convention
        if avg_factor is None and avg_non_ignore and reduction == 'mean':
            avg_factor = valid.sum() if valid is not None else float(loss.numel())
        return weight_reduce_loss(loss, to_float32(weight), reduction, avg_factor)


def binary_cross_entropy(pred: Tensor,
                         target: Tensor,
                         weight: Optional[Tensor] = None,
                         class_weight: Optional[Union[Tensor, Sequence[float]]] = None,
                         ignore_index: int = -100,
                         reduction: str = 'mean',
                         avg_factor: Optional[Union[Number, Tensor]] = None,
                         avg_non_ignore: bool = False) -> Tensor:
    """Sigmoid (binary) cross-entropy with mmdet's label conventions.

    Args:
        pred: logits ``(..., C)``.
        target: integer labels of shape ``pred.shape[:-1]`` with values in ``[0, C]``
            (``C`` = background, an all-zero row) or ``ignore_index``; or a target of
            ``pred``'s shape (0/1 or soft values in ``[0, 1]``, elements equal to
            ``ignore_index`` ignored).
        weight: optional weight broadcast onto the element-wise loss ``(..., C)``; a per-sample
            weight ``pred.shape[:-1]`` is accepted (rows, as mmdet).
        class_weight: optional ``(C,)``; BCE's ``pos_weight`` (as mmdet).
        ignore_index: ignored label.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        avg_factor: divisor of ``'mean'``.
        avg_non_ignore: ``'mean'`` without ``avg_factor`` averages over the non-ignored
            elements only.

    Returns:
        element-wise loss of ``pred``'s shape for ``'none'``, else a scalar.
    """
    check_reduction(reduction)
    check_pred(pred)
    check_target_tensor(target)
    ignore_index = check_index(ignore_index, 'ignore_index')
    ignore_index = -100 if ignore_index is None else ignore_index
    avg_factor = check_avg_factor(avg_factor)
    num_classes = pred.shape[-1]
    with no_autocast(pred):
        pred = to_float32(pred)
        cw = class_weight_tensor(class_weight, num_classes, pred)
        if target.shape == pred.shape:
            if target.is_floating_point():
                check_probabilities(target, ignore_index)
            else:
                check_labels(target, 2, ignore_index)
            valid = target != ignore_index
            target_f = torch.where(valid, target.to(pred.dtype), pred.new_zeros(()))
        elif target.shape == pred.shape[:-1]:
            if target.is_floating_point():
                raise TypeError(f'target has the shape of class labels {tuple(target.shape)} '
                                f'but a floating dtype ({target.dtype}); pass integer labels')
            check_labels(target, num_classes + 1, ignore_index)
            classes = torch.arange(num_classes, device=target.device)
            target_f = (target.unsqueeze(-1) == classes).to(pred.dtype)
            valid = (target != ignore_index).unsqueeze(-1)
        else:
            raise ValueError(f'target of shape {tuple(target.shape)} does not fit pred of shape '
                             f'{tuple(pred.shape)}: expected labels of shape '
                             f'{tuple(pred.shape[:-1])} or a target of shape {tuple(pred.shape)}')
        loss = F.binary_cross_entropy_with_logits(pred, target_f, pos_weight=cw,
                                                  reduction='none')
        loss = loss * valid.to(loss.dtype)
        if avg_factor is None and avg_non_ignore and reduction == 'mean':
            avg_factor = valid.expand(loss.shape).sum()
        return weight_reduce_loss(loss, to_float32(weight), reduction, avg_factor)


# --------------------------------------------------------------------------------- module
@MODELS.register_module()
class CrossEntropyLoss(BaseLoss):
    """Cross-entropy, softmax (torch's) or sigmoid (mmdet's) mode. See the module docstring.

    Args:
        use_sigmoid: sigmoid (binary, per class) instead of softmax cross-entropy.
        class_weight: optional per-class weights (``C`` numbers).
        ignore_index: label whose samples contribute nothing.
        label_smoothing: softmax mode only, as ``F.cross_entropy``.
        avg_non_ignore: mmdet's flag (see :func:`cross_entropy`).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        loss_weight: multiplier of the loss.
        mean_convention: softmax mode, calls without ``weight`` and ``avg_factor``:
            ``'torch'`` (default, ``F.cross_entropy``'s mean) or ``'mmdet'`` (mmdet's mean,
            which differs with ``class_weight`` or ignored labels: see :func:`cross_entropy`).
            Sigmoid mode already equals mmdet's; the argument has no effect there.

    Shapes:
        softmax: ``pred (N, C, *)``, ``target (N, *)`` indices or ``(N, C, *)`` probabilities.
        sigmoid: ``pred (..., C)``, ``target (...)`` labels in ``[0, C]`` or ``(..., C)``.
    """

    def __init__(self,
                 use_sigmoid: bool = False,
                 class_weight: Optional[Sequence[float]] = None,
                 ignore_index: Optional[int] = -100,
                 label_smoothing: float = 0.0,
                 avg_non_ignore: bool = False,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0,
                 mean_convention: str = 'torch') -> None:
        super().__init__(reduction, loss_weight)
        self.use_sigmoid = check_bool(use_sigmoid, 'use_sigmoid')
        self.avg_non_ignore = check_bool(avg_non_ignore, 'avg_non_ignore')
        self.label_smoothing = check_number(label_smoothing, 'label_smoothing', 0.0, 1.0)
        if use_sigmoid and label_smoothing:
            raise ValueError('label_smoothing is only supported with use_sigmoid=False')
        self.set_class_weight(class_weight)
        self.ignore_index = -100 if ignore_index is None else check_index(ignore_index,
                                                                          'ignore_index')
        self.mean_convention = check_mean_convention(mean_convention)
        warn_known_traps(self)

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[Union[Number, Tensor]] = None,
                reduction_override: Optional[str] = None,
                ignore_index: Optional[int] = None,
                **kwargs) -> Tensor:
        """Loss of ``pred`` against ``target`` (shapes in the class docstring).

        ``ignore_index`` overrides the module's for this call. Extra keyword arguments that
        mmdet heads pass are rejected unless ``None``.
        """
        for key, value in kwargs.items():
            if value is not None:
                raise TypeError(f'CrossEntropyLoss.forward got an unexpected argument {key!r}')
        reduction = self.resolve_reduction(reduction_override)
        ignore_index = self.ignore_index if ignore_index is None else check_index(
            ignore_index, 'ignore_index')
        if self.use_sigmoid:
            loss = binary_cross_entropy(pred, target, weight, self.class_weight_buffer,
                                        ignore_index, reduction, avg_factor,
                                        self.avg_non_ignore)
        else:
            loss = cross_entropy(pred, target, weight, self.class_weight_buffer, ignore_index,
                                 self.label_smoothing, reduction, avg_factor,
                                 self.avg_non_ignore, self.mean_convention)
        return self.scale(loss)

    def extra_repr(self) -> str:
        return (f'use_sigmoid={self.use_sigmoid}, class_weight={self.class_weight}, '
                f'ignore_index={self.ignore_index}, label_smoothing={self.label_smoothing}, '
                f'avg_non_ignore={self.avg_non_ignore}, '
                f'mean_convention={self.mean_convention!r}, ' + super().extra_repr())
