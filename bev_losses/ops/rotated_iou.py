"""Exact, differentiable IoU and GIoU of aligned pairs of rotated BEV / 3D boxes (pure PyTorch).

Conventions (mmdet3d's, ``LiDARInstance3DBoxes``):

* BEV box ``(x, y, dx, dy, yaw)``: centre ``(x, y)``, size ``dx`` along the heading and ``dy``
  across it, ``yaw`` in radians counter-clockwise from ``+x``. Sizes must be ``>= 0``.
* 3D box ``(x, y, z, dx, dy, dz, yaw)``: as above, ``z`` is the bottom face, ``dz`` the height.
* GIoU = IoU - (C - U) / C with ``U`` the union and ``C`` the area (volume) of the enclosing
  region: the convex hull of both boxes' corners in BEV (rotation invariant, equal to ``U`` for
  identical boxes), times the enclosing height in 3D. ``U`` and ``C`` are clamped below by
  ``eps`` as mmdet's ``bbox_overlaps`` does, so zero-size pairs give IoU 0 and finite gradients.

Everything is computed in the frame of the first box (centre at the origin, axes aligned), all
pairs at once with element-wise operations on fixed-size tensors: no loop over pairs, no sort,
no compiled code; the same code runs on CPU and CUDA.

Intersection (exact convex clipping). Let ``F`` be the nearest-point projection onto box 1,
which in its frame is the coordinate clamp ``(x, y) -> (clamp(x, -a, a), clamp(y, -b, b))``.
Mapping the counter-clockwise boundary of box 2 through ``F`` is Sutherland-Hodgman clipping
against the four half-planes of box 1 at once, with the outside parts of the boundary moved
onto the clip lines instead of being dropped: the image is a closed polyline whose winding
number is 1 inside the intersection and 0 elsewhere, so its shoelace area is the intersection
area. Each edge of box 2 is linear between at most four breakpoints (where it crosses
``x = +-a`` and ``y = +-b``), which gives a fixed buffer of 4 x 5 = 20 ordered vertices; no
masks are needed because degenerate pieces have zero length. The map is continuous, so shared
edges, collinear edges, touching corners and containment need no special case and give exact
values.

Enclosing hull (exact). The support function of the hull is the maximum of the two boxes'
support functions. Between consecutive edge normals of the two boxes (8 directions, whose
cyclic order is fixed once box 2's yaw is reduced modulo pi/2 relative to box 1) each box has
one extreme vertex, and the hull switches from one box to the other at most once. The hull's
vertices, in counter-clockwise order, are therefore the extreme face (edge or vertex) of the
box that wins at each of the 8 normals: 16 points with repeats, shoelace area. A tie at a
normal (touching or collinear supporting lines) changes the result only by the size of the
tie, so the area is continuous everywhere.

Gradients (analytic, in a custom autograd Function). Moving a piece of boundary changes an
area by its normal speed integrated over the part of it that bounds the region. For the
intersection that part is each box's edges clipped to the other box (Liang-Barsky intervals,
which the forward already has), so the backward needs lengths and first moments of clipped
edges only: no intersection point of nearly parallel lines enters the gradient, and every
gradient is bounded by the boxes' perimeters. The hull's gradient goes through the shoelace
of its 16 selected corners. Both equal autograd through the forward on generic pairs (tested),
and at exact ties (shared edges, identical boxes) they give one of the one-sided derivatives.

Accuracy (``tests/test_rotated_iou.py``, against shapely): <= 1e-6 absolute in float64 and
<= 1e-4 in float32 over thousands of random pairs; see ``docs/rotated_giou.md``.
"""
import math
from typing import Tuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..losses.base import no_autocast, to_float32

__all__ = [
    'bev_box_corners', 'bev_iou_giou', 'bev_iou', 'bev_giou', 'box3d_iou_giou', 'box3d_iou',
    'box3d_giou'
]

_HALF_PI = 0.5 * math.pi


def _check_pair(boxes1, boxes2, width: int, fname: str) -> None:
    for name, x in (('boxes1', boxes1), ('boxes2', boxes2)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f'{fname}: {name} must be a torch.Tensor, got {type(x).__name__}')
        if not x.is_floating_point():
            raise TypeError(f'{fname}: {name} must be a floating point tensor, got {x.dtype}')
        if x.dim() != 2 or x.shape[-1] != width:
            raise ValueError(f'{fname}: {name} must have shape (N, {width}), '
                             f'got {tuple(x.shape)}')
    if boxes1.shape[0] != boxes2.shape[0]:
        raise ValueError(f'{fname}: boxes1 and boxes2 must hold the same number of boxes N '
                         f'(aligned pairs), got boxes1 {tuple(boxes1.shape)} and boxes2 '
                         f'{tuple(boxes2.shape)}')
    if boxes1.device != boxes2.device:
        raise ValueError(f'{fname}: boxes1 and boxes2 must be on the same device, got '
                         f'{boxes1.device} and {boxes2.device}')


def _common_dtype(boxes1: Tensor, boxes2: Tensor) -> Tuple[Tensor, Tensor]:
    """Half / bfloat16 -> float32; then both in the wider dtype."""
    boxes1, boxes2 = to_float32(boxes1), to_float32(boxes2)
    dtype = torch.promote_types(boxes1.dtype, boxes2.dtype)
    return boxes1.to(dtype), boxes2.to(dtype)


def bev_box_corners(boxes: Tensor) -> Tensor:
    """Corners of BEV boxes in counter-clockwise order.

    Args:
        boxes: ``(N, 5)`` as ``(x, y, dx, dy, yaw)``.

    Returns:
        ``(N, 4, 2)``: local ``(+dx/2, +dy/2)`` (front left), ``(-dx/2, +dy/2)``,
        ``(-dx/2, -dy/2)``, ``(+dx/2, -dy/2)``, rotated by ``yaw`` and moved to ``(x, y)``.
    """
    if not isinstance(boxes, torch.Tensor) or boxes.dim() != 2 or boxes.shape[-1] != 5:
        shape = tuple(boxes.shape) if isinstance(boxes, torch.Tensor) else type(boxes).__name__
        raise ValueError(f'bev_box_corners: boxes must be a tensor of shape (N, 5), got {shape}')
    x, y, dx, dy, yaw = boxes.unbind(-1)
    c, s = torch.cos(yaw), torch.sin(yaw)
    hx, hy = 0.5 * dx, 0.5 * dy
    ux, uy = hx * c, hx * s  # half length along the heading
    vx, vy = -hy * s, hy * c  # half width across it
    cx = torch.stack((x + ux + vx, x - ux + vx, x - ux - vx, x + ux - vx), dim=-1)
    cy = torch.stack((y + uy + vy, y - uy + vy, y - uy - vy, y + uy - vy), dim=-1)
    return torch.stack((cx, cy), dim=-1)


# ----------------------------------------------------------------------------- the frame
def _frame(b1: Tensor, b2: Tensor) -> Tuple[Tensor, ...]:
    """Box 2 in box 1's frame (autograd), ``(N,)`` each.

    Returns ``(a, b, cx, cy, rho, p, q)``: box 1 is ``[-a, a] x [-b, b]``; box 2 has centre
    ``(cx, cy)``, half sizes ``p`` along ``e1 = (cos rho, sin rho)`` and ``q`` along
    ``e2 = (-sin rho, cos rho)``, with its yaw reduced to ``rho`` in ``[0, pi/2)`` (a half turn
    leaves a box unchanged, a quarter turn swaps its sizes).
    """
    x1, y1, l1, w1, r1 = b1.unbind(-1)
    x2, y2, l2, w2, r2 = b2.unbind(-1)
    c1, s1 = torch.cos(r1), torch.sin(r1)
    dxc, dyc = x2 - x1, y2 - y1
    cx = c1 * dxc + s1 * dyc
    cy = c1 * dyc - s1 * dxc
    m = torch.remainder(r2 - r1, math.pi)
    odd = m >= _HALF_PI
    rho = torch.where(odd, m - _HALF_PI, m)
    hl2, hw2 = 0.5 * l2, 0.5 * w2
    p = torch.where(odd, hw2, hl2)
    q = torch.where(odd, hl2, hw2)
    return 0.5 * l1, 0.5 * w1, cx, cy, rho, p, q


# Layout: per-pair quantities are (K, N) with the pairs last (contiguous, vectorised along N).
# Corners of box 2: W_k = c + U_k (p e1) + V_k (q e2), counter-clockwise; edge k: W_k -> W_k+1
# is -2 p e1, -2 q e2, 2 p e1, 2 q e2, with U = (1, -1, -1, 1) and V = (1, 1, -1, -1).
# Hull: the (8,) support values at the normals +x, e1, +y, e2, -x, -e1, -y, -e2 decide which
# box holds the hull there; its face there, as 2 of the 16 hull vertices, is
#   box 1: V3 V0 | V0 V0 | V0 V1 | V1 V1 | V1 V2 | V2 V2 | V2 V3 | V3 V3
#          with V0..V3 = (a, b), (-a, b), (-a, -b), (a, -b)
#   box 2: W3 W3 | W3 W0 | W0 W0 | W0 W1 | W1 W1 | W1 W2 | W2 W2 | W2 W3
# A direction component below 1e-12 of the direction's size is raised to that (same sign):
# the crossing it would give moves by less than 1e-12 of the edge, and no division is by 0.
_REL_TINY = 1e-12
_ABS_TINY = 1e-30


def _signs(like: Tensor, runs) -> Tensor:
    """A ``(K, 1)`` column of +-1 in ``like``'s dtype and device, from ``(sign, count)`` runs
    (fill kernels on the device: no host-to-device copy, nothing cached)."""
    return torch.cat([like.new_full((count, 1), sign) for sign, count in runs])


# Hull rows 0..15: the x / y sign of box 1's corner each row may hold
# (V3 V0 | V0 V0 | V0 V1 | V1 V1 | V1 V2 | V2 V2 | V2 V3 | V3 V3, V0..V3 = (a, b), (-a, b),
# (-a, -b), (a, -b)) and, for box 2, the corner W_k of row k: ((k + 1) // 4 + 3) % 4, that is
# W3 W3 W3 W0 W0 W0 W0 W1 W1 W1 W1 W2 W2 W2 W2 W3 (the corners repeated 4 times, rolled by 3).
_HULL_PX = ((1., 5), (-1., 8), (1., 3))
_HULL_PY = ((-1., 1), (1., 8), (-1., 7))


def _repeat_rows(x: Tensor, times: int) -> Tensor:
    """``(K, N)`` -> ``(K * times, N)``: each row repeated ``times`` times in place."""
    k, rest = x.shape[0], x.shape[1:]
    return x[:, None].expand(k, times, *rest).reshape(k * times, *rest)


def _safe_inv(x: Tensor, other: Tensor) -> Tensor:
    """``1 / x`` with ``|x|`` raised to ``1e-12 (|x| + |other|) + 1e-30`` (sign kept)."""
    xa = x.abs()
    floor = (_REL_TINY * (xa + other.abs()) + _ABS_TINY).detach()
    return 1 / torch.where(xa < floor, torch.copysign(floor, x), x)


def _roll_diff(x: Tensor) -> Tensor:
    """``x[k + 1] - x[k - 1]`` along dim 0, cyclically."""
    return torch.roll(x, -1, 0) - torch.roll(x, 1, 0)


def _slab_interval(w: Tensor, inv: Tensor, h: Tensor) -> Tuple[Tensor, Tensor]:
    """``[lo, hi]``: where ``w + t / inv`` lies in ``[-h, h]``, clipped to ``[-1, 2]``."""
    c = w * inv
    hr = h * inv.abs()
    return (-hr - c).clamp_min_(-1).clamp_max_(2), (hr - c).clamp_min_(-1).clamp_max_(2)


def _areas_forward(a, b, cx, cy, rho, p, q, need_backward: bool = False):
    """Intersection and convex hull areas ``(N,)`` from the frame (and what backward needs).

    Plain tensor operations: autograd can differentiate it directly (the reference of the
    analytic backward in the tests).
    """
    cr, sr = torch.cos(rho), torch.sin(rho)
    ux, uy, vx, vy = p * cr, p * sr, -q * sr, q * cr
    # (4, N) corners W_k of box 2 and edges W_k -> W_k+1 (built from (N,) columns: fewer
    # large tensor ops)
    sx, dx_, sy, dy_ = ux + vx, ux - vx, uy + vy, uy - vy
    wx = torch.stack((cx + sx, cx - dx_, cx - sx, cx + dx_))
    wy = torch.stack((cy + sy, cy - dy_, cy - sy, cy + dy_))
    u2x, v2x, u2y, v2y = 2 * ux, 2 * vx, 2 * uy, 2 * vy
    ex = torch.stack((-u2x, -v2x, u2x, v2x))
    ey = torch.stack((-u2y, -v2y, u2y, v2y))
    # ---- intersection: the boundary of box 2 clamped onto box 1, 20 vertices -------------
    iux, ivx = 0.5 * _safe_inv(ux, uy), 0.5 * _safe_inv(vx, vy)
    iuy, ivy = 0.5 * _safe_inv(uy, ux), 0.5 * _safe_inv(vy, vx)
    rx = torch.stack((-iux, -ivx, iux, ivx))  # 1 / ex
    ry = torch.stack((-iuy, -ivy, iuy, ivy))  # 1 / ey
    lox, hix = _slab_interval(wx, rx, a)
    loy, hiy = _slab_interval(wy, ry, b)
    m1, m2 = torch.maximum(lox, loy), torch.minimum(hix, hiy)
    t = torch.stack((torch.zeros_like(lox), torch.minimum(lox, loy), torch.minimum(m1, m2),
                     torch.maximum(m1, m2), torch.maximum(hix, hiy)), 1).clamp_min_(0).clamp_max_(1)
    X = torch.clamp(torch.addcmul(wx[:, None], t, ex[:, None]), -a, a).view(20, -1)
    Y = torch.clamp(torch.addcmul(wy[:, None], t, ey[:, None]), -b, b).view(20, -1)
    inter = 0.5 * (X * _roll_diff(Y)).sum(0)
    # ---- hull: the winning face at each of the 8 normals, 16 vertices --------------------
    d = torch.stack((a - (p * cr + q * sr), a * cr + b * sr - p, b - (p * sr + q * cr),
                     a * sr + b * cr - q))
    c4 = torch.stack((cx, cx * cr + cy * sr, cy, cy * cr - cx * sr))
    win = _repeat_rows(torch.cat((d > c4, d > -c4)), 2).to(a.dtype)  # (16, N)
    qx = torch.roll(_repeat_rows(wx, 4), 3, 0)
    qy = torch.roll(_repeat_rows(wy, 4), 3, 0)
    hx = torch.addcmul(qx, win, _signs(a, _HULL_PX) * a - qx)
    hy = torch.addcmul(qy, win, _signs(a, _HULL_PY) * b - qy)
    dhy = _roll_diff(hy)
    hull = 0.5 * (hx * dhy).sum(0)
    if not need_backward:
        return inter, hull, None
    return inter, hull, (cr, sr, lox, hix, loy, hiy, win, hx, dhy)


def _inter_partials(a, b, cx, cy, p, q, cr, sr, lox, hix, loy, hiy):
    """Partial derivatives of the intersection area w.r.t. ``(a, b, cx, cy, rho, p, q)``.

    Moving a piece of boundary changes the area by its normal speed integrated over the part
    of it that bounds the intersection (the part inside the other box). So ``dI/da`` is the
    length of box 1's edges ``x = +-a`` inside box 2, ``dI/dp`` the length of box 2's edges
    ``+-p e1`` inside box 1, translating box 2 integrates its outward normals over the
    clipped edges, and turning it about its centre integrates ``cross(r, n)``. The clipped
    parameter intervals of box 2's edges are the forward's breakpoints (Liang-Barsky).
    """
    # box 2's edges k (normals e2, -e1, -e2, e1; lengths 2p, 2q, 2p, 2q) inside box 1
    t0 = torch.maximum(lox, loy).clamp_min_(0)
    t1 = torch.minimum(hix, hiy).clamp_max_(1)
    frac = (t1 - t0).clamp_min_(0)  # (4, N)
    length = torch.stack((p, q, p, q)) * 2
    m = frac * length
    # d/d rho of the area: sum_k length_k^2 frac_k (1 - t0_k - t1_k) / 2
    d_rho = (m * length * (1 - t0 - t1)).sum(0) * 0.5
    m0, m1, m2, m3 = m.unbind(0)
    d_p, d_q = m1 + m3, m0 + m2
    n1, n2 = m3 - m1, m0 - m2  # translation: the clipped edges' normals, in (e1, e2)
    d_cx = n1 * cr - n2 * sr
    d_cy = n1 * sr + n2 * cr
    # box 1's edges (a, -b) -> (a, b), (-a, b) -> (-a, -b), (a, b) -> (-a, b),
    # (-a, -b) -> (a, -b) as start + t direction, t in [0, 1], in box 2's coordinates
    # (xi, eta) = (<r - c, e1>, <r - c, e2>)
    a0 = -(cx * cr + cy * sr)
    b0 = cx * sr - cy * cr
    acr, asr, bcr, bsr = a * cr, a * sr, b * cr, b * sr
    xi0 = (a0 + acr - bsr, a0 - acr + bsr, a0 + acr + bsr, a0 - acr - bsr)
    eta0 = (b0 - asr - bcr, b0 + asr + bcr, b0 - asr + bcr, b0 + asr - bcr)
    i_bs, i_bc = 0.5 * _safe_inv(bsr, bcr), 0.5 * _safe_inv(bcr, bsr)
    i_ac, i_as = 0.5 * _safe_inv(acr, asr), 0.5 * _safe_inv(asr, acr)
    ixi = (i_bs, -i_bs, -i_ac, i_ac)  # 1 / (direction . e1)
    ieta = (i_bc, -i_bc, i_as, -i_as)  # 1 / (direction . e2)
    ln = []  # fractions of the edges inside box 2, (N,) columns
    for j in range(4):
        xlo, xhi = _slab_interval(xi0[j], ixi[j], p)
        ylo, yhi = _slab_interval(eta0[j], ieta[j], q)
        s0 = torch.maximum(xlo, ylo).clamp_min_(0)
        s1 = torch.minimum(xhi, yhi).clamp_max_(1)
        ln.append((s1 - s0).clamp_min_(0))
    d_a = (ln[0] + ln[1]) * (2 * b)
    d_b = (ln[2] + ln[3]) * (2 * a)
    return d_a, d_b, d_cx, d_cy, d_rho, d_p, d_q


def _hull_partials(a, b, p, q, cr, sr, win, hx, dhy):
    """Partial derivatives of the hull area w.r.t. ``(a, b, cx, cy, rho, p, q)``: the
    shoelace ``2 H = sum_k hx_k (hy_k+1 - hy_k-1)`` through the selected corners."""
    ghx = 0.5 * dhy  # (16, N)
    ghy = -0.5 * _roll_diff(hx)
    gpx, gpy = ghx * win, ghy * win  # rows held by box 1
    d_a = (gpx * _signs(a, _HULL_PX)).sum(0)
    d_b = (gpy * _signs(a, _HULL_PY)).sum(0)
    # rows grouped by the corner W0..W3 they may hold: (4, N) per corner
    gwx = torch.roll(ghx - gpx, -3, 0).view(4, 4, -1).sum(1)
    gwy = torch.roll(ghy - gpy, -3, 0).view(4, 4, -1).sum(1)
    # corners W_k = c + U_k (p e1) + V_k (q e2), U = (1, -1, -1, 1), V = (1, 1, -1, -1)
    x0, x1, x2, x3 = gwx.unbind(0)
    y0, y1, y2, y3 = gwy.unbind(0)
    g_ux, g_vx = x0 - x1 - x2 + x3, x0 + x1 - x2 - x3
    g_uy, g_vy = y0 - y1 - y2 + y3, y0 + y1 - y2 - y3
    # ux, uy, vx, vy = p cr, p sr, -q sr, q cr
    d_p = g_ux * cr + g_uy * sr
    d_q = g_vy * cr - g_vx * sr
    d_rho = p * (g_uy * cr - g_ux * sr) - q * (g_vx * cr + g_vy * sr)
    return d_a, d_b, gwx.sum(0), gwy.sum(0), d_rho, d_p, d_q


class _BevAreas(torch.autograd.Function):
    """``(inter, hull)`` areas ``(N,)`` from the frame ``(a, b, cx, cy, rho, p, q)``, with an
    analytic backward: the forward also returns their partial derivatives ``(7, N)`` each
    (:func:`_inter_partials`, :func:`_hull_partials`; non-differentiable, saved), and backward
    is ``g_inter * d_inter + g_hull * d_hull``. ``torch.func``-ready (``setup_context``, a
    generated vmap rule)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(a, b, cx, cy, rho, p, q):
        inter, hull, saved = _areas_forward(a, b, cx, cy, rho, p, q, need_backward=True)
        cr, sr, lox, hix, loy, hiy, win, hx, dhy = saved
        d_inter = torch.stack(_inter_partials(a, b, cx, cy, p, q, cr, sr, lox, hix, loy, hiy))
        d_hull = torch.stack(_hull_partials(a, b, p, q, cr, sr, win, hx, dhy))
        return inter, hull, d_inter, d_hull

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, _, d_inter, d_hull = output
        ctx.mark_non_differentiable(d_inter, d_hull)
        ctx.save_for_backward(d_inter, d_hull)

    @staticmethod
    @once_differentiable
    def backward(ctx, g_inter, g_hull, _gi, _gh):
        d_inter, d_hull = ctx.saved_tensors
        return tuple((g_inter * d_inter + g_hull * d_hull).unbind(0))


def _bev_areas(b1: Tensor, b2: Tensor, analytic: bool = True):
    """Areas of box 1, box 2, their intersection and their convex hull, each ``(N,)``.

    ``analytic=False`` differentiates :func:`_areas_forward` with autograd instead of the
    analytic backward (same values; the tests compare the two gradients).
    """
    frame = _frame(b1, b2)
    if analytic and torch.is_grad_enabled() and any(t.requires_grad for t in frame):
        inter, hull = _BevAreas.apply(*frame)[:2]
    else:
        inter, hull, _ = _areas_forward(*frame)
    area1 = b1[:, 2] * b1[:, 3]
    area2 = b2[:, 2] * b2[:, 3]
    return area1, area2, inter.clamp(min=0), hull


def _nan_of_invalid(b1: Tensor, b2: Tensor) -> Tensor:
    """``(N,)``: NaN where a coordinate of either box is NaN or infinite, else 0 (added to
    the results, so such rows never get a finite made-up value; no gradient)."""
    with torch.no_grad():
        return (b1.sum(-1) + b2.sum(-1)) * 0


def _iou_giou(inter: Tensor, size1: Tensor, size2: Tensor, enclose: Tensor,
              eps: float) -> Tuple[Tensor, Tensor]:
    """IoU and GIoU from the intersection, the two sizes (areas or volumes) and the enclosing
    size, all ``(N,)``.

    ``inter <= min(size1, size2)`` and ``enclose >= union`` hold exactly, so they are imposed
    on the rounded values too: IoU <= 1 and GIoU <= IoU always, and identical boxes give 1.
    The clamps change only values, never the gradient path (they are added as detached
    corrections): at identical boxes, where ``inter = size = union = enclose``, the loss is at
    its minimum and its gradient ``(d enclose - d inter) / size`` is 0 because the hull and
    the intersection resolve the coincident edges alike (``torch.minimum`` / ``maximum`` would
    split the gradient between equal sides and leave a spurious slope there).
    """
    inter = inter - (inter - torch.minimum(size1, size2)).clamp(min=0).detach()
    union = size1 + size2 - inter
    enclose = enclose + (union - enclose).clamp(min=0).detach()
    union = union.clamp(min=eps)
    enclose = enclose.clamp(min=eps)
    iou = inter / union
    return iou, iou - (enclose - union) / enclose


def bev_iou_giou(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-6) -> Tuple[Tensor, Tensor]:
    """IoU and GIoU of aligned pairs of rotated BEV boxes.

    Args:
        boxes1: ``(N, 5)`` as ``(x, y, dx, dy, yaw)`` (mmdet3d BEV convention: yaw
            counter-clockwise from ``+x``, ``dx`` along the heading, sizes ``>= 0``).
        boxes2: ``(N, 5)``, paired row by row with ``boxes1``.
        eps: lower clamp of the union and of the enclosing (convex hull) area.

    Returns:
        ``(iou, giou)``, each ``(N,)``: ``iou`` in ``[0, 1]``, ``giou`` in ``[-1, 1]``. The
        dtype is the inputs' (float32 for half / bfloat16 inputs, also under autocast). Rows
        with a NaN or infinite coordinate give NaN.

    Raises:
        TypeError: non-tensor or non floating point input.
        ValueError: a shape other than ``(N, 5)``, or different ``N``.
    """
    _check_pair(boxes1, boxes2, 5, 'bev_iou_giou')
    with no_autocast(boxes1):
        b1, b2 = _common_dtype(boxes1, boxes2)
        area1, area2, inter, hull = _bev_areas(b1, b2)
        iou, giou = _iou_giou(inter, area1, area2, hull, eps)
        nan = _nan_of_invalid(b1, b2)
        return iou + nan, giou + nan


def _bev_columns(boxes: Tensor) -> Tensor:
    """``(N, 7)`` 3D boxes -> ``(N, 5)`` ``(x, y, dx, dy, yaw)``."""
    return torch.cat((boxes[:, 0:2], boxes[:, 3:5], boxes[:, 6:7]), 1)


def box3d_iou_giou(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-6) -> Tuple[Tensor, Tensor]:
    """IoU and GIoU of aligned pairs of rotated 3D boxes (yaw about the vertical axis).

    The intersection volume is the BEV intersection area times the overlap of the height
    intervals ``[z, z + dz]``; the enclosing volume is the BEV convex hull area times the
    enclosing height ``max(z + dz) - min(z)``.

    Args:
        boxes1: ``(N, 7)`` as ``(x, y, z, dx, dy, dz, yaw)``, ``z`` the bottom face
            (``LiDARInstance3DBoxes``), sizes ``>= 0``.
        boxes2: ``(N, 7)``, paired row by row with ``boxes1``.
        eps: lower clamp of the union and of the enclosing volume.

    Returns:
        ``(iou, giou)``, each ``(N,)``, dtype as in :func:`bev_iou_giou`.

    Raises:
        TypeError: non-tensor or non floating point input.
        ValueError: a shape other than ``(N, 7)``, or different ``N``.
    """
    _check_pair(boxes1, boxes2, 7, 'box3d_iou_giou')
    with no_autocast(boxes1):
        b1, b2 = _common_dtype(boxes1, boxes2)
        # the BEV columns (x, y, dx, dy, yaw) as slices: with a column index list instead,
        # torch.compile's inductor (torch 2.13, CPU) returned wrong gradients for x, y, dx,
        # dy, yaw (index backward accumulating into the gradient the z / dz slices also write)
        area1, area2, inter, hull = _bev_areas(_bev_columns(b1), _bev_columns(b2))
        z1, h1, z2, h2 = b1[:, 2], b1[:, 5], b2[:, 2], b2[:, 5]
        # overlap s = min(z + dz) - max(z) (< 0: a gap) written as dz - (max(z) - z): exact
        # for equal bottoms, where (z + dz) - z would round (z = 1, dz = 1e-6 in float32)
        zmax = torch.maximum(z1, z2)
        s_h = torch.minimum(h1 - (zmax - z1), h2 - (zmax - z2))
        h_inter = s_h.clamp(min=0)
        h_enclose = h1 + h2 - s_h  # = max(z + dz) - min(z)
        iou, giou = _iou_giou(inter * h_inter, area1 * h1, area2 * h2, hull * h_enclose, eps)
        nan = _nan_of_invalid(b1, b2)
        return iou + nan, giou + nan


def bev_iou(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-6) -> Tensor:
    """``(N,)`` IoU of aligned ``(N, 5)`` BEV box pairs (see :func:`bev_iou_giou`)."""
    return bev_iou_giou(boxes1, boxes2, eps)[0]


def bev_giou(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-6) -> Tensor:
    """``(N,)`` GIoU of aligned ``(N, 5)`` BEV box pairs (see :func:`bev_iou_giou`)."""
    return bev_iou_giou(boxes1, boxes2, eps)[1]


def box3d_iou(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-6) -> Tensor:
    """``(N,)`` IoU of aligned ``(N, 7)`` 3D box pairs (see :func:`box3d_iou_giou`)."""
    return box3d_iou_giou(boxes1, boxes2, eps)[0]


def box3d_giou(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-6) -> Tensor:
    """``(N,)`` GIoU of aligned ``(N, 7)`` 3D box pairs (see :func:`box3d_iou_giou`)."""
    return box3d_iou_giou(boxes1, boxes2, eps)[1]
