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
values with finite gradients.

Enclosing hull (exact). The support function of the hull is the maximum of the two boxes'
support functions. Between consecutive edge normals of the two boxes (8 directions, whose
cyclic order is fixed once box 2's yaw is reduced modulo pi/2 relative to box 1) each box has
one extreme vertex, and the hull switches from one box to the other at most once. The hull's
vertices, in counter-clockwise order, are therefore the extreme face (edge or vertex) of the
box that wins at each of the 8 normals: 16 points with repeats, shoelace area. A tie at a
normal (touching or collinear supporting lines) changes the result only by the size of the
tie, so the area is continuous everywhere.

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

    Returns ``(a, b, cx, cy, cr, sr, p, q)``: box 1 is ``[-a, a] x [-b, b]``; box 2 has centre
    ``(cx, cy)``, half sizes ``p`` along ``e1 = (cr, sr)`` and ``q`` along ``e2 = (-sr, cr)``
    with ``cr = cos(rho)``, ``sr = sin(rho)`` and ``rho`` its yaw reduced to ``[0, pi/2)``
    (a half turn leaves a box unchanged, a quarter turn swaps its sizes).
    """
    x1, y1, l1, w1, r1 = b1.t().contiguous().unbind(0)
    x2, y2, l2, w2, r2 = b2.t().contiguous().unbind(0)
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
    return 0.5 * l1, 0.5 * w1, cx, cy, torch.cos(rho), torch.sin(rho), p, q


# Layout: per-pair quantities are (K, N) with the pairs last (contiguous, vectorised along N).
# Corners of box 2: W_k = c + U_k (p e1) + V_k (q e2), counter-clockwise; edge k: W_k -> W_k+1
# = E_k (p e1) + F_k (q e2).
_CORNER_U = (1., -1., -1., 1.)
_CORNER_V = (1., 1., -1., -1.)
_EDGE_U = (-2., 0., 2., 0.)
_EDGE_V = (0., -2., 0., 2.)
# Hull: the (8,) support values at the normals +x, e1, +y, e2, -x, -e1, -y, -e2 decide which
# box holds the hull there; its face there, as 2 of the 16 hull vertices, is
#   box 1: V3 V0 | V0 V0 | V0 V1 | V1 V1 | V1 V2 | V2 V2 | V2 V3 | V3 V3
#          with V0..V3 = (a, b), (-a, b), (-a, -b), (a, -b)
#   box 2: W3 W3 | W3 W0 | W0 W0 | W0 W1 | W1 W1 | W1 W2 | W2 W2 | W2 W3
_HULL_PX = (1., 1., 1., 1., 1., -1., -1., -1., -1., -1., -1., -1., -1., 1., 1., 1.)
_HULL_PY = (-1., 1., 1., 1., 1., 1., 1., 1., 1., -1., -1., -1., -1., -1., -1., -1.)
_HULL_W = (3, 3, 3, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3)
_REL_TINY = 1e-12  # an edge with |dx| <= 1e-12 (|dx| + |dy|) is taken as parallel to y
_CONSTS: dict = {}


def _consts(ref: Tensor) -> dict:
    """The constant columns above as ``(K, 1)`` tensors, cached per dtype and device."""
    key = (ref.dtype, ref.device)
    k = _CONSTS.get(key)
    if k is None:
        kw = dict(dtype=ref.dtype, device=ref.device)
        col = dict(cu=_CORNER_U, cv=_CORNER_V, eu=_EDGE_U, ev=_EDGE_V, hpx=_HULL_PX,
                   hpy=_HULL_PY)
        k = {name: torch.tensor(v, **kw)[:, None] for name, v in col.items()}
        k['hw'] = torch.tensor(_HULL_W, device=ref.device)
        k['0'], k['1'] = torch.zeros((), **kw), torch.ones((), **kw)
        n20 = torch.arange(20, device=ref.device)
        n16 = torch.arange(16, device=ref.device)
        k['nxt20'], k['prv20'] = (n20 + 1) % 20, (n20 - 1) % 20
        k['nxt16'], k['prv16'] = (n16 + 1) % 16, (n16 - 1) % 16
        k['prv4'] = (torch.arange(4, device=ref.device) - 1) % 4
        k['rep2'] = torch.arange(8, device=ref.device).repeat_interleave(2)
        # hull vertex rows grouped by the corner of box 2 they select: 0, 1, 2, 3
        k['by_w'] = (n16 + 3) % 16
        _CONSTS[key] = k
    return k


def _roll_diff(x: Tensor, nxt: Tensor, prv: Tensor) -> Tensor:
    """``x[k + 1] - x[k - 1]`` along dim 0, cyclically."""
    return x.index_select(0, nxt) - x.index_select(0, prv)


def _slab_breakpoints(w: Tensor, e: Tensor, e_other: Tensor, h: Tensor, k: dict):
    """Where ``w + t e`` crosses ``-h`` and ``+h``: ``(lo, hi, inv, tiny)``, each ``(4, N)``.

    ``lo <= hi`` are clipped to ``[-1, 2]`` (only ``[0, 1]`` matters); a negligible ``e`` has
    no crossing (``lo, hi = 0, 1``) and a guarded reciprocal, so nothing is infinite.
    """
    ea = e.abs()
    tiny = ea <= _REL_TINY * (ea + e_other.abs()) + 1e-20
    inv = torch.where(tiny, k['1'], e).reciprocal_()
    c = w * inv
    hr = h * inv.abs()
    lo = torch.where(tiny, k['0'], -hr - c).clamp_(-1, 2)
    hi = torch.where(tiny, k['1'], hr - c).clamp_(-1, 2)
    return lo, hi, inv, tiny


def _areas_forward(a, b, cx, cy, cr, sr, p, q, need_backward: bool):
    """Intersection and convex hull areas ``(N,)`` from the frame (and what backward needs).

    Written with plain tensor operations, so autograd can also differentiate it directly.
    """
    k = _consts(a)
    ux, uy, vx, vy = p * cr, p * sr, -q * sr, q * cr
    wx = cx + k['cu'] * ux + k['cv'] * vx  # (4, N)
    wy = cy + k['cu'] * uy + k['cv'] * vy
    ex = k['eu'] * ux + k['ev'] * vx
    ey = k['eu'] * uy + k['ev'] * vy
    # ---- intersection: the boundary of box 2 clamped onto box 1, 20 vertices -------------
    lox, hix, rx, tx = _slab_breakpoints(wx, ex, ey, a, k)
    loy, hiy, ry, ty = _slab_breakpoints(wy, ey, ex, b, k)
    m1, m2 = torch.maximum(lox, loy), torch.minimum(hix, hiy)
    s = torch.stack((torch.zeros_like(lox), torch.minimum(lox, loy), torch.minimum(m1, m2),
                     torch.maximum(m1, m2), torch.maximum(hix, hiy)), 1)  # (4, 5, N) sorted
    t = s.clamp(0, 1)
    gx = torch.addcmul(wx[:, None], t, ex[:, None])
    gy = torch.addcmul(wy[:, None], t, ey[:, None])
    X = torch.clamp(gx, -a, a).view(20, -1)
    Y = torch.clamp(gy, -b, b).view(20, -1)
    dY = _roll_diff(Y, k['nxt20'], k['prv20'])
    inter = 0.5 * (X * dY).sum(0)
    # ---- hull: the winning face at each of the 8 normals, 16 vertices --------------------
    ac, asn, bc, bsn = a * cr, a * sr, b * cr, b * sr
    d = torch.stack((a - (p * cr + q * sr), ac + bsn - p, b - (p * sr + q * cr), asn + bc - q))
    c4 = torch.stack((cx, cx * cr + cy * sr, cy, cy * cr - cx * sr))
    win = torch.cat((d >= c4, d >= -c4)).index_select(0, k['rep2'])  # (16, N)
    hx = torch.where(win, k['hpx'] * a, wx.index_select(0, k['hw']))
    hy = torch.where(win, k['hpy'] * b, wy.index_select(0, k['hw']))
    dhy = _roll_diff(hy, k['nxt16'], k['prv16'])
    hull = 0.5 * (hx * dhy).sum(0)
    if not need_backward:
        return inter, hull, None
    saved = (ex, ey, lox, hix, rx, tx, loy, hiy, ry, ty, s, t, gx, gy, X, dY, win, hx, dhy)
    return inter, hull, saved


def _areas_backward(g_inter, g_hull, a, b, cx, cy, cr, sr, p, q, saved):
    """The chain rule of :func:`_areas_forward`, written out: gradients of the 8 frame
    tensors."""
    k = _consts(a)
    (ex, ey, lox, hix, rx, tx, loy, hiy, ry, ty, s, t, gx, gy, X, dY, win, hx, dhy) = saved
    # ---- intersection: 2 I = sum_k X_k (Y_k+1 - Y_k-1) ----------------------------------
    G = 0.5 * g_inter
    GX = (G * dY).view(4, 5, -1)
    GY = (G * _roll_diff(X, k['prv20'], k['nxt20'])).view(4, 5, -1)
    in_x = (gx >= -a) & (gx <= a)
    in_y = (gy >= -b) & (gy <= b)
    Gux = torch.where(in_x, GX, k['0'])
    Guy = torch.where(in_y, GY, k['0'])
    # clamped vertices sit on x = +-a (y = +-b)
    g_a = ((GX - Gux) * gx.sign()).sum((0, 1))
    g_b = ((GY - Guy) * gy.sign()).sum((0, 1))
    g_wx = Gux.sum(1)
    g_wy = Guy.sum(1)
    g_ex = (Gux * t).sum(1)
    g_ey = (Guy * t).sum(1)
    # vertex j >= 1 of edge k sits at t = clamp(sorted_j, 0, 1)
    gs = torch.where((s >= 0) & (s <= 1), Gux * ex[:, None] + Guy * ey[:, None], k['0'])
    g_s0, g_s1, g_s2, g_s3 = gs[:, 1], gs[:, 2], gs[:, 3], gs[:, 4]
    c12 = torch.maximum(lox, loy) <= torch.minimum(hix, hiy)
    g_m1 = torch.where(c12, g_s1, g_s2)
    g_m2 = torch.where(c12, g_s2, g_s1)
    c0 = lox <= loy
    c3 = hix >= hiy
    # lo, hi = -+h |r| - w r with r = 1 / e; constant where the edge is parallel (tiny), and
    # a value clipped to [-1, 2] lies outside [0, 1], so its gradient is already 0
    g_lox = torch.where(c0 & ~tx, g_s0, torch.where(tx, k['0'], g_m1))
    g_hix = torch.where(c3 & ~tx, g_s3, torch.where(tx, k['0'], g_m2))
    g_loy = torch.where(~c0 & ~ty, g_s0, torch.where(ty | ~c0, k['0'], g_m1))
    g_hiy = torch.where(~c3 & ~ty, g_s3, torch.where(ty | ~c3, k['0'], g_m2))
    g_wx = g_wx - (g_lox + g_hix) * rx
    g_wy = g_wy - (g_loy + g_hiy) * ry
    g_a = g_a + ((g_hix - g_lox) * rx.abs()).sum(0)
    g_b = g_b + ((g_hiy - g_loy) * ry.abs()).sum(0)
    g_ex = g_ex - (g_lox * lox + g_hix * hix) * rx
    g_ey = g_ey - (g_loy * loy + g_hiy * hiy) * ry
    # ---- hull: 2 H = sum_k hx_k (hy_k+1 - hy_k-1) ----------------------------------------
    H = 0.5 * g_hull
    GHX = H * dhy
    GHY = H * _roll_diff(hx, k['prv16'], k['nxt16'])
    GPX = torch.where(win, GHX, k['0'])
    GPY = torch.where(win, GHY, k['0'])
    g_a = g_a + (GPX * k['hpx']).sum(0)
    g_b = g_b + (GPY * k['hpy']).sum(0)
    g_wx = g_wx + (GHX - GPX).index_select(0, k['by_w']).view(4, 4, -1).sum(1)
    g_wy = g_wy + (GHY - GPY).index_select(0, k['by_w']).view(4, 4, -1).sum(1)
    # ---- corners and edges -> frame: e_k = W_k+1 - W_k ----------------------------------
    g_wx = g_wx + g_ex.index_select(0, k['prv4']) - g_ex
    g_wy = g_wy + g_ey.index_select(0, k['prv4']) - g_ey
    g_ux, g_vx = (g_wx * k['cu']).sum(0), (g_wx * k['cv']).sum(0)
    g_uy, g_vy = (g_wy * k['cu']).sum(0), (g_wy * k['cv']).sum(0)
    g_p = g_ux * cr + g_uy * sr
    g_q = g_vy * cr - g_vx * sr
    g_cr = g_ux * p + g_vy * q
    g_sr = g_uy * p - g_vx * q
    return g_a, g_b, g_wx.sum(0), g_wy.sum(0), g_cr, g_sr, g_p, g_q


class _BevAreas(torch.autograd.Function):
    """``(inter, hull)`` areas ``(N,)`` from the frame ``(a, b, cx, cy, cr, sr, p, q)``, with
    the analytic backward :func:`_areas_backward`."""

    @staticmethod
    def forward(ctx, a, b, cx, cy, cr, sr, p, q):
        inter, hull, saved = _areas_forward(a, b, cx, cy, cr, sr, p, q, need_backward=True)
        ctx.save_for_backward(a, b, cx, cy, cr, sr, p, q, *saved)
        return inter, hull

    @staticmethod
    @once_differentiable
    def backward(ctx, g_inter, g_hull):
        frame, saved = ctx.saved_tensors[:8], ctx.saved_tensors[8:]
        if g_inter is None:
            g_inter = torch.zeros_like(frame[0])
        if g_hull is None:
            g_hull = torch.zeros_like(frame[0])
        return _areas_backward(g_inter, g_hull, *frame, saved)


def _bev_areas(b1: Tensor, b2: Tensor, analytic: bool = True):
    """Areas of box 1, box 2, their intersection and their convex hull, each ``(N,)``.

    ``analytic=False`` differentiates :func:`_areas_forward` with autograd instead of the
    hand-written backward (same values; used by the tests, and for double backward).
    """
    frame = _frame(b1, b2)
    if analytic:
        inter, hull = _BevAreas.apply(*frame)
    else:
        inter, hull, _ = _areas_forward(*frame, need_backward=False)
    area1 = b1[:, 2] * b1[:, 3]
    area2 = b2[:, 2] * b2[:, 3]
    return area1, area2, inter.clamp(min=0), hull


def _nan_where_invalid(value: Tensor, *boxes: Tensor) -> Tensor:
    """NaN where any input coordinate is NaN or infinite (never a finite made-up value)."""
    bad = None
    for bx in boxes:
        nb = ~torch.isfinite(bx).all(-1)
        bad = nb if bad is None else bad | nb
    return torch.where(bad, torch.full_like(value, float('nan')), value)


def _iou_giou(inter: Tensor, union: Tensor, enclose: Tensor,
              eps: float) -> Tuple[Tensor, Tensor]:
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
    with no_autocast(boxes1, boxes2):
        b1, b2 = _common_dtype(boxes1, boxes2)
        area1, area2, inter, hull = _bev_areas(b1, b2)
        iou, giou = _iou_giou(inter, area1 + area2 - inter, hull, eps)
        return _nan_where_invalid(iou, b1, b2), _nan_where_invalid(giou, b1, b2)


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
    with no_autocast(boxes1, boxes2):
        b1, b2 = _common_dtype(boxes1, boxes2)
        bev_cols = [0, 1, 3, 4, 6]
        area1, area2, inter, hull = _bev_areas(b1[:, bev_cols], b2[:, bev_cols])
        z1, h1, z2, h2 = b1[:, 2], b1[:, 5], b2[:, 2], b2[:, 5]
        top1, top2 = z1 + h1, z2 + h2
        h_inter = (torch.minimum(top1, top2) - torch.maximum(z1, z2)).clamp(min=0)
        h_enclose = torch.maximum(top1, top2) - torch.minimum(z1, z2)
        inter_v = inter * h_inter
        iou, giou = _iou_giou(inter_v, area1 * h1 + area2 * h2 - inter_v, hull * h_enclose, eps)
        return _nan_where_invalid(iou, b1, b2), _nan_where_invalid(giou, b1, b2)


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
