"""Focal loss (Lin et al. 2017), sigmoid (mmdet's) and softmax (multi-class) forms.

Sigmoid form, per element of ``pred (..., C)`` with binary target ``t`` and ``p = sigmoid(x)``::

    loss = a_t * |t - p|**gamma * BCE(x, t),   a_t = alpha * t + (1 - alpha) * (1 - t)

equal to mmdet 3.3's ``FocalLoss`` (its pure-PyTorch path) for integer labels in ``[0, C]``
(``C`` = background), one-hot or soft targets of ``pred``'s shape, and ``activated=True``
(probabilities in). With logits and integer labels the loss runs through a custom autograd
``Function`` whose gradient is computed analytically in the forward pass from a few fused
expressions, without a float one-hot target (positives are patched in at their indices):
values and gradients equal mmdet's, 2-3x faster on CPU, one tensor saved for backward.

Softmax form (``use_sigmoid=False``), per sample with class probabilities ``p = softmax(x)``::

    loss_i = class_weight[y_i] * (1 - p_{i, y_i})**gamma * (-log p_{i, y_i})

so ``gamma=0`` equals :class:`~bev_losses.losses.cross_entropy.CrossEntropyLoss` (softmax mode)
exactly, including ``class_weight``, ``ignore_index`` and torch's mean. The scalar ``alpha`` of
the sigmoid form balances each binary positive against its negatives and has no softmax
counterpart (it would only rescale the loss), so it is not applied in softmax mode;
class balancing there is ``class_weight`` (the per-class ``alpha_t`` of the paper's
multi-class form).
"""
import numbers
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from ..registry import MODELS
from ..traps import warn_known_traps
from .base import BaseLoss, no_autocast, to_float32
from .cross_entropy import (_CE_ENUM, _CE_FUSED_MIN_NUMEL, _CE_KERNEL, _check_class_weight_arg,
                            _check_index, _check_labels, _check_pred, _check_probabilities,
                            _check_target_tensor, _class_weight_tensor, _use_fused_softmax,
                            softmax_index_loss)
from .reduction import check_reduction, weight_reduce_loss

__all__ = ['sigmoid_focal_loss', 'softmax_focal_loss', 'FocalLoss']

Number = Union[int, float]


def _check_gamma_alpha(gamma, alpha) -> None:
    if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real) or not gamma >= 0:
        raise ValueError(f'gamma must be a non-negative number, got {gamma!r}')
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) \
            or not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f'alpha must be a number in [0, 1], got {alpha!r}')


def _pow(x: Tensor, gamma: float) -> Tensor:
    """``x ** gamma`` with the common integer exponents as products (faster than pow)."""
    if gamma == 2:
        return x * x
    if gamma == 1:
        return x.clone()
    if gamma == 0:
        return torch.ones_like(x)
    return x.pow(gamma)


class _SigmoidFocalIndex(torch.autograd.Function):
    """Element-wise sigmoid focal loss of logits ``x (M, C)`` against labels ``(M,)``.

    Labels in ``[0, C]`` (``C`` = background) or ``ignore`` (row gives 0). The gradient
    ``d loss / d x`` is computed in the forward pass and saved (one tensor of ``x``'s shape).
    """

    @staticmethod
    def forward(ctx, x: Tensor, labels: Tensor, gamma: float, alpha: float,
                ignore_index: Optional[int]) -> Tensor:
        need_grad = ctx.needs_input_grad[0]
        x = x.contiguous()                       # positives are patched in by flat index
        num_classes = x.shape[1]
        # every element as a negative (t = 0): loss = (1 - alpha) p^g softplus(x)
        p = torch.sigmoid(x)
        sp = F.softplus(x)
        pg = _pow(p, gamma).mul_(1.0 - alpha)
        loss = pg * sp
        grad = None
        if need_grad:
            # d/dx = (1 - alpha) p^g (p + g (1 - p) softplus(x)), in place in p's buffer
            sp.addcmul_(p, sp, value=-1.0)
            grad = p.add_(sp, alpha=float(gamma)).mul_(pg)
        del pg, sp, p
        # positives (t = 1): loss = alpha q^g softplus(-x), q = 1 - p = sigmoid(-x)
        pos = labels < num_classes
        if ignore_index is not None and ignore_index < num_classes:
            pos &= labels != ignore_index        # labels are checked: only ignore_index < 0
        pos = pos.nonzero().squeeze(1)
        if pos.numel() > 0:
            flat = pos * num_classes + labels[pos]
            xs = x.reshape(-1).index_select(0, flat)
            q = torch.sigmoid(-xs)
            spn = F.softplus(-xs)
            qg = _pow(q, gamma).mul_(alpha)
            loss.view(-1).index_copy_(0, flat, qg * spn)
            if need_grad:
                # d/dx = -alpha q^g (q + g p softplus(-x))
                gpos = torch.addcmul(q, 1.0 - q, spn, value=float(gamma)).mul_(qg).neg_()
                grad.view(-1).index_copy_(0, flat, gpos)
        if ignore_index is not None:
            ignored = (labels == ignore_index).unsqueeze(1)
            loss.masked_fill_(ignored, 0.0)
            if need_grad:
                grad.masked_fill_(ignored, 0.0)
        if need_grad:
            ctx.save_for_backward(grad)
        return loss

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        (grad,) = ctx.saved_tensors
        return grad_out * grad, None, None, None, None


class _SigmoidFocalDense(torch.autograd.Function):
    """Element-wise sigmoid focal loss of logits ``x`` against a target ``t`` of its shape."""

    @staticmethod
    def forward(ctx, x: Tensor, t: Tensor, gamma: float, alpha: float) -> Tensor:
        p = torch.sigmoid(x)
        # bce = softplus(x) - x t; pt = |t - p| for binary t (mmdet: (1-p) t + p (1-t))
        bce = torch.addcmul(F.softplus(x), x, t, value=-1.0)
        one_m_2t = torch.mul(t, -2.0).add_(1.0)
        pt = torch.addcmul(t, p, one_m_2t)
        a_t = torch.mul(t, 2.0 * alpha - 1.0).add_(1.0 - alpha)
        ptg = _pow(pt, gamma)
        loss = ptg * bce * a_t
        if ctx.needs_input_grad[0]:
            # d/dx = a_t [pt^g (p - t) + g pt^(g-1) p (1-p) (1-2t) bce]
            if gamma == 0:
                grad = (p - t).mul_(a_t)
            else:
                ptg1 = pt.pow(gamma - 1) if gamma != 1 else torch.ones_like(pt)
                if gamma < 1:
                    ptg1 = torch.where(pt > 0, ptg1, torch.zeros_like(ptg1))
                dpt = (p * (1 - p)).mul_(one_m_2t)
                grad = ptg * (p - t) + float(gamma) * ptg1 * dpt * bce
                grad.mul_(a_t)
            ctx.save_for_backward(grad)
        return loss

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        (grad,) = ctx.saved_tensors
        return grad_out * grad, None, None, None


# Sigmoid focal loss on fewer (M, C) logits than this (and gamma = 0 or >= 1) runs plain autograd
# ops: there the custom Function's fixed cost outweighs its fewer passes (crossover ~8k
# elements at C = 10, 2 threads, measured side by side).
_SIGMOID_FUSED_MIN_NUMEL = 1 << 13


def _sigmoid_focal_small(x: Tensor, labels: Tensor, gamma: float, alpha: float) -> Tensor:
    """Element-wise sigmoid focal loss of logits ``x (M, C)``, labels ``(M,)`` in ``[0, C]``
    (none ignored), as plain autograd ops: with ``s = 1 - 2 t`` (``t`` the one-hot target),
    ``z = s x``, ``p_t = sigmoid(z)``, ``bce = softplus(z)``:
    ``a_t p_t**gamma softplus(z)`` (``a_t = alpha`` on positives, ``1 - alpha`` else), the
    value :class:`_SigmoidFocalIndex` computes. ``gamma`` must be 0 or >= 1 (finite gradient
    of the power at ``p_t = 0``). Output ``(M, C)``.
    """
    pos = labels.unsqueeze(1) == torch.arange(x.shape[1], device=x.device)
    z = x * torch.where(pos, -1.0, 1.0).to(x.dtype)
    loss = F.softplus(z)
    if gamma != 0:
        pt = torch.sigmoid(z)
        loss = loss * (pt * pt if gamma == 2 else pt if gamma == 1 else pt.pow(gamma))
    return loss * torch.where(pos, alpha, 1.0 - alpha).to(x.dtype)


def _softmax_focal_small(pred: Tensor, labels: Tensor, gamma: float) -> Tensor:
    """Per-sample ``-(1 - p_y)**gamma log p_y`` of logits ``pred (N, C, *)``, labels
    ``(N, *)`` in ``[0, C)`` (none ignored), for small inputs: torch's cross-entropy kernel
    gives ``ce = -log p_y`` (two autograd nodes) and ``1 - p_y = -expm1(-ce)`` (accurate near
    ``p_y = 1``). ``gamma`` must be 0 or >= 1 (finite gradient of the power at 0).
    Output ``(N, *)``.
    """
    ce = _CE_KERNEL(pred, labels, None, _CE_ENUM['none'], -100, 0.0)
    if gamma == 0:
        return ce
    e = torch.expm1(ce.neg())                           # p_y - 1 = -(1 - p_y)
    if gamma == 2:
        return (e * e).mul(ce)
    return e.neg().pow(gamma).mul(ce) if gamma != 1 else e.mul(ce).neg()


def _safe_pow(x: Tensor, gamma: float) -> Tensor:
    """``x ** gamma`` for ``x >= 0`` whose gradient stays finite at ``x = 0`` for ``gamma < 1``.

    For ``0 < gamma < 1`` the base is clamped to the smallest normal float first: the value
    changes by at most ``tiny ** gamma`` and the gradient at 0 is 0 instead of ``inf`` (which
    times a zero cross-entropy would be NaN).
    """
    if 0 < gamma < 1:
        x = x.clamp_min(torch.finfo(x.dtype).tiny)
    return _pow(x, gamma)


def _focal_prob(p: Tensor, t: Tensor, gamma: float, alpha: float) -> Tensor:
    """mmdet's ``py_focal_loss_with_prob`` element-wise (probabilities in, autograd)."""
    pt = (1 - p) * t + p * (1 - t)
    focal_weight = (alpha * t + (1 - alpha) * (1 - t)) * _safe_pow(pt, gamma)
    # F.binary_cross_entropy's value (logs clamped at -100), but NaN propagates instead of
    # raising (torch asserts on values outside [0, 1], a device-side assert on CUDA)
    bce = -(t * _clamped_log(p) + (1 - t) * _clamped_log(1 - p))
    return bce * focal_weight


def _clamped_log(x: Tensor) -> Tensor:
    """``log(x)`` clamped at -100 (as ``F.binary_cross_entropy``), with a finite gradient at
    ``x = 0`` and NaN propagated."""
    live = ~(x <= 0)                                   # NaN stays live and propagates
    safe = torch.where(live, x, torch.ones_like(x))
    return torch.where(live, safe.log().clamp_min(-100.0), torch.full_like(x, -100.0))


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
    _check_gamma_alpha(gamma, alpha)
    _check_pred(pred)
    _check_target_tensor(target)
    ignore_index = _check_index(ignore_index, 'ignore_index')
    num_classes = pred.shape[-1]
    if activated:
        _check_probabilities(pred.detach(), name='pred')
    with no_autocast(pred):
        pred = to_float32(pred)
        cw = _class_weight_tensor(class_weight, num_classes, pred)
        valid_count = None
        if target.shape == pred.shape[:-1] and pred.dim() >= 1 \
                and not target.is_floating_point() and (target.dim() > 0 or pred.dim() == 1):
            _check_labels(target, num_classes + 1, ignore_index)
            labels = target.reshape(-1).long()
            x2d = pred.reshape(-1, num_classes)
            if ignore_index is not None:
                valid = labels != ignore_index
                n_valid = int(valid.sum())
                if n_valid < labels.numel():
                    valid_count = n_valid * num_classes
            if activated:
                classes = torch.arange(num_classes, device=labels.device)
                t = (labels.unsqueeze(1) == classes).to(pred.dtype)
                loss = _focal_prob(x2d, t, float(gamma), float(alpha))
                if valid_count is not None:
                    loss = loss * valid.unsqueeze(1).to(loss.dtype)
            elif valid_count is None and x2d.numel() < _SIGMOID_FUSED_MIN_NUMEL \
                    and (gamma == 0 or gamma >= 1):
                loss = _sigmoid_focal_small(x2d, labels, float(gamma), float(alpha))
            else:
                ii = ignore_index if valid_count is not None else None
                loss = _SigmoidFocalIndex.apply(x2d, labels, float(gamma), float(alpha), ii)
            loss = loss.reshape(pred.shape)
        elif target.shape == pred.shape:
            if target.is_floating_point():
                _check_probabilities(target, ignore_index)
            else:
                _check_labels(target, 2, ignore_index)
            t = target.to(pred.dtype)
            valid = None
            if ignore_index is not None:
                valid = target != ignore_index
                n_valid = int(valid.sum())
                if n_valid < target.numel():
                    valid_count = n_valid
                    t = t.masked_fill(~valid, 0.0)
                else:
                    valid = None
            if activated:
                loss = _focal_prob(pred, t, float(gamma), float(alpha))
            else:
                loss = _SigmoidFocalDense.apply(pred, t, float(gamma), float(alpha))
            if valid is not None:
                loss = loss * valid.to(loss.dtype)
        else:
            if target.is_floating_point() and target.shape == pred.shape[:-1]:
                raise TypeError(f'target has the shape of class labels {tuple(target.shape)} '
                                f'but a floating dtype ({target.dtype}); pass integer labels')
            raise ValueError(f'target of shape {tuple(target.shape)} does not fit pred of shape '
                             f'{tuple(pred.shape)}: expected labels of shape '
                             f'{tuple(pred.shape[:-1])} or a target of shape {tuple(pred.shape)}')
        if cw is not None:
            loss = loss * cw
        if weight is not None:
            weight = to_float32(weight)
        if avg_factor is None and reduction == 'mean' and valid_count is not None:
            avg_factor = float(valid_count)
        return weight_reduce_loss(loss, weight, reduction, avg_factor)


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
    _check_gamma_alpha(gamma, 0.0)
    _check_pred(pred, min_dim=2)
    _check_target_tensor(target)
    ignore_index = _check_index(ignore_index, 'ignore_index')
    if ignore_index is None:
        ignore_index = -100
    num_classes = pred.shape[1]
    index_shape = pred.shape[:1] + pred.shape[2:]
    with no_autocast(pred):
        pred = to_float32(pred)
        cw = _class_weight_tensor(class_weight, num_classes, pred)
        if target.is_floating_point():
            if target.shape != pred.shape:
                if target.shape == index_shape:
                    raise TypeError(f'target has the shape of class indices '
                                    f'{tuple(target.shape)} but a floating dtype '
                                    f'({target.dtype}); pass integer labels')
                raise ValueError(f'target of shape {tuple(target.shape)} does not fit pred of '
                                 f'shape {tuple(pred.shape)}')
            _check_probabilities(target)
            logp = F.log_softmax(pred, dim=1)
            mod = _safe_pow(-torch.expm1(logp), float(gamma))
            term = -(target.to(pred.dtype) * mod * logp)
            if cw is not None:
                term = term * cw.view((1, -1) + (1,) * (pred.dim() - 2))
            loss = term.sum(1)
            valid = None
        else:
            if target.shape != index_shape:
                raise ValueError(f'target of shape {tuple(target.shape)} does not fit pred of '
                                 f'shape {tuple(pred.shape)}: expected indices of shape '
                                 f'{tuple(index_shape)} or probabilities of shape '
                                 f'{tuple(pred.shape)}')
            in_range = _check_labels(target, num_classes, ignore_index)
            target = target.long()
            small = in_range and not 0 <= ignore_index < num_classes and cw is None \
                and 0 < pred.numel() < _CE_FUSED_MIN_NUMEL and (gamma == 0 or gamma >= 1)
            if small:
                # nothing ignored, no class weight, few elements: torch's CE kernel plus the
                # focal factor (the custom Function's fixed cost loses here)
                valid = None
                loss = _softmax_focal_small(pred, target, float(gamma))
            else:
                valid = target != ignore_index
                safe = target.masked_fill(~valid, 0)
                wt = valid.to(pred.dtype)
                if cw is not None:
                    wt = wt * cw[safe]
                if _use_fused_softmax(pred):
                    loss = softmax_index_loss(pred, safe, None, float(gamma)) * wt
                else:
                    logpt = F.log_softmax(pred, dim=1).gather(1, safe.unsqueeze(1)).squeeze(1)
                    # 1 - p_t computed as -expm1(log p_t): accurate when p_t is close to 1
                    loss = -_safe_pow(-torch.expm1(logpt), float(gamma)) * logpt * wt
        if weight is None and avg_factor is None:
            if reduction == 'mean' and valid is not None and loss.numel() > 0:
                return weight_reduce_loss(loss, None, 'mean', wt.sum())
            return weight_reduce_loss(loss, None, reduction)
        if weight is not None:
            weight = to_float32(weight)
        return weight_reduce_loss(loss, weight, reduction, avg_factor)


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
        if not isinstance(use_sigmoid, bool):
            raise TypeError(f'use_sigmoid must be a bool, got {type(use_sigmoid).__name__}')
        if not isinstance(activated, bool):
            raise TypeError(f'activated must be a bool, got {type(activated).__name__}')
        if activated and not use_sigmoid:
            raise ValueError('activated=True is only supported with use_sigmoid=True')
        _check_gamma_alpha(gamma, alpha)
        self.use_sigmoid = use_sigmoid
        self.gamma = float(gamma)
        self.alpha = float(alpha)
        self.activated = activated
        self.class_weight = _check_class_weight_arg(class_weight)
        self.ignore_index = _check_index(ignore_index, 'ignore_index')
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
            loss = sigmoid_focal_loss(pred, target, weight, self.gamma, self.alpha, reduction,
                                      avg_factor, self.activated, self.class_weight,
                                      self.ignore_index)
        else:
            ignore = -100 if self.ignore_index is None else self.ignore_index
            loss = softmax_focal_loss(pred, target, weight, self.gamma, self.class_weight,
                                      ignore, reduction, avg_factor)
        return loss if self.loss_weight == 1.0 else self.loss_weight * loss

    def extra_repr(self) -> str:
        return (f'use_sigmoid={self.use_sigmoid}, gamma={self.gamma}, alpha={self.alpha}, '
                f'activated={self.activated}, class_weight={self.class_weight}, '
                f'ignore_index={self.ignore_index}, ' + super().extra_repr())
