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
and gradients for any finite logit. The loss is dense (a mask, no index lists), so it never reads
tensor data, and its gradient is computed analytically in the same pass (one tensor saved for
backward instead of autograd's many). :class:`FocalTerm` is a ``torch.func``-ready autograd
``Function`` (``setup_context``, a generated vmap rule) that ``torch.compile`` traces whole.

Gradient, with ``s = -1`` on positives and ``+1`` elsewhere (``dz/dx``):

* logits: ``d loss / dx = s * c * w**e * (w + e * (1 - w) * softplus(z))``;
  (``s * c`` is filled once, like ``c``, so the sign costs no pass of its own)
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


def _select(pos: Optional[Tensor], a: Tensor, b: Tensor) -> Tensor:
    """``a`` on positives, ``b`` elsewhere (``pos=None``: nothing is positive)."""
    return b if pos is None else torch.where(pos, a, b)


def _coef(pos: Optional[Tensor], c_pos: Coef, c_neg: Coef, like: Tensor) -> Tensor:
    """``c_pos`` on positives, ``c_neg`` elsewhere, in ``like``'s dtype and device (a number
    is filled in that dtype: float64 stays exact). Fill kernels where possible (``masked_fill``
    is several times faster than ``where`` with a broadcast operand on CPU)."""
    if isinstance(c_neg, Tensor):
        c_neg = c_neg.to(like.dtype)
        if pos is None:
            return c_neg
        if not isinstance(c_pos, Tensor):
            return c_neg.expand(torch.broadcast_shapes(c_neg.shape, pos.shape)) \
                .masked_fill(pos, c_pos)
    elif pos is None:
        return like.new_full((), c_neg)
    elif not isinstance(c_pos, Tensor):
        return like.new_full(pos.shape, c_neg).masked_fill_(pos, c_pos)
    as_t = (lambda c: c.to(like.dtype) if isinstance(c, Tensor) else like.new_full((), c))
    return torch.where(pos, as_t(c_pos), as_t(c_neg))


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


def _product(a: Tensor, b: Tensor, c: Tensor, summed: bool) -> Tensor:
    """``a * b * c`` (``a``, ``b`` of the full shape, ``c`` broadcastable), or its sum as one
    dot product."""
    if summed:
        return torch.dot(a.reshape(-1), torch.mul(b, c).expand(a.shape).reshape(-1))
    return a * b * c


def focal_term_forward(u: Tensor, pos: Optional[Tensor], c: Tensor, cs: Optional[Tensor],
                       e: float, prob_eps: Optional[float], summed: bool,
                       need_grad: bool) -> Tuple[Tensor, Optional[Tensor]]:
    """``loss`` (element-wise, or its sum) and, if ``need_grad``, ``d loss / d u``.

    Args:
        u: logits (``prob_eps=None``) or probabilities, any shape ``(*)``.
        pos: bool mask broadcastable to ``(*)``, or ``None`` (no positives).
        c: coefficient broadcastable to ``(*)`` (see :func:`_coef`).
        cs: ``s * c`` (``-c`` on the positives), the coefficient of the gradient; ``None``
            when there are no positives (then it is ``c``).
        e: exponent of ``w`` (``>= 0``).
        prob_eps: ``eps`` of ``-log(r + eps)`` for probabilities; ``None`` for logits.
        summed: return the sum ``()`` instead of the element-wise loss: one dot product, the
            element-wise loss is never built.
        need_grad: also compute the gradient.

    Returns:
        ``(loss (*) or (), grad (*) or None)``.
    """
    if prob_eps is None:
        z = _select(pos, -u, u)
        sp = F.softplus(z)                                   # -log r
        w = torch.sigmoid(z)
        we = F.logsigmoid(z).mul_(e).exp_() if e not in (0, 1, 2, 4) else _power(w, e)
        loss = _product(sp, we, c, summed)
        if not need_grad:
            return loss, None
        # (w + e (1 - w) softplus(z)) w**e, in sp's buffer
        grad = sp.mul_(torch.rsub(w, 1.0)).mul_(e).add_(w).mul_(we)
        return loss, grad.mul_(c if cs is None else cs)
    q = torch.rsub(u, 1.0)
    r = q if pos is None else torch.where(pos, u, q)          # the target side's probability
    w = u if pos is None else torch.where(pos, q, u)          # the other side's (exact p, 1 - p)
    re = r.add_(prob_eps)                                    # r + eps (r is a fresh tensor)
    logre = torch.log(re)                                    # -log(r + eps) = -logre
    we = _power(w, e)
    loss = _product(logre, we, c, summed).neg_()
    if not need_grad:
        return loss, None
    # w**(e-1) (w / (r + eps) - e * logre); w may be the input u: never written in place
    if e == 0:
        grad = re.reciprocal_()
    else:
        grad = torch.div(w, re).sub_(logre, alpha=e)
        if e == 2:
            grad = grad.mul_(w)
        elif e != 1:
            we1 = w.pow(e - 1)
            if e < 1:
                we1 = torch.where(w > 0, we1, torch.zeros_like(we1))
            grad = grad.mul_(we1)
    return loss, grad.mul_(c if cs is None else cs)


class FocalTerm(torch.autograd.Function):
    """Autograd ``Function`` of :func:`focal_term_forward`: the forward returns the loss and
    its gradient (non-differentiable, saved); backward is one multiply. Differentiable once
    (a second derivative raises instead of being silently wrong)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(u, pos, c, cs, e, prob_eps, summed):
        return focal_term_forward(u, pos, c, cs, e, prob_eps, summed, True)

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, grad = output
        ctx.mark_non_differentiable(grad)
        ctx.save_for_backward(grad)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss, _grad_grad):
        (grad,) = ctx.saved_tensors
        return grad_loss * grad, None, None, None, None, None, None


def focal_term(u: Tensor, pos: Optional[Tensor], c_pos: Coef, c_neg: Coef, e: float,
               prob_eps: Optional[float] = None, weight: Optional[Tensor] = None,
               summed: bool = False) -> Tensor:
    """Focal term of ``u`` ``(*)`` (see the module docstring): element-wise ``(*)``, or its
    sum ``()`` with ``summed=True``.

    ``c_pos`` / ``c_neg``: numbers or tensors broadcastable to ``(*)``; ``weight``: an optional
    tensor broadcastable to ``(*)`` multiplied onto the loss (folded into the coefficients: no
    pass of its own). The analytic gradient flows to ``u`` only: coefficients or a weight that
    need a gradient (a target that does) take plain autograd through the same formula.
    """
    e = float(e)
    c = _coef(pos, c_pos, c_neg, u)
    if weight is not None:
        c = c * weight.to(u.dtype)
    if torch.is_grad_enabled() and c.requires_grad:
        loss = _autograd_reference(u, pos, c, e, prob_eps)
        return loss.sum() if summed else loss
    if torch.is_grad_enabled() and u.requires_grad:
        cs = None
        if pos is not None:
            cs = _coef(pos, -c_pos if isinstance(c_pos, Tensor) else -float(c_pos), c_neg, u)
            if weight is not None:
                cs = cs * weight.to(u.dtype)
        return FocalTerm.apply(u, pos, c, cs, e, prob_eps, summed)[0]
    return focal_term_forward(u, pos, c, None, e, prob_eps, summed, False)[0]


def _autograd_reference(u: Tensor, pos: Optional[Tensor], c: Tensor, e: float,
                        prob_eps: Optional[float]) -> Tensor:
    """The same loss by plain autograd ops (gradients for ``c`` too)."""
    if prob_eps is None:
        z = _select(pos, -u, u)
        return c * F.softplus(z) * torch.exp(e * F.logsigmoid(z))
    r = _select(pos, u, 1 - u)
    return -c * torch.log(r + prob_eps) * (1 - r).pow(e)
