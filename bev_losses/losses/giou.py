"""GIoU loss ``1 - GIoU`` for aligned box pairs: axis-aligned, rotated BEV and rotated 3D boxes.

Box formats (``box_format``):

* ``'xyxy'``: ``(N, 4)`` as ``(x1, y1, x2, y2)``. Values and gradients equal mmdet 3.3's
  ``GIoULoss`` (``bbox_overlaps(..., mode='giou', is_aligned=True)``): the union and the
  enclosing area are clamped below by ``eps``; the enclosing region is the axis-aligned hull.
  Computed by a custom autograd function with an analytic gradient (ties of ``min``/``max``
  split the gradient in halves as torch does), about 2x faster than mmdet's forward+backward.
  Inverted boxes (``x2 < x1``) are not rejected and follow mmdet's formula (negative areas);
  for boxes with ``x1 <= x2`` and ``y1 <= y2`` the loss lies in ``[0, 2]``.
* ``'bev'``: ``(N, 5)`` as ``(x, y, dx, dy, yaw)`` (mmdet3d's BEV convention, yaw
  counter-clockwise from +x, ``dx`` along the heading); exact rotated intersection and
  convex-hull enclosing area from :func:`bev_losses.ops.rotated_iou.bev_iou_giou`.
* ``'3d'``: ``(N, 7)`` as ``(x, y, z, dx, dy, dz, yaw)`` with ``z`` the bottom face
  (``LiDARInstance3DBoxes``); from :func:`bev_losses.ops.rotated_iou.box3d_iou_giou`.

Shapes:
    pred, target: ``(N, W)`` with ``W`` = 4 / 5 / 7 for ``'xyxy'`` / ``'bev'`` / ``'3d'``.
    weight: optional ``(N,)``, ``(N, 1)`` or ``(N, W)``; a ``(N, W)`` weight is averaged over the
        last dim first, exactly as mmdet does for its ``(N, 4)`` weights.
    output: ``(N,)`` for ``reduction='none'``, else a scalar.

Differences from mmdet: half / bfloat16 inputs and autocast regions are computed and returned in
float32 (mmdet returns float16 for float16 input); ``N = 0`` gives 0 connected to the graph
(mmdet: NaN for ``'mean'``); wrong shapes raise ``ValueError`` instead of ``assert``.
"""
from typing import Optional, Union

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..registry import MODELS
from .base import BaseLoss, no_autocast, to_float32
from .reduction import check_avg_factor, weight_reduce_loss

__all__ = ['giou_loss', 'GIoULoss']

#: Trailing width of each box format.
BOX_WIDTHS = {'xyxy': 4, 'bev': 5, '3d': 7}

AvgFactor = Optional[Union[float, Tensor]]


def _check_box_format(box_format: str) -> str:
    if not isinstance(box_format, str) or box_format not in BOX_WIDTHS:
        raise ValueError(f'box_format must be one of {tuple(BOX_WIDTHS)}, got {box_format!r}')
    return box_format


def _xyxy_giou_loss(pred: Tensor, target: Tensor, eps: float, jac_pred: bool = False,
                    jac_target: bool = False):
    """mmdet's aligned ``1 - GIoU`` of ``(N, 4)`` xyxy boxes, and optionally its Jacobians.

    The loss of pair ``i`` depends on row ``i`` of ``pred`` and ``target`` only, so the gradient
    is ``grad_out[:, None] * J`` with ``J = d loss_i / d box_i`` of shape ``(N, 4)``; computing
    ``J`` here, from the forward's own intermediates and mostly in place, avoids saving them and
    most of the temporaries of autograd through mmdet's expression.

    ``J`` equals what torch autograd gives through mmdet's ``bbox_overlaps``:
    ``clamp(min=0)`` passes the gradient where ``x >= 0``; ``maximum`` / ``minimum`` of two box
    coordinates split it in halves on ties (``(1 + sign(p - t)) / 2``), which matters for boxes
    sharing an edge (e.g. clipped to the image border); the ``eps`` floors of union and
    enclosing area pass it where ``x >= eps`` (mmdet's ``torch.max(x, eps)`` passes half on an
    exact tie ``x == eps``).

    Returns:
        ``(loss (N,), J_pred (N, 4) or None, J_target (N, 4) or None)``.
    """
    # Rows [:2] are (x1, y1), rows [2:] (x2, y2): contiguous (2, N) / (N,) rows throughout
    # (column slices of an (N, 4) tensor are strided and several times slower).
    P = pred.t().contiguous()
    T = target.t().contiguous()
    p_lo, p_hi, t_lo, t_hi = P[:2], P[2:], T[:2], T[2:]
    wh_p = p_hi - p_lo
    wh_t = t_hi - t_lo
    iwh = torch.minimum(p_hi, t_hi).sub_(torch.maximum(p_lo, t_lo))
    ewh = torch.maximum(p_hi, t_hi).sub_(torch.minimum(p_lo, t_lo))
    want = jac_pred or jac_target
    if want:
        dead_i = iwh < 0
        dead_e = ewh < 0
    iwh.clamp_min_(0)
    ewh.clamp_min_(0)
    ov = iwh[0] * iwh[1]
    u = (wh_p[0] * wh_p[1]).add_(wh_t[0] * wh_t[1]).sub_(ov)
    ea = ewh[0] * ewh[1]
    if want:
        dead_u = u < eps
        dead_ea = ea < eps
    u.clamp_min_(eps)
    ea.clamp_min_(eps)
    iou = ov.div_(u)
    # 1 - (iou - (ea - u) / ea), in mmdet's order of operations
    loss = (ea - u).div_(ea).neg_().add_(iou).neg_().add_(1)
    if not want:
        return loss, None, None
    del ov
    # loss = 1 - ov / u + (ea - u) / ea:  d/dov = -1/u, d/du = iou/u - 1/ea, d/dea = u/ea^2
    inv_u = u.reciprocal()
    g_ea = u.div_(ea).div_(ea).masked_fill_(dead_ea, 0)  # through max(ea_raw, eps)
    g_u = iou.mul_(inv_u).sub_(ea.reciprocal_()).masked_fill_(dead_u, 0)  # max(u_raw, eps)
    g_ov = inv_u.neg_().sub_(g_u)  # u_raw = a1 + a2 - ov
    # ov = iw * ih and ea_raw = ew * eh, each through clamp(min=0)
    g_iwh = iwh.flip(0).mul_(g_ov).masked_fill_(dead_i, 0)
    g_ewh = ewh.flip(0).mul_(g_ea).masked_fill_(dead_e, 0)
    # iw = min(x2) - max(x1), ew = max(x2) - min(x1); with m = (1 + s) / 2, s = sign(p - t):
    # d/dp_lo = -(S + s * D) / 2, d/dp_hi = (S - s * D) / 2 (s -> -s for the target), plus the
    # area term: a = (x2 - x1) * (y2 - y1) enters u_raw with +1.
    half_s = g_iwh + g_ewh
    half_d = g_iwh.sub_(g_ewh)
    s_lo = torch.sub(p_lo, t_lo).sign_()
    s_hi = torch.sub(p_hi, t_hi).sign_()
    jacs = []
    for need, wh, sign in ((jac_pred, wh_p, 0.5), (jac_target, wh_t, -0.5)):
        if not need:
            jacs.append(None)
            continue
        h = wh.flip(0).mul_(g_u).add_(half_s, alpha=0.5)
        lo = torch.addcmul(h, half_d, s_lo, value=sign).neg_()
        hi = torch.addcmul(h, half_d, s_hi, value=-sign)
        jacs.append(torch.cat((lo, hi)).t())             # (N, 4)
    return loss, jacs[0], jacs[1]


class _XYXYGIoULoss(torch.autograd.Function):
    """Element-wise ``1 - GIoU`` of aligned xyxy boxes ``(N, 4)`` -> ``(N,)``.

    The forward also returns the per-pair Jacobians (see :func:`_xyxy_giou_loss`; empty
    ``(0, 4)`` tensors for an input that needs no gradient), saved for backward, which is one
    multiplication. ``torch.func``-ready (``setup_context``, a generated vmap rule).
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(pred: Tensor, target: Tensor, eps: float, jac_pred: bool, jac_target: bool):
        loss, jp, jt = _xyxy_giou_loss(pred, target, eps, jac_pred, jac_target)
        empty = pred.new_zeros((0, 4))
        return loss, (empty if jp is None else jp), (empty if jt is None else jt)

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, jp, jt = output
        ctx.mark_non_differentiable(jp, jt)
        ctx.save_for_backward(jp, jt)
        ctx.jac = inputs[3:5]

    @staticmethod
    @once_differentiable
    def backward(ctx, g: Tensor, _gp, _gt):
        jp, jt = ctx.saved_tensors
        g = g[:, None]
        return (jp * g if ctx.jac[0] else None, jt * g if ctx.jac[1] else None,
                None, None, None)


def _check_boxes(pred: Tensor, target: Tensor, box_format: str) -> None:
    for name, x in (('pred', pred), ('target', target)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f'giou_loss: {name} must be a torch.Tensor, got {type(x).__name__}')
        if not x.is_floating_point():
            raise TypeError(f'giou_loss: {name} must be a floating point tensor, got {x.dtype}')
    width = BOX_WIDTHS[box_format]
    for name, x in (('pred', pred), ('target', target)):
        if x.dim() != 2 or x.shape[-1] != width:
            raise ValueError(f"giou_loss: box_format={box_format!r} expects {name} of shape "
                             f"(N, {width}), got {tuple(x.shape)}")
    if pred.shape != target.shape:
        raise ValueError(f'giou_loss: pred and target must have the same shape, got pred of '
                         f'shape {tuple(pred.shape)} and target of shape {tuple(target.shape)}')


def giou_elementwise(pred: Tensor, target: Tensor, box_format: str = 'xyxy',
                     eps: float = 1e-6) -> Tensor:
    """``1 - GIoU`` per aligned pair, unreduced.

    Args:
        pred: ``(N, W)`` boxes, ``W`` given by ``box_format`` (4 / 5 / 7).
        target: ``(N, W)`` boxes.
        box_format: ``'xyxy'``, ``'bev'`` or ``'3d'`` (see the module docstring).
        eps: lower clamp of union and enclosing area (volume).

    Returns:
        ``(N,)`` loss in ``pred``'s dtype, float32 for half / bfloat16 inputs.
    """
    _check_box_format(box_format)
    _check_boxes(pred, target, box_format)
    with no_autocast(pred):
        pred = to_float32(pred)
        target = to_float32(target).to(pred.dtype)
        if box_format == 'xyxy':
            if torch.is_grad_enabled() and (pred.requires_grad or target.requires_grad):
                return _XYXYGIoULoss.apply(pred, target, float(eps), pred.requires_grad,
                                           target.requires_grad)[0]
            return _xyxy_giou_loss(pred, target, float(eps))[0]
        if box_format == 'bev':
            from ..ops.rotated_iou import bev_iou_giou
            _, giou = bev_iou_giou(pred, target, eps=eps)
        else:
            from ..ops.rotated_iou import box3d_iou_giou
            _, giou = box3d_iou_giou(pred, target, eps=eps)
        return 1 - giou


def giou_loss(pred: Tensor,
              target: Tensor,
              weight: Optional[Tensor] = None,
              reduction: str = 'mean',
              avg_factor: AvgFactor = None,
              box_format: str = 'xyxy',
              eps: float = 1e-6) -> Tensor:
    """GIoU loss ``1 - GIoU`` of aligned box pairs, weighted and reduced.

    Args:
        pred: ``(N, W)`` predicted boxes, ``W`` = 4 / 5 / 7 for ``'xyxy'`` / ``'bev'`` / ``'3d'``.
        target: ``(N, W)`` target boxes.
        weight: optional ``(N,)``, ``(N, 1)`` or ``(N, W)`` (averaged over the last dim, as mmdet).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        avg_factor: optional divisor replacing ``N`` in ``'mean'``.
        box_format: ``'xyxy'``, ``'bev'`` or ``'3d'``.
        eps: lower clamp of union and enclosing area.

    Returns:
        ``(N,)`` for ``'none'``, else a scalar; float32 for half / bfloat16 inputs.

    Raises:
        ValueError: unknown ``box_format``, wrong box width, shape mismatch, bad weight shape.
    """
    avg_factor = check_avg_factor(avg_factor)
    loss = giou_elementwise(pred, target, box_format, eps)
    if weight is not None:
        if not isinstance(weight, torch.Tensor):
            raise TypeError(f'weight must be a torch.Tensor or None, got {type(weight).__name__}')
        weight = to_float32(weight)
        if weight.dim() == 2 and weight.shape == pred.shape:
            weight = weight.mean(-1)
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


@MODELS.register_module()
class GIoULoss(BaseLoss):
    """GIoU loss module (see :func:`giou_loss`); a drop-in for mmdet's ``GIoULoss``.

    Args:
        box_format: ``'xyxy'`` ``(N, 4)``, ``'bev'`` ``(N, 5)`` or ``'3d'`` ``(N, 7)``;
            anything else is a ``ValueError``.
        eps: lower clamp of union and enclosing area.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        loss_weight: multiplier of the result.
    """

    def __init__(self, box_format: str = 'xyxy', eps: float = 1e-6, reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(reduction=reduction, loss_weight=loss_weight)
        self.box_format = _check_box_format(box_format)
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
            raise ValueError(f'eps must be a number > 0, got {eps!r}')
        self.eps = float(eps)

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: AvgFactor = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Args: ``pred``/``target`` ``(N, W)``, ``weight`` ``(N,)`` or ``(N, W)``.

        Returns ``loss_weight`` times the reduced loss: ``(N,)`` for ``'none'``, else a scalar.
        """
        reduction = self.resolve_reduction(reduction_override)
        return self.scale(giou_loss(pred, target, weight, reduction, avg_factor,
                                    box_format=self.box_format, eps=self.eps))

    def extra_repr(self) -> str:
        return f'box_format={self.box_format!r}, eps={self.eps}, ' + super().extra_repr()
