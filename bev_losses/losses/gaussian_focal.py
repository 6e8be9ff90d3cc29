"""Gaussian focal loss (CornerNet / CenterNet / CenterPoint heatmaps), mmdet's contract.

Per element of a predicted heatmap ``p`` and a Gaussian target heatmap ``t``::

    loss = pos_weight * [t == 1] * -log(p + eps) * (1 - p)**alpha
         + neg_weight * (1 - t)**gamma * -log(1 - p + eps) * p**alpha,     eps = 1e-12

equal to mmdet 3.3's ``GaussianFocalLoss`` (dense path, and the ``pos_inds``/``pos_labels``
path of CenterNet-update). ``activated=False`` takes logits ``x`` and computes the same loss in
log space (``-log p = softplus(-x)``, ``p**alpha = exp(alpha * logsigmoid(x))`` ...), without
``eps`` and without the clamp that CenterHead's ``clip_sigmoid`` needs: finite values and
gradients for ``|x|`` up to 1e4 and beyond.

The dense loss is a custom autograd ``Function``: the negative term is computed densely, the
positives (``t == 1``, a few per object) are patched in at their indices, and the gradient is
computed analytically in the forward pass, so one tensor of ``pred``'s shape is saved for
backward (mmdet's autograd graph keeps about ten). The unweighted ``'mean'`` / ``'sum'`` of
probabilities (CenterHead's call) goes through ``_GaussianFocalSum``, which never builds the
element-wise loss (a dot-product reduction). When ``target`` itself requires a gradient the
plain autograd formula is used instead.
"""
import numbers
from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..registry import MODELS
from ..traps import warn_known_traps
from .base import BaseLoss, no_autocast, to_float32
from .cross_entropy import _check_pred, _check_probabilities
from .reduction import align_weight, check_reduction, reduce_weighted_sum, weight_reduce_loss

__all__ = ['gaussian_focal_loss', 'GaussianFocalLoss']

Number = Union[int, float]
EPS = 1e-12


def _pow(x: Tensor, e: float) -> Tensor:
    """``x ** e`` with the usual integer exponents as products (fresh tensor)."""
    if e == 2:
        return x * x
    if e == 4:
        return (x * x).square_()
    if e == 1:
        return x.clone()
    if e == 0:
        return torch.ones_like(x)
    return x.pow(e)


def _check_number(value, name: str, minimum: Optional[float] = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f'{name} must be a number, got {type(value).__name__}')
    if minimum is not None and not value >= minimum:
        raise ValueError(f'{name} must be >= {minimum}, got {value!r}')
    return float(value)


def _ones_index(target: Tensor, row: int = 128) -> Tensor:
    """Flat indices ``(M,)`` of the elements equal to 1 (sorted), i.e. ``target.eq(1).nonzero()``.

    Heatmaps hold few exact ones, and a dense ``eq`` plus ``nonzero`` over millions of cells
    costs about five element-wise passes on CPU; so the maxima of rows of ``row`` cells are
    scanned first (one cheap reduction) and only the rows reaching 1 are searched.
    """
    flat = target.reshape(-1)
    n = flat.numel() - flat.numel() % row
    if n == 0:
        return flat.eq(1).nonzero().squeeze(1)
    rows = flat[:n].view(-1, row)
    # rows whose maximum is >= 1 or NaN (amax propagates NaN, which may hide a 1)
    hit = rows.amax(1).lt(1).logical_not_().nonzero().squeeze(1)
    r, c = rows.index_select(0, hit).eq(1).nonzero(as_tuple=True)
    found = hit[r].mul_(row).add_(c)
    if n < flat.numel():
        found = torch.cat((found, flat[n:].eq(1).nonzero().squeeze(1).add_(n)))
    return found


def _neg_and_grad(pred: Tensor, target: Tensor, alpha: float, gamma: float, neg_weight: float,
                  activated: bool, need_grad: bool):
    """Dense negative term ``neg_weight (1-t)^gamma (-log(1-p)) p^alpha`` and its derivative."""
    w = torch.rsub(target, 1.0)
    if gamma == 4:
        w.square_().square_()                           # in place: one allocation
    elif gamma != 1:
        w = _pow(w, gamma)
    if neg_weight != 1.0:
        w.mul_(neg_weight)
    grad = None
    if activated:
        p = pred
        nl1p = torch.rsub(p, 1.0).add_(EPS)            # 1 - p + eps
        pa = _pow(p, alpha)
        if need_grad:
            # d/dp [-log(1-p+eps) p^a] = p^a / (1-p+eps) - a p^(a-1) log(1-p+eps)
            grad = torch.div(pa, nl1p)
        nl1p.log_()                                     # log(1 - p + eps)
        loss = torch.mul(nl1p, pa).mul_(w).neg_()
        if need_grad:
            if alpha == 1:
                grad.sub_(nl1p)
            elif alpha != 0:
                pa1 = p if alpha == 2 else p.pow(alpha - 1)
                if alpha < 1:
                    pa1 = torch.where(p > 0, pa1, torch.zeros_like(pa1))
                grad.addcmul_(pa1, nl1p, value=-alpha)
            grad.mul_(w)
    else:
        x = pred
        p = torch.sigmoid(x)
        sp = F.softplus(x)                              # -log(1 - p)
        if alpha == 2:
            pa = p * p
        elif alpha == 0:
            pa = torch.ones_like(p)
        else:
            pa = F.logsigmoid(x).mul_(alpha).exp_()     # p^a in log space
        pa.mul_(w)
        loss = pa * sp
        if need_grad:
            # d/dx [softplus(x) p^a] = p^a (p + a (1 - p) softplus(x))
            grad = torch.addcmul(sp, p, sp, value=-1.0)
            grad = torch.add(p, grad, alpha=alpha).mul_(pa)
    return loss, grad


def _pos_loss(ps: Tensor, alpha: float, activated: bool) -> Tensor:
    """Positive term ``-log(p + eps) (1 - p)^alpha`` on gathered positives (autograd)."""
    if activated:
        return -(ps + EPS).log() * (1 - ps).pow(alpha)
    # log space: -log p = softplus(-x), (1-p)^a = exp(a logsigmoid(-x))
    return F.softplus(-ps) * (F.logsigmoid(-ps) * alpha).exp()


def _pos_loss_and_grad(ps: Tensor, alpha: float, activated: bool):
    if activated:
        q = torch.rsub(ps, 1.0)
        lp = (ps + EPS).log()
        qa = _pow(q, alpha)
        loss = -lp * qa
        # d/dp = -(1-p)^a / (p+eps) + a (1-p)^(a-1) log(p+eps)
        grad = -qa / (ps + EPS)
        if alpha != 0:
            qa1 = _pow(q, alpha - 1) if alpha != 1 else torch.ones_like(q)
            if alpha < 1:
                qa1 = torch.where(q > 0, qa1, torch.zeros_like(qa1))
            grad = grad + alpha * qa1 * lp
        return loss, grad
    q = torch.sigmoid(-ps)
    spn = F.softplus(-ps)                               # -log p
    qa = (F.logsigmoid(-ps) * alpha).exp() if alpha not in (0, 2) else _pow(q, alpha)
    loss = spn * qa
    # d/dx = -(1-p)^a ((1 - p) + a p softplus(-x))
    grad = -qa * (q + alpha * (1 - q) * spn)
    return loss, grad


class _GaussianFocalDense(torch.autograd.Function):
    """Element-wise Gaussian focal loss with an analytic gradient (positives: ``t == 1``)."""

    @staticmethod
    def forward(ctx, pred: Tensor, target: Tensor, alpha: float, gamma: float,
                pos_weight: float, neg_weight: float, activated: bool,
                with_pos: bool) -> Tensor:
        need_grad = ctx.needs_input_grad[0]
        pred, target = pred.contiguous(), target.contiguous()   # flat indices below
        loss, grad = _neg_and_grad(pred, target, alpha, gamma, neg_weight, activated, need_grad)
        if with_pos:
            flat = _ones_index(target)
            if flat.numel() > 0:
                ps = pred.reshape(-1).index_select(0, flat)
                pl, pg = _pos_loss_and_grad(ps, alpha, activated)
                loss.view(-1).index_add_(0, flat, pl, alpha=pos_weight)
                if need_grad:
                    grad.view(-1).index_add_(0, flat, pg, alpha=pos_weight)
        if need_grad:
            ctx.save_for_backward(grad)
        return loss

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        (grad,) = ctx.saved_tensors
        return grad_out * grad, None, None, None, None, None, None, None


class _GaussianFocalSum(torch.autograd.Function):
    """``sum`` of the element-wise loss of probabilities ``p`` (``activated=True``), fused.

    Shapes: ``pred``, ``target`` ``(*)``; output ``()``. For the unweighted ``'mean'`` /
    ``'sum'`` call (CenterHead's) no element-wise loss is built: with ``W = neg_weight
    (1 - t)**gamma`` and ``a = 1 - p + eps`` the negative sum is ``-dot(W p**alpha, log a)``
    and its gradient ``W p**alpha / a - alpha W p**(alpha-1) log a`` is assembled in the same
    buffers (about ten element-wise passes instead of the element-wise path's fourteen, no
    reduction pass). Positives (``t == 1``, where ``W = 0``) are patched in at their indices.
    One tensor of ``pred``'s shape is saved; backward is one multiply.
    """

    @staticmethod
    def forward(ctx, p: Tensor, target: Tensor, alpha: float, gamma: float,
                pos_weight: float, neg_weight: float) -> Tensor:
        need_grad = ctx.needs_input_grad[0]
        p, target = p.contiguous(), target.contiguous()   # flat indices address the buffers
        w = torch.rsub(target, 1.0)
        if gamma == 4:
            w.square_().square_()
        elif gamma != 1:
            w = _pow(w, gamma)
        if neg_weight != 1.0:
            w.mul_(neg_weight)
        # wpa1 = W p**(alpha-1) (the factor of the log term of the gradient), wpa = W p**alpha
        if alpha == 0:
            wpa1, wpa = None, w
        elif alpha == 1:
            wpa1, wpa = w, w * p
        elif alpha == 2:
            wpa1 = w.mul_(p)
            wpa = wpa1 * p
        else:
            pa1 = p.pow(alpha - 1)
            if alpha < 1:
                pa1 = torch.where(p > 0, pa1, torch.zeros_like(pa1))
            wpa1 = w.mul_(pa1)
            wpa = wpa1 * p
        a = torch.rsub(p, 1.0).add_(EPS)                # 1 - p + eps
        grad = torch.div(wpa, a) if need_grad else None
        a.log_()
        total = torch.dot(wpa.reshape(-1), a.reshape(-1)).neg()
        if need_grad and wpa1 is not None:
            grad.addcmul_(wpa1, a, value=-alpha)
        del w, wpa, wpa1, a
        flat = _ones_index(target)
        if flat.numel() > 0:
            ps = p.reshape(-1).index_select(0, flat)
            pl, pg = _pos_loss_and_grad(ps, alpha, True)
            total = total + pl.sum() * pos_weight
            if need_grad:
                grad.view(-1).index_add_(0, flat, pg, alpha=pos_weight)
        if need_grad:
            ctx.save_for_backward(grad)
        return total

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        (grad,) = ctx.saved_tensors
        return grad * grad_out, None, None, None, None, None


# An unweighted mean / sum of fewer probabilities than this runs plain autograd ops
# (:func:`_small_sum`): there the custom Function's fixed cost outweighs its fewer passes
# (~115 us against ~175 us forward + backward at (2, 3, 8, 8); crossover ~10k elements).
_SUM_FUSED_MIN_NUMEL = 1 << 12


def _small_sum(p: Tensor, target: Tensor, alpha: float, gamma: float, pos_weight: float,
               neg_weight: float) -> Tensor:
    """:class:`_GaussianFocalSum`'s value by plain autograd ops, for small inputs.

    ``p``, ``target`` ``(*)``; output ``()``. Needs ``gamma > 0`` (the negative term vanishes
    at the positives, ``t = 1``) and ``alpha`` 0 or >= 1 (finite gradient of the power at 0).
    Each element is ``-log(a) b**alpha c`` with ``a = p + eps``, ``b = 1 - p``,
    ``c = pos_weight`` at the positives and ``a = 1 - p + eps``, ``b = p``,
    ``c = neg_weight (1 - t)**gamma`` elsewhere; the sum is one dot product.
    """
    pos = target.eq(1)
    w = torch.rsub(target, 1.0)
    w = w.square().square_() if gamma == 4 else _pow(w, gamma)
    if neg_weight != 1.0:
        w.mul_(neg_weight)
    c = torch.where(pos, pos_weight, w)
    q = torch.rsub(p, 1.0)
    log_a = torch.where(pos, p, q).add(EPS).log()
    b = torch.where(pos, q, p)
    if alpha != 1:
        b = b * b if alpha == 2 else b.pow(alpha)
    return torch.dot(log_a.reshape(-1), b.mul(c).reshape(-1)).neg()


def _dense_autograd(pred, target, alpha, gamma, pos_weight, neg_weight, activated, with_pos):
    """The same element-wise loss by plain autograd (used when ``target`` needs a gradient)."""
    w = (1 - target).pow(gamma)
    if activated:
        neg = -(1 - pred + EPS).log() * pred.pow(alpha) * w
    else:
        neg = F.softplus(pred) * (F.logsigmoid(pred) * alpha).exp() * w
    loss = neg_weight * neg
    if with_pos:
        loss = loss + pos_weight * _pos_loss(pred, alpha, activated) * target.eq(1)
    return loss


def _elementwise(pred, target, alpha, gamma, pos_weight, neg_weight, activated, with_pos):
    if target.requires_grad and torch.is_grad_enabled():
        return _dense_autograd(pred, target, alpha, gamma, pos_weight, neg_weight, activated,
                               with_pos)
    return _GaussianFocalDense.apply(pred, target, alpha, gamma, pos_weight, neg_weight,
                                     activated, with_pos)


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
        weight: optional weight broadcast onto the element-wise loss.
        alpha: exponent of the prediction factor, ``>= 0``.
        gamma: exponent of ``1 - target`` for negatives, ``>= 0``.
        pos_weight, neg_weight: multipliers of the positive and negative terms.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        avg_factor: divisor of ``'mean'`` (CenterHead: ``max(num_pos, 1)``).
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
    alpha = _check_number(alpha, 'alpha')
    gamma = _check_number(gamma, 'gamma')
    pos_weight = _check_number(pos_weight, 'pos_weight', None)
    neg_weight = _check_number(neg_weight, 'neg_weight', None)
    if not isinstance(activated, bool):
        raise TypeError(f'activated must be a bool, got {type(activated).__name__}')
    _check_pred(pred, min_dim=0)
    if not isinstance(target, torch.Tensor):
        raise TypeError(f'target must be a torch.Tensor, got {type(target).__name__}')
    if not target.is_floating_point():
        raise TypeError(f'target must be a floating point heatmap, got {target.dtype}')
    if target.shape != pred.shape:
        raise ValueError(f'target of shape {tuple(target.shape)} must have the shape of pred '
                         f'{tuple(pred.shape)}')
    if (pos_inds is None) != (pos_labels is None):
        raise ValueError('pos_inds and pos_labels must be given together')
    if activated:
        _check_probabilities(pred.detach(), name='pred')    # NaN passes and propagates
    with no_autocast(pred):
        pred = to_float32(pred)
        target = target.to(pred.dtype)
        if weight is not None:
            weight = to_float32(weight)
        if pos_inds is None:
            if (activated and weight is None and reduction != 'none' and pred.numel() > 0
                    and not (target.requires_grad and torch.is_grad_enabled())):
                if pred.numel() < _SUM_FUSED_MIN_NUMEL and gamma > 0 \
                        and (alpha == 0 or alpha >= 1):
                    total = _small_sum(pred, target, alpha, gamma, pos_weight, neg_weight)
                else:
                    total = _GaussianFocalSum.apply(pred, target, alpha, gamma, pos_weight,
                                                    neg_weight)
                return reduce_weighted_sum(total, pred.numel(), reduction, avg_factor)
            loss = _elementwise(pred, target, alpha, gamma, pos_weight, neg_weight, activated,
                                True)
            return weight_reduce_loss(loss, weight, reduction, avg_factor)
        return _with_pos_inds(pred, target, weight, pos_inds, pos_labels, alpha, gamma,
                              pos_weight, neg_weight, reduction, avg_factor, activated)


def _with_pos_inds(pred, target, weight, pos_inds, pos_labels, alpha, gamma, pos_weight,
                   neg_weight, reduction, avg_factor, activated):
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
    if pos_inds.numel() > 0:
        # one device-to-host copy for the four bounds
        i_lo, i_hi, l_lo, l_hi = torch.stack(
            torch.aminmax(pos_inds.long()) + torch.aminmax(pos_labels.long())).tolist()
        if i_lo < -n or i_hi >= n:
            raise ValueError(f'pos_inds must index the {n} rows of pred, got values in '
                             f'[{i_lo}, {i_hi}]')
        if l_lo < 0 or l_hi >= c:
            raise ValueError(f'pos_labels must lie in [0, {c - 1}], got values in '
                             f'[{l_lo}, {l_hi}]')
    neg = _elementwise(pred, target, alpha, gamma, 1.0, neg_weight, activated, False)
    rows, cols = pos_inds.long() % max(n, 1), pos_labels.long()
    pos = _pos_loss(pred[rows, cols], alpha, activated)
    pos_w = None
    if weight is not None:
        weight = align_weight(weight, neg).expand(neg.shape)
        pos_w = weight[rows, cols]
    if reduction == 'none':
        if pos_w is not None:
            pos = pos * pos_w
        neg = weight_reduce_loss(neg, weight, 'none')
        return neg.index_put((rows, cols), pos_weight * pos, accumulate=True)
    pos = weight_reduce_loss(pos, pos_w, reduction, avg_factor)
    neg = weight_reduce_loss(neg, weight, reduction, avg_factor)
    return pos_weight * pos + neg


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
        self.alpha = _check_number(alpha, 'alpha')
        self.gamma = _check_number(gamma, 'gamma')
        self.pos_weight = _check_number(pos_weight, 'pos_weight', None)
        self.neg_weight = _check_number(neg_weight, 'neg_weight', None)
        if not isinstance(activated, bool):
            raise TypeError(f'activated must be a bool, got {type(activated).__name__}')
        self.activated = activated
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
        ``weight=`` by keyword. A floating tensor of ``pred``'s shape given as ``pos_inds``
        is rejected, since it is almost surely a misplaced weight.
        """
        if isinstance(pos_inds, torch.Tensor) and pos_inds.is_floating_point():
            raise TypeError('pos_inds (third positional argument, as in mmdet) must be an '
                            'integer index tensor; pass a loss weight as weight=...')
        reduction = self.resolve_reduction(reduction_override)
        loss = gaussian_focal_loss(pred, target, weight, self.alpha, self.gamma,
                                   self.pos_weight, self.neg_weight, reduction, avg_factor,
                                   self.activated, pos_inds, pos_labels)
        return loss if self.loss_weight == 1.0 else self.loss_weight * loss

    def extra_repr(self) -> str:
        return (f'alpha={self.alpha}, gamma={self.gamma}, pos_weight={self.pos_weight}, '
                f'neg_weight={self.neg_weight}, activated={self.activated}, '
                + super().extra_repr())
