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

Empty inputs and all-ignored targets give a zero connected to the graph (torch gives NaN).

Logits ``(N, C)`` with integer labels (the anchor-head case) run through one fused autograd
``Function`` shared with the softmax focal loss (``_SoftmaxFocalIndex``): on CPU torch's
``log_softmax`` over a short class dim is several times slower than ``max``/``exp``/``sum``, so
this path is ~3x faster than ``F.cross_entropy`` at ``C = 10``; ``(N, C, d1, ...)`` keeps torch.
"""
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..registry import MODELS
from ..traps import warn_known_traps
from .base import BaseLoss, autocast_off, no_autocast, to_float32
from .reduction import check_reduction, weight_reduce_loss

__all__ = ['cross_entropy', 'binary_cross_entropy', 'CrossEntropyLoss']

Number = Union[int, float]


# ----------------------------------------------------------------------------------- checks
def _check_pred(pred, name: str = 'pred', min_dim: int = 1) -> None:
    if not isinstance(pred, torch.Tensor):
        raise TypeError(f'{name} must be a torch.Tensor, got {type(pred).__name__}')
    if not pred.is_floating_point():
        raise TypeError(f'{name} must be a floating point tensor (logits), got {pred.dtype}')
    if pred.dim() < min_dim:
        raise ValueError(f'{name} must have at least {min_dim} dimension(s), got shape '
                         f'{tuple(pred.shape)}')


def _check_target_tensor(target, name: str = 'target') -> None:
    if not isinstance(target, torch.Tensor):
        raise TypeError(f'{name} must be a torch.Tensor, got {type(target).__name__}')
    if target.dtype == torch.bool:
        raise TypeError(f'{name} must be integer labels or floating point targets, got '
                        f'torch.bool')


# integer label tensors up to this size are range-checked in Python (``tolist``, ``min``,
# ``max``: ~1.7 us at 16 labels against ~3 us for ``aminmax`` + ``stack`` + ``tolist``;
# equal at ~64)
_PY_MINMAX_NUMEL = 48


def _check_labels(labels: Tensor, num_valid: int, ignore_index: Optional[int],
                  name: str = 'target') -> bool:
    """Labels must lie in ``[0, num_valid)`` or equal ``ignore_index``; else ``ValueError``.

    Returns ``True`` when every label lies in ``[0, num_valid)`` (no ignored label can be
    present unless ``ignore_index`` itself is in that range).
    """
    n = labels.numel()
    if n == 0:
        return True
    if n <= _PY_MINMAX_NUMEL and labels.is_cpu:
        values = labels.reshape(-1).tolist()   # a few integers: Python's min/max are cheaper
        lo, hi = min(values), max(values)
    else:
        lo, hi = torch.stack(torch.aminmax(labels)).tolist()  # one device-to-host copy
    if lo >= 0 and hi < num_valid:
        return True
    bad = (labels < 0) | (labels >= num_valid)
    if ignore_index is not None:
        bad &= labels != ignore_index
    if bool(bad.any()):
        value = int(labels[bad].flatten()[0])
        ignore = '' if ignore_index is None else f' or equal ignore_index={ignore_index}'
        raise ValueError(f'{name} labels must lie in [0, {num_valid - 1}]{ignore}; got '
                         f'{value} (labels of shape {tuple(labels.shape)})')
    return False


def _check_probabilities(target: Tensor, ignore_index: Optional[int] = None,
                         name: str = 'target') -> bool:
    """Values must lie in [0, 1] (or equal ``ignore_index``); NaN is let through (it
    propagates into the loss). One ``aminmax`` pass when the values are valid.

    Returns ``True`` when every value lies in ``[0, 1]`` (no NaN, no ``ignore_index`` outside
    that range can be present), else ``False``.
    """
    if target.numel() == 0:
        return True
    lo, hi = torch.stack(torch.aminmax(target.detach())).tolist()  # one device-to-host copy
    if lo >= 0 and hi <= 1:
        return True
    bad = (target < 0) | (target > 1)
    if ignore_index is not None:
        bad &= target != ignore_index
    if bool(bad.any()):
        value = float(target[bad].flatten()[0])
        raise ValueError(f'{name} values must lie in [0, 1] (probabilities); got {value} '
                         f'({name} of shape {tuple(target.shape)})')
    return False


def _class_weight_tensor(class_weight, num_classes: int, like: Tensor,
                         name: str = 'class_weight') -> Optional[Tensor]:
    if class_weight is None:
        return None
    cw = torch.as_tensor(class_weight, dtype=like.dtype, device=like.device)
    if cw.dim() != 1 or cw.numel() != num_classes:
        raise ValueError(f'{name} must hold one weight per class ({num_classes}), got shape '
                         f'{tuple(cw.shape)}')
    return cw


#: Values of ``CrossEntropyLoss(mean_convention=...)``.
MEAN_CONVENTIONS = ('torch', 'mmdet')


def _check_mean_convention(mean_convention) -> str:
    if mean_convention not in MEAN_CONVENTIONS:
        raise ValueError(f'mean_convention must be one of {MEAN_CONVENTIONS}, got '
                         f'{mean_convention!r}')
    return mean_convention


def _check_class_weight_arg(class_weight, name: str = 'class_weight'):
    """Constructor-time check: ``None`` or a 1-D sequence of numbers; returned as a tuple."""
    if class_weight is None:
        return None
    if isinstance(class_weight, torch.Tensor):
        class_weight = class_weight.detach().cpu().flatten().tolist()
    if isinstance(class_weight, (str, bytes)) or not isinstance(class_weight, Sequence):
        raise TypeError(f'{name} must be None or a sequence of numbers, got '
                        f'{type(class_weight).__name__}')
    for w in class_weight:
        if isinstance(w, bool) or not isinstance(w, (int, float)):
            raise TypeError(f'{name} must hold numbers, got {w!r}')
    return tuple(float(w) for w in class_weight)


def _check_index(value, name: str) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f'{name} must be an int or None, got {type(value).__name__}')
    return value


# --------------------------------------------------------------------- fused softmax kernel
class _SoftmaxFocalIndex(torch.autograd.Function):
    """Per-sample ``-(1 - p_y)**gamma * log p_y`` of logits ``x (N, C)``, labels ``y (N,)``.

    ``p = softmax(x, dim=1)``; ``gamma = 0`` is cross-entropy. Labels must lie in ``[0, C)``
    (the caller replaces ignored labels and masks their losses). Output ``(N,)``.

    Why: on CPU ``F.log_softmax`` over a short class dim (``C`` of a detection head, ~10) is
    several times slower than its element-wise parts, so the forward computes
    ``m = max_c x``, ``e = exp(x - m)``, ``s = sum_c e`` and ``log p_y = x_y - m - log s``
    directly, and the gradient ``c_i (p - onehot(y))`` with
    ``c = -d loss / d log p_y = q**gamma - gamma q**(gamma-1) p_y log p_y`` (``q = 1 - p_y``)
    is built in ``e``'s buffer: one tensor of ``x``'s shape saved, backward one multiply.
    For ``0 < gamma < 1`` the base ``q`` is clamped to the smallest normal float, as
    :func:`bev_losses.losses.focal._safe_pow` does, so the gradient at ``p_y = 1`` stays finite.
    NaN in a row of ``x`` makes that row's loss and gradient NaN (``amax`` propagates NaN).
    """

    @staticmethod
    def forward(ctx, x: Tensor, y: Tensor, gamma: float) -> Tensor:
        m = x.amax(1, keepdim=True)                               # (N, 1)
        e = torch.sub(x, m).exp_()                                # (N, C)
        s = e.sum(1, keepdim=True)                                # (N, 1)
        yk = y.unsqueeze(1)
        logpt = x.gather(1, yk).sub_(m).sub_(s.log()).squeeze(1)  # (N,)
        if gamma == 0:
            loss, c = logpt.neg(), None
        else:
            q = torch.expm1(logpt).neg_()                         # 1 - p_y, accurate near 1
            live = None
            if 0 < gamma < 1:
                live = q >= torch.finfo(q.dtype).tiny
                q = q.clamp_min(torch.finfo(q.dtype).tiny)
            qg = q.pow(gamma) if gamma not in (1, 2) else (q.clone() if gamma == 1 else q * q)
            loss = torch.mul(qg, logpt).neg_()
            # gamma q**(gamma-1) times p_y log p_y
            dq = (torch.full_like(q, gamma) if gamma == 1 else
                  q.mul(2.0) if gamma == 2 else q.pow(gamma - 1).mul_(gamma))
            if live is not None:
                dq = dq.mul_(live)
            c = qg.sub_(dq.mul_(logpt.exp()).mul_(logpt))
        if ctx.needs_input_grad[0]:
            e.div_(s)                                             # p
            if c is None:
                e.scatter_add_(1, yk, torch.full_like(m, -1.0))
            else:
                ck = c.unsqueeze(1)
                e.mul_(ck).scatter_add_(1, yk, ck.neg())
            ctx.save_for_backward(e)
        return loss

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        (grad,) = ctx.saved_tensors
        return grad * grad_out.unsqueeze(1), None, None


# Cross-entropy on fewer (N, C) logits than this runs torch's kernel: there the custom
# Function's fixed cost (~60 us a call on 2 threads, forward + backward) outweighs its faster
# passes (crossover ~8k elements at C = 5 and 10, measured side by side).
_CE_FUSED_MIN_NUMEL = 1 << 13


def _use_fused_softmax(pred: Tensor, label_smoothing: float = 0.0, min_numel: int = 1) -> bool:
    """The fused kernel serves ``(N, C)`` logits (at least ``min_numel`` elements, at least
    one) with integer labels, no label smoothing; ``(N, C, d1, ...)`` keeps torch's kernel,
    which vectorises over ``d1...`` and is faster."""
    return pred.dim() == 2 and pred.numel() >= max(min_numel, 1) and not label_smoothing


# F.cross_entropy's kernel, called as F calls it (the private entry point skips its ~3 us of
# Python wrapper); the public function where this build lacks it
try:
    from torch.nn import _reduction as _torch_reduction
    _CE_ENUM = {r: _torch_reduction.get_enum(r) for r in ('none', 'mean', 'sum')}
    _CE_KERNEL = torch._C._nn.cross_entropy_loss
except (ImportError, AttributeError):  # pragma: no cover - other torch builds
    _CE_ENUM = {r: r for r in ('none', 'mean', 'sum')}

    def _CE_KERNEL(x, y, w, r, ii, ls):
        return F.cross_entropy(x, y, weight=w, reduction=r, ignore_index=ii, label_smoothing=ls)

_KERNEL_DTYPES = (torch.float32, torch.float64)
_INT64 = torch.int64


def _plain_softmax_ce(pred: Tensor, target: Tensor, reduction: str, ignore_index: int,
                      label_smoothing: float) -> Optional[Tensor]:
    """Plain softmax CE of CPU ``pred (N, C, *)`` float32/64 and int64 ``target (N, *)``
    through torch's kernel, without the up-front label check: torch's kernel bounds-checks
    every label on CPU (``IndexError``) and checks the shapes. Returns ``None`` where
    :func:`cross_entropy` must decide: an error in torch's kernel (a label out of range, a
    shape that does not fit: it raises its own ``ValueError`` / ``TypeError``) or a
    NaN ``'mean'`` (all labels ignored, which gives 0 there, or NaN in ``pred``, which
    propagates there too). Else the value :func:`cross_entropy` gives, up to rounding.
    """
    try:
        loss = _CE_KERNEL(pred, target, None, _CE_ENUM[reduction], ignore_index,
                          label_smoothing)
    except (IndexError, RuntimeError, ValueError):
        return None
    if reduction == 'mean':
        value = loss.item()  # a CPU scalar: no device sync
        if value != value:
            return None
    return loss


def softmax_index_loss(pred: Tensor, labels: Tensor, valid: Optional[Tensor], gamma: float,
                       class_weight: Optional[Tensor] = None) -> Tensor:
    """Per-sample ``class_weight[y] (1 - p_y)**gamma (-log p_y)`` of ``pred (N, C)``.

    ``labels (N,)`` long; ``valid (N,)`` bool or ``None`` (all valid): invalid (ignored)
    samples give 0, and their label may be anything. Output ``(N,)``.
    """
    safe = labels if valid is None else labels.masked_fill(~valid, 0)
    loss = _SoftmaxFocalIndex.apply(pred, safe, float(gamma))
    if class_weight is not None:
        wt = class_weight[safe]
        loss = loss * (wt if valid is None else wt.mul_(valid))
    elif valid is not None:
        loss = loss * valid.to(loss.dtype)
    return loss


# ------------------------------------------------------------------------------ functional
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
    torch_mean = _check_mean_convention(mean_convention) == 'torch'
    _check_pred(pred)
    _check_target_tensor(target)
    ignore_index = _check_index(ignore_index, 'ignore_index')
    if ignore_index is None:
        ignore_index = -100
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
            or not 0.0 <= float(label_smoothing) <= 1.0:
        raise ValueError(f'label_smoothing must be a number in [0, 1], got {label_smoothing!r}')
    class_dim = 1 if pred.dim() >= 2 else 0
    num_classes = pred.shape[class_dim]
    index_shape = pred.shape[:class_dim] + pred.shape[class_dim + 1:]
    with no_autocast(pred):
        pred = to_float32(pred)
        cw = _class_weight_tensor(class_weight, num_classes, pred)
        if target.is_floating_point():
            if target.shape != pred.shape:
                if target.shape == index_shape:
                    raise TypeError(f'target has the shape of class indices '
                                    f'{tuple(target.shape)} but a floating dtype '
                                    f'({target.dtype}); pass integer labels (e.g. .long())')
                raise ValueError(f'target of shape {tuple(target.shape)} does not fit pred of '
                                 f'shape {tuple(pred.shape)}: expected indices of shape '
                                 f'{tuple(index_shape)} or probabilities of shape '
                                 f'{tuple(pred.shape)}')
            _check_probabilities(target)
            target = target.to(pred.dtype)
            valid = None
        else:
            if target.shape != index_shape:
                raise ValueError(f'target of shape {tuple(target.shape)} does not fit pred of '
                                 f'shape {tuple(pred.shape)}: expected indices of shape '
                                 f'{tuple(index_shape)} or probabilities of shape '
                                 f'{tuple(pred.shape)}')
            in_range = _check_labels(target, num_classes, ignore_index)
            target = target.long()
            if in_range and not 0 <= ignore_index < num_classes:
                valid = None      # nothing ignored: skip the mask
                if cw is not None and weight is None and avg_factor is None and torch_mean \
                        and reduction == 'mean' and target.numel() > 0:
                    denom = cw[target].sum()
                    if _use_fused_softmax(pred, label_smoothing, _CE_FUSED_MIN_NUMEL):
                        loss = softmax_index_loss(pred, target, None, 0.0, cw)
                    else:
                        loss = F.cross_entropy(pred, target, weight=cw, reduction='none',
                                               label_smoothing=float(label_smoothing))
                    return weight_reduce_loss(loss, None, 'mean', denom)
            else:
                valid = target != ignore_index
        if not target.is_floating_point() and _use_fused_softmax(pred, label_smoothing,
                                                                 _CE_FUSED_MIN_NUMEL):
            loss = softmax_index_loss(pred, target, valid, 0.0, cw)
        else:
            loss = F.cross_entropy(pred, target, weight=cw, ignore_index=ignore_index,
                                   reduction='none', label_smoothing=float(label_smoothing))
        if weight is None and avg_factor is None and torch_mean:
            # torch's convention: divide by the summed class weights of the valid targets.
            if reduction == 'mean' and valid is not None:
                if cw is None:
                    denom = valid.sum().to(loss.dtype)
                else:
                    denom = cw[target.clamp(0, num_classes - 1)].mul(valid).sum()
                return weight_reduce_loss(loss, None, 'mean', denom) \
                    if loss.numel() > 0 else weight_reduce_loss(loss, None, 'mean')
            return weight_reduce_loss(loss, None, reduction)
        # mmdet's convention
        if avg_factor is None and avg_non_ignore and reduction == 'mean' and valid is not None:
            avg_factor = valid.sum().item()
        elif avg_factor is None and avg_non_ignore and reduction == 'mean' \
                and not target.is_floating_point():
            avg_factor = float(target.numel())
        if weight is not None:
            weight = to_float32(weight)
        return weight_reduce_loss(loss, weight, reduction, avg_factor)


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
            weight ``pred.shape[:-1]`` is accepted.
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
    _check_pred(pred)
    _check_target_tensor(target)
    ignore_index = _check_index(ignore_index, 'ignore_index')
    if ignore_index is None:
        ignore_index = -100
    num_classes = pred.shape[-1]
    with no_autocast(pred):
        pred = to_float32(pred)
        cw = _class_weight_tensor(class_weight, num_classes, pred)
        if target.shape == pred.shape:
            if target.is_floating_point():
                in_range = _check_probabilities(target, ignore_index) \
                    and not 0 <= ignore_index <= 1
            else:
                in_range = _check_labels(target, 2, ignore_index) and not 0 <= ignore_index < 2
            target_f = target.to(pred.dtype)
            if not in_range:
                valid = target != ignore_index
                target_f = target_f.masked_fill(~valid, 0)
                valid_f = valid.to(pred.dtype)
        elif target.shape == pred.shape[:-1]:
            if target.is_floating_point():
                raise TypeError(f'target has the shape of class indices {tuple(target.shape)} '
                                f'but a floating dtype ({target.dtype}); pass integer labels')
            in_range = _check_labels(target, num_classes + 1, ignore_index) \
                and not 0 <= ignore_index <= num_classes
            classes = torch.arange(num_classes, device=target.device)
            target_f = (target.unsqueeze(-1) == classes).to(pred.dtype)
            if not in_range:
                valid = target != ignore_index
                valid_f = valid.unsqueeze(-1).to(pred.dtype).expand(pred.shape)
        else:
            raise ValueError(f'target of shape {tuple(target.shape)} does not fit pred of shape '
                             f'{tuple(pred.shape)}: expected labels of shape '
                             f'{tuple(pred.shape[:-1])} or a target of shape {tuple(pred.shape)}')
        if in_range:
            # nothing can be ignored: no mask (two passes less, forward and backward)
            if avg_factor is None and avg_non_ignore and reduction == 'mean':
                avg_factor = float(pred.numel())
            if weight is None and avg_factor is None and reduction != 'none' \
                    and pred.numel() > 0:
                return F.binary_cross_entropy_with_logits(pred, target_f, pos_weight=cw,
                                                          reduction=reduction)
            loss = F.binary_cross_entropy_with_logits(pred, target_f, pos_weight=cw,
                                                      reduction='none')
        else:
            loss = F.binary_cross_entropy_with_logits(pred, target_f, pos_weight=cw,
                                                      reduction='none') * valid_f
            if avg_factor is None and avg_non_ignore and reduction == 'mean':
                avg_factor = valid_f.sum().item()
        if weight is not None:
            weight = to_float32(weight)
        return weight_reduce_loss(loss, weight, reduction, avg_factor)


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
        if not isinstance(use_sigmoid, bool):
            raise TypeError(f'use_sigmoid must be a bool, got {type(use_sigmoid).__name__}')
        if not isinstance(avg_non_ignore, bool):
            raise TypeError(f'avg_non_ignore must be a bool, got '
                            f'{type(avg_non_ignore).__name__}')
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
                or not 0.0 <= float(label_smoothing) <= 1.0:
            raise ValueError(f'label_smoothing must be a number in [0, 1], got '
                             f'{label_smoothing!r}')
        if use_sigmoid and label_smoothing:
            raise ValueError('label_smoothing is only supported with use_sigmoid=False')
        self.use_sigmoid = use_sigmoid
        self.class_weight = _check_class_weight_arg(class_weight)
        self.ignore_index = -100 if ignore_index is None else _check_index(ignore_index,
                                                                           'ignore_index')
        self.label_smoothing = float(label_smoothing)
        self.avg_non_ignore = avg_non_ignore
        self.mean_convention = _check_mean_convention(mean_convention)
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
        if weight is None and avg_factor is None and reduction_override is None \
                and ignore_index is None and not kwargs and not self.use_sigmoid \
                and self.class_weight is None and self.loss_weight == 1.0 \
                and self.mean_convention == 'torch' \
                and type(pred) is Tensor and type(target) is Tensor \
                and pred.dtype in _KERNEL_DTYPES and target.dtype == _INT64 \
                and pred.is_cpu and target.is_cpu and pred.numel() > 0 \
                and (pred.dim() != 2 or pred.numel() < _CE_FUSED_MIN_NUMEL) and autocast_off():
            # the plain CPU call that cross_entropy would send to torch's kernel anyway; a
            # target shape other than pred's without the class dim (1 for (N, C, *) pred, 0
            # for (C,)) is an error in torch's kernel and takes the checked path below
            loss = _plain_softmax_ce(pred, target, self.reduction, self.ignore_index,
                                     self.label_smoothing)
            if loss is not None:
                return loss
        for key, value in kwargs.items():
            if value is not None:
                raise TypeError(f'CrossEntropyLoss.forward got an unexpected argument {key!r}')
        reduction = self.resolve_reduction(reduction_override)
        ignore_index = self.ignore_index if ignore_index is None else _check_index(
            ignore_index, 'ignore_index')
        if self.use_sigmoid:
            loss = binary_cross_entropy(pred, target, weight, self.class_weight, ignore_index,
                                        reduction, avg_factor, self.avg_non_ignore)
        else:
            loss = cross_entropy(pred, target, weight, self.class_weight, ignore_index,
                                 self.label_smoothing, reduction, avg_factor,
                                 self.avg_non_ignore, self.mean_convention)
        return loss if self.loss_weight == 1.0 else self.loss_weight * loss

    def extra_repr(self) -> str:
        return (f'use_sigmoid={self.use_sigmoid}, class_weight={self.class_weight}, '
                f'ignore_index={self.ignore_index}, label_smoothing={self.label_smoothing}, '
                f'avg_non_ignore={self.avg_non_ignore}, '
                f'mean_convention={self.mean_convention!r}, ' + super().extra_repr())
