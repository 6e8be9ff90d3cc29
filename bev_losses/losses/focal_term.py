"""The focal term shared by the sigmoid focal loss and the Gaussian focal loss.

Per element of ``u`` (logits, or probabilities ``p``) with a boolean "positive" mask ``pos``::

    loss = c * (-log r) * w**e,   r = p on positives and 1 - p elsewhere,  w = 1 - r,
    c = c_pos on positives and c_neg elsewhere.

* sigmoid focal loss (integer labels): ``u`` logits, ``pos`` the one-hot target,
  ``c_pos = alpha``, ``c_neg = 1 - alpha``, ``e = gamma``;
* Gaussian focal loss: ``pos = (target == 1)``, ``c_pos = pos_weight``,
  ``c_neg = neg_weight * (1 - target)**gamma``, ``e = alpha``; on probabilities ``-log r`` is
  mmdet's ``-log(r + eps)``.

On logits everything is in log space: with ``z = -x`` on positives and ``x`` elsewhere,
``-log r = softplus(z)`` and ``w = sigmoid(z)``, ``w**e = exp(e * logsigmoid(z))``: finite values
and gradients for any finite logit. The loss is dense (a 0/1 float mask, no index lists; the
selections are ``lerp``, exact at 0 and 1), so it never reads tensor data, and its gradient is
computed analytically in the same pass (one tensor saved for backward instead of autograd's
many). :class:`FocalTerm` is a ``torch.func``-ready autograd
``Function`` (``setup_context``, a generated vmap rule) that ``torch.compile`` traces whole.

Gradient, with ``s = -1`` on positives and ``+1`` elsewhere (``dz/dx``):

* logits: ``d loss / dx = s * c * w**e * (w + e * (1 - w) * softplus(z))``;
* probabilities: ``d loss / dp = s * c * w**(e-1) * (w / (r + eps) + e * (-log(r + eps)))``
  (``dr/dp = -s``);
  for ``e < 1`` the factor ``w**(e-1)`` is taken as 0 where ``w = 0`` (autograd through
  ``pow`` gives ``inf * 0 = NaN`` there).
"""
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

Coef = Union[float, Tensor]


def _select(m: Optional[Tensor], a: Tensor, b: Tensor) -> Tensor:
    """``a`` where the 0/1 mask ``m`` is 1, ``b`` where it is 0 (``m=None``: ``b``).

    ``torch.lerp`` is exact at weights 0 and 1 (``b + 0 * (a - b)`` and ``a - (a - b) * 0``)
    and, unlike ``where`` / ``masked_fill`` with a bool mask, a vectorised float kernel on CPU
    (several times faster there; the same on a GPU)."""
    return b if m is None else torch.lerp(b, a, m)


def _coef(m: Optional[Tensor], c_pos: Coef, c_neg: Coef, like: Tensor) -> Tensor:
    """``c_pos`` on positives, ``c_neg`` elsewhere, in ``like``'s dtype and device (a number
    becomes a 0-d tensor filled in that dtype: float64 stays exact; broadcast, never copied)."""
    def as_t(c):
        return c.to(like.dtype) if isinstance(c, Tensor) else like.new_full((), c)
    return as_t(c_neg) if m is None else _select(m, as_t(c_pos), as_t(c_neg))


def _power(w: Tensor, e: float) -> Tensor:
    """``w ** e`` (a fresh tensor), the common exponents as products."""
    if e == 0:
        return torch.ones_like(w)
    if e == 1:
        return w.clone()
    if e == 2:
        return w * w
    if e == 4:
        return (w * w).square_()
    return w.pow(e)


def _reduce(a: Tensor, b: Tensor, summed: bool) -> Tensor:
    """``a * b`` (``a`` of the full shape), or its sum.

    The sum is torch's ``sum`` of the product (pairwise on CPU, a tree on CUDA), not
    ``torch.dot``: a float32 dot product keeps a few running sums, which on an anchor head's
    ``(320000, 10)`` focal loss (many tiny negative terms, a few large ones) is off by 3e-5
    relative (mmdet's sum: 8e-8); nuScenes PointPillars' ``loss_cls`` moved from 0.99306738 to
    0.99303806. The product is a temporary, not saved for backward.
    """
    prod = a * b
    return prod.sum() if summed else prod


def focal_term_forward(u: Tensor, m: Optional[Tensor], s: Optional[Tensor], c: Tensor, e: float,
                       prob_eps: Optional[float], summed: bool,
                       need_grad: bool) -> Tuple[Tensor, Optional[Tensor]]:
    """``loss`` (element-wise, or its sum) and, if ``need_grad``, ``d loss / d u``.

    Args:
        u: logits (``prob_eps=None``) or probabilities, any shape ``(*)``.
        m: 0/1 float mask of the positives (``u``'s dtype) broadcastable to ``(*)``, or
            ``None`` (no positives).
        s: ``1 - 2 m`` (``-1`` on the positives), or ``None`` with ``m``.
        c: coefficient broadcastable to ``(*)`` (see :func:`_coef`; a weight folded in).
        e: exponent of ``w`` (``>= 0``).
        prob_eps: ``eps`` of ``-log(r + eps)`` for probabilities; ``None`` for logits.
        summed: return the sum ``()`` instead of the element-wise loss (built as a temporary
            and summed by torch's accurate ``sum``; see :func:`_reduce`).
        need_grad: also compute the gradient.

    Returns:
        ``(loss (*) or (), grad (*) or None)``; the true gradient is ``grad`` times
        :func:`grad_scale` ``(e, prob_eps)``.
    """
    if prob_eps is None:
        z = u if s is None else u * s                        # -x on the positives
        sp = F.softplus(z)                                   # -log r
        w = torch.sigmoid(z)
        we = F.logsigmoid(z).mul_(e).exp_() if e not in (0, 1, 2, 4) else _power(w, e)
        wec = we.mul_(c)                                     # c w**e (we is a fresh tensor)
        loss = _reduce(sp, wec, summed)
        if not need_grad:
            return loss, None
        # s c w**e (w + e (1 - w) softplus(z))
        grad = torch.addcmul(w, sp, torch.rsub(w, 1.0), value=e).mul_(wec)
        return loss, (grad if s is None else grad.mul_(s))
    q = torch.rsub(u, 1.0)
    r = _select(m, u, q)                                     # the target side's probability
    w = _select(m, q, u)                                     # the other side's (exact p, 1 - p)
    re = r.add_(prob_eps)                                    # r + eps (r is a fresh tensor)
    logre = torch.log(re)                                    # -log(r + eps) = -logre
    # c w**(e-1), then c w**e from it: the gradient reuses the first (one pass less)
    if e == 0:
        wc1, wec = None, c
    else:
        if e == 1:
            wc1 = c
        elif e == 2:
            wc1 = w * c
        else:
            we1 = w.pow(e - 1)
            if e < 1:       # w**(e-1) taken as 0 where w = 0 (autograd: inf * 0 = NaN)
                we1 = torch.where(w > 0, we1, torch.zeros_like(we1))
            wc1 = we1.mul_(c)
        wec = wc1 * w
    if e == 0:
        loss = _reduce(logre, wec, summed).neg_()
    else:       # wec is a fresh temporary here: the product in its buffer (no allocation)
        prod = wec.mul_(logre)
        loss = prod.sum().neg_() if summed else prod.neg_()
    if not need_grad:
        return loss, None
    # s c w**(e-1) (w / (r + eps) - e * logre) = -e * s c w**(e-1) (logre - w / (e (r + eps))):
    # returned without the factor -e (one addcdiv instead of a divide and a subtract; the
    # backward multiplies it in, see grad_scale); w may be the input u: never written in place
    if e == 0:
        grad = re.reciprocal_().mul_(c)
    else:
        grad = torch.addcdiv(logre, w, re, value=-1.0 / e).mul_(wc1)
    return loss, (grad if s is None else grad.mul_(s))


def grad_scale(e: float, prob_eps: Optional[float]) -> float:
    """The factor :func:`focal_term_forward` leaves out of its gradient (``-e`` for
    probabilities with ``e > 0``, else 1)."""
    return -e if prob_eps is not None and e != 0 else 1.0


def focal_term_sparse_forward(u: Tensor, c: Tensor, index: Tensor, c_index: Tensor, e: float,
                              prob_eps: Optional[float], summed: bool,
                              need_grad: bool) -> Tuple[Tensor, Optional[Tensor]]:
    """:func:`focal_term_forward` with the positives given as flat indices ``index (M,)``
    into ``u`` instead of a mask: the negative term densely (coefficient ``c``) with no mask,
    then the positive term on the ``M`` gathered elements (coefficient ``c_index``, ``()`` or
    ``(M,)``) added in place at their indices, to the loss and to the gradient. For a CPU,
    where finding an index list costs no synchronisation (see ``checks.host_reads_free``)."""
    u = u.contiguous()                                       # the patches address u flat
    loss, grad = focal_term_forward(u, None, None, c, e, prob_eps, summed, need_grad)
    up = u.reshape(-1).index_select(0, index)
    one = up.new_ones(())
    loss_p, grad_p = focal_term_forward(up, one, -one, c_index, e, prob_eps, summed, need_grad)
    if summed:
        loss = loss + loss_p
    else:
        loss.view(-1).index_add_(0, index, loss_p)
    if need_grad:
        grad.view(-1).index_add_(0, index, grad_p)
    return loss, grad


class FocalTerm(torch.autograd.Function):
    """Autograd ``Function`` of :func:`focal_term_forward` (``index=None``) or
    :func:`focal_term_sparse_forward`: the forward returns the loss and its gradient
    (non-differentiable, saved); backward is one multiply. Differentiable once (a second
    derivative raises instead of being silently wrong)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(u, m, s, c, e, prob_eps, summed, index, c_index):
        if index is not None:
            return focal_term_sparse_forward(u, c, index, c_index, e, prob_eps, summed, True)
        return focal_term_forward(u, m, s, c, e, prob_eps, summed, True)

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, grad = output
        ctx.mark_non_differentiable(grad)
        ctx.save_for_backward(grad)
        ctx.scale = grad_scale(inputs[4], inputs[5])

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss, _grad_grad):
        (grad,) = ctx.saved_tensors
        if ctx.scale != 1.0:
            grad_loss = grad_loss * ctx.scale       # a scalar for 'mean' / 'sum'
        return grad_loss * grad, None, None, None, None, None, None, None, None


def focal_term(u: Tensor, pos: Optional[Tensor], c_pos: Coef, c_neg: Coef, e: float,
               prob_eps: Optional[float] = None, weight: Optional[Tensor] = None,
               summed: bool = False, pos_index: Optional[Tensor] = None) -> Tensor:
    """Focal term of ``u`` ``(*)`` (see the module docstring): element-wise ``(*)``, or its
    sum ``()`` with ``summed=True``.

    ``c_pos`` / ``c_neg``: numbers or tensors broadcastable to ``(*)``; ``weight``: an optional
    tensor broadcastable to ``(*)`` multiplied onto the loss (folded into the coefficients: no
    pass of its own). The positives are the bool / 0-1 mask ``pos``, or (``pos=None``) the flat
    indices ``pos_index (M,)`` into ``u`` (the CPU variant: the negative term is then computed
    everywhere, with its coefficient ``c_neg``, and the positive term is added at the indices;
    ``c_pos`` is a number there). The analytic gradient flows to ``u`` only: coefficients or a
    weight that need a gradient (a target that does) take plain autograd through the same
    formula.
    """
    e = float(e)
    if pos_index is not None:
        c = _coef(None, 0.0, c_neg, u)
        c_index = u.new_full((), c_pos)
        if weight is not None:
            weight = weight.to(u.dtype)
            c = c * weight
            c_index = c_index * weight.expand(u.shape).reshape(-1).index_select(0, pos_index)
        if torch.is_grad_enabled() and (c.requires_grad or c_index.requires_grad):
            return _sparse_reference(u, c, pos_index, c_index, e, prob_eps, summed)
        if torch.is_grad_enabled() and u.requires_grad:
            return FocalTerm.apply(u, None, None, c, e, prob_eps, summed, pos_index,
                                   c_index)[0]
        return focal_term_sparse_forward(u, c, pos_index, c_index, e, prob_eps, summed,
                                         False)[0]
    m = None if pos is None else pos.to(u.dtype)         # 0/1: selections are lerps
    c = _coef(m, c_pos, c_neg, u)
    if weight is not None:
        c = c * weight.to(u.dtype)
    if torch.is_grad_enabled() and c.requires_grad:
        loss = _autograd_reference(u, m, c, e, prob_eps)
        return loss.sum() if summed else loss
    s = None if m is None else torch.rsub(m, 1.0, alpha=2.0)          # -1 on the positives
    if torch.is_grad_enabled() and u.requires_grad:
        return FocalTerm.apply(u, m, s, c, e, prob_eps, summed, None, None)[0]
    return focal_term_forward(u, m, s, c, e, prob_eps, summed, False)[0]


def _sparse_reference(u, c, index, c_index, e, prob_eps, summed):
    """The sparse variant by plain autograd ops (gradients for the coefficients too)."""
    neg = _autograd_reference(u, None, c.expand(u.shape) if c.dim() else c, e, prob_eps)
    up = u.reshape(-1).index_select(0, index)
    pos = _autograd_reference(up, up.new_ones(()), c_index, e, prob_eps)
    if summed:
        return neg.sum() + pos.sum()
    return neg.reshape(-1).index_add(0, index, pos).reshape(u.shape)


def _autograd_reference(u: Tensor, pos: Optional[Tensor], c: Tensor, e: float,
                        prob_eps: Optional[float]) -> Tensor:
    """The same loss by plain autograd ops (gradients for ``c`` too)."""
    if prob_eps is None:
        z = u if pos is None else u * torch.rsub(pos, 1.0, alpha=2.0)      # s * u
        return c * F.softplus(z) * torch.exp(e * F.logsigmoid(z))
    r = _select(pos, u, 1 - u)
    return -c * torch.log(r + prob_eps) * (1 - r).pow(e)
