"""Rotated BEV / 3D IoU and GIoU (bev_losses.ops.rotated_iou) against an independent reference.

The reference builds the box corners here (not with the library) and measures areas with
shapely: intersection of the two rectangles, and the convex hull of the 8 corners.
"""
import math

import numpy as np
import pytest
import torch

from bev_losses.ops.rotated_iou import (bev_box_corners, bev_giou, bev_iou, bev_iou_giou,
                                        box3d_giou, box3d_iou, box3d_iou_giou)

shapely_geometry = pytest.importorskip('shapely.geometry')
Polygon, MultiPoint = shapely_geometry.Polygon, shapely_geometry.MultiPoint

EPS = 1e-6


# ----------------------------------------------------------------------------- reference
def ref_corners(box):
    """Corners of one (x, y, dx, dy, yaw) box, written out independently of the library."""
    x, y, dx, dy, yaw = (float(v) for v in box)
    c, s = math.cos(yaw), math.sin(yaw)
    out = []
    for lx, ly in ((dx / 2, dy / 2), (-dx / 2, dy / 2), (-dx / 2, -dy / 2), (dx / 2, -dy / 2)):
        out.append((x + c * lx - s * ly, y + s * lx + c * ly))
    return out


def ref_areas(box1, box2):
    """(area1, area2, intersection, convex hull area) with shapely."""
    c1, c2 = ref_corners(box1), ref_corners(box2)
    p1, p2 = Polygon(c1), Polygon(c2)
    a1, a2 = float(box1[2] * box1[3]), float(box2[2] * box2[3])
    inter = p1.intersection(p2).area if a1 > 0 and a2 > 0 else 0.0
    hull = MultiPoint(c1 + c2).convex_hull.area
    return a1, a2, inter, hull


def ref_bev(boxes1, boxes2, eps=EPS):
    ious, gious = [], []
    for b1, b2 in zip(boxes1.tolist(), boxes2.tolist()):
        a1, a2, inter, hull = ref_areas(b1, b2)
        union = max(a1 + a2 - inter, eps)
        hull = max(hull, eps)
        ious.append(inter / union)
        gious.append(inter / union - (hull - union) / hull)
    return np.array(ious), np.array(gious)


def ref_3d(boxes1, boxes2, eps=EPS):
    ious, gious = [], []
    for b1, b2 in zip(boxes1.tolist(), boxes2.tolist()):
        bev1, bev2 = [b1[i] for i in (0, 1, 3, 4, 6)], [b2[i] for i in (0, 1, 3, 4, 6)]
        a1, a2, inter, hull = ref_areas(bev1, bev2)
        lo1, hi1, lo2, hi2 = b1[2], b1[2] + b1[5], b2[2], b2[2] + b2[5]
        h_inter = max(min(hi1, hi2) - max(lo1, lo2), 0.0)
        h_enc = max(hi1, hi2) - min(lo1, lo2)
        v_inter = inter * h_inter
        union = max(a1 * b1[5] + a2 * b2[5] - v_inter, eps)
        enclose = max(hull * h_enc, eps)
        ious.append(v_inter / union)
        gious.append(v_inter / union - (enclose - union) / enclose)
    return np.array(ious), np.array(gious)


# ----------------------------------------------------------------------------- random pairs
def random_pairs(n, seed, dtype=torch.float64):
    """BEV pairs mixing heavy overlap, partial overlap, containment, disjoint and any yaw."""
    g = torch.Generator().manual_seed(seed)

    def u(*shape):
        return torch.rand(*shape, generator=g, dtype=torch.float64)

    k = n // 5
    b1 = torch.cat((u(n, 2) * 20 - 10, u(n, 2) * 4 + 0.1, u(n, 1) * 40 - 20), 1)
    b2 = b1.clone()
    # heavy overlap: small perturbation
    b2[:k, :2] += (u(k, 2) - 0.5) * 0.4
    b2[:k, 2:4] *= 0.8 + 0.4 * u(k, 2)
    b2[:k, 4] += (u(k) - 0.5) * 0.6
    # partial overlap: moved by about one size, any yaw
    s = slice(k, 2 * k)
    b2[s, :2] += (u(k, 2) - 0.5) * 2 * b1[s, 2:3]
    b2[s, 2:4] = u(k, 2) * 4 + 0.1
    b2[s, 4] = u(k) * 40 - 20
    # containment: a smaller box near the centre
    s = slice(2 * k, 3 * k)
    b2[s, :2] += (u(k, 2) - 0.5) * 0.2 * b1[s, 2:3].clamp(max=1)
    b2[s, 2:4] = b1[s, 2:4].min(1, keepdim=True).values * (0.05 + 0.3 * u(k, 2))
    b2[s, 4] = u(k) * 40 - 20
    # disjoint: far apart
    s = slice(3 * k, 4 * k)
    ang = u(k) * 2 * math.pi
    b2[s, 0] += 12 * torch.cos(ang)
    b2[s, 1] += 12 * torch.sin(ang)
    b2[s, 2:4] = u(k, 2) * 4 + 0.1
    b2[s, 4] = u(k) * 40 - 20
    # anything
    s = slice(4 * k, n)
    m = n - 4 * k
    b2[s] = torch.cat((b1[s, :2] + (u(m, 2) - 0.5) * 6, u(m, 2) * 4 + 0.1, u(m, 1) * 40 - 20), 1)
    return b1.to(dtype), b2.to(dtype)


@pytest.fixture(scope='module')
def pairs_and_reference():
    b1, b2 = random_pairs(3000, seed=0)
    iou, giou = ref_bev(b1, b2)
    return b1, b2, iou, giou


def test_random_pairs_cover_all_cases(pairs_and_reference):
    _, _, iou, giou = pairs_and_reference
    assert (iou == 0).mean() > 0.2  # disjoint
    assert (iou > 0.5).mean() > 0.1  # heavy overlap
    assert ((iou > 0) & (iou < 0.5)).mean() > 0.1  # partial / containment
    assert (giou < -0.5).mean() > 0.05  # far apart


def test_bev_float64_matches_shapely(pairs_and_reference):
    b1, b2, iou_ref, giou_ref = pairs_and_reference
    iou, giou = bev_iou_giou(b1, b2)
    assert iou.dtype == torch.float64 and iou.shape == (len(b1),)
    assert np.abs(iou.numpy() - iou_ref).max() <= 1e-6
    assert np.abs(giou.numpy() - giou_ref).max() <= 1e-6


def test_bev_float32_matches_shapely(pairs_and_reference):
    b1, b2, iou_ref, giou_ref = pairs_and_reference
    # the reference of the float32 result is the exact value of the rounded boxes
    b1f, b2f = b1.float(), b2.float()
    iou_ref, giou_ref = ref_bev(b1f.double(), b2f.double())
    iou, giou = bev_iou_giou(b1f, b2f)
    assert iou.dtype == torch.float32
    assert np.abs(iou.double().numpy() - iou_ref).max() <= 1e-4
    assert np.abs(giou.double().numpy() - giou_ref).max() <= 1e-4


def test_symmetric_in_the_two_boxes(pairs_and_reference):
    b1, b2, _, _ = pairs_and_reference
    for a, b in zip(bev_iou_giou(b1, b2), bev_iou_giou(b2, b1)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_convenience_functions(pairs_and_reference):
    b1, b2, _, _ = pairs_and_reference
    iou, giou = bev_iou_giou(b1[:50], b2[:50])
    torch.testing.assert_close(bev_iou(b1[:50], b2[:50]), iou)
    torch.testing.assert_close(bev_giou(b1[:50], b2[:50]), giou)


def test_box3d_matches_reference():
    b1, b2 = random_pairs(1000, seed=1)
    g = torch.Generator().manual_seed(2)
    z1 = torch.rand(1000, 1, generator=g, dtype=torch.float64) * 4 - 2
    h1 = torch.rand(1000, 1, generator=g, dtype=torch.float64) * 3 + 0.1
    z2 = z1 + (torch.rand(1000, 1, generator=g, dtype=torch.float64) - 0.5) * 5
    h2 = torch.rand(1000, 1, generator=g, dtype=torch.float64) * 3 + 0.1
    c1 = torch.cat((b1[:, :2], z1, b1[:, 2:4], h1, b1[:, 4:]), 1)
    c2 = torch.cat((b2[:, :2], z2, b2[:, 2:4], h2, b2[:, 4:]), 1)
    iou_ref, giou_ref = ref_3d(c1, c2)
    assert (iou_ref > 0).mean() > 0.3
    iou, giou = box3d_iou_giou(c1, c2)
    assert np.abs(iou.numpy() - iou_ref).max() <= 1e-6
    assert np.abs(giou.numpy() - giou_ref).max() <= 1e-6
    iou32, giou32 = box3d_iou_giou(c1.float(), c2.float())
    iou_ref, giou_ref = ref_3d(c1.float().double(), c2.float().double())
    assert np.abs(iou32.double().numpy() - iou_ref).max() <= 1e-4
    assert np.abs(giou32.double().numpy() - giou_ref).max() <= 1e-4
    torch.testing.assert_close(box3d_iou(c1, c2), iou)
    torch.testing.assert_close(box3d_giou(c1, c2), giou)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_box3d_identical_thin_boxes_give_one(dtype):
    # (z + dz) - z rounds in float32 for z = 1, dz = 1e-6: heights must not be taken from it
    boxes = torch.tensor([[0., 0., 1., 1., 2., 1e-6, 0.], [0., 0., 40., 1., 1., 1e-5, 0.3],
                          [5., -3., -2., 4., 2., 1e-4, 2.]], dtype=dtype)
    iou, giou = box3d_iou_giou(boxes, boxes.clone())
    assert (iou == 1).all() and (giou == 1).all()
    # stacked thin boxes: the rounded z + dz may overlap the box below a little; compare with
    # the exact value for the rounded numbers
    top = boxes.clone()
    top[:, 2] += top[:, 5]
    iou, giou = box3d_iou_giou(boxes, top)
    iou_ref, giou_ref = ref_3d(boxes.double(), top.double())
    assert np.abs(iou.double().numpy() - iou_ref).max() <= 1e-4
    assert np.abs(giou.double().numpy() - giou_ref).max() <= 1e-4


def test_box3d_closed_form():
    # same footprint, heights [0, 2] and [1, 4]: IoU = 1 / (2 + 3 - 1); hull volume 4
    b1 = torch.tensor([[1., 2., 0., 2., 3., 2., 0.7]], dtype=torch.float64)
    b2 = torch.tensor([[1., 2., 1., 2., 3., 3., 0.7 + math.pi]], dtype=torch.float64)
    iou, giou = box3d_iou_giou(b1, b2)
    torch.testing.assert_close(iou, torch.tensor([0.25], dtype=torch.float64))
    # union volume 6 * 4 = 24 = enclosing volume 6 * 4: GIoU = IoU
    torch.testing.assert_close(giou, iou)


# ----------------------------------------------------------------------------- special cases
def test_corners_convention():
    box = torch.tensor([[1., 2., 4., 2., math.pi / 2]], dtype=torch.float64)
    expected = torch.tensor([ref_corners(box[0])], dtype=torch.float64)
    torch.testing.assert_close(bev_box_corners(box), expected)
    # dx = 4 along the heading +y: the front-left corner is at (1 - 1, 2 + 2)
    front_left = torch.tensor([0., 4.], dtype=torch.float64)
    torch.testing.assert_close(bev_box_corners(box)[0, 0], front_left)


@pytest.mark.parametrize('dtype,tol,tol_turned', [(torch.float64, 1e-12, 1e-12),
                                                  (torch.float32, 2e-6, 1e-4)])
def test_identical_flipped_swapped_give_one(dtype, tol, tol_turned):
    b1, _ = random_pairs(500, seed=3, dtype=torch.float64)
    yaws = torch.tensor([0., math.pi / 2, math.pi, -math.pi / 2, 1e-9, 3 * math.pi],
                        dtype=torch.float64)
    b1[:len(yaws), 4] = yaws
    flipped = b1.clone()
    flipped[:, 4] += math.pi
    swapped = b1.clone()
    swapped[:, 2], swapped[:, 3] = b1[:, 3], b1[:, 2]
    swapped[:, 4] += math.pi / 2
    swapped_back = swapped.clone()
    swapped_back[:, 4] -= math.pi
    b1 = b1.to(dtype)
    # float32: the flipped / swapped yaw is rounded (|yaw| up to 20 rad), hence 1e-4
    others = ((b1.clone(), tol), (flipped.to(dtype), tol_turned),
              (swapped.to(dtype), tol_turned), (swapped_back.to(dtype), tol_turned))
    for other, t in others:
        p = b1.clone().requires_grad_()
        iou, giou = bev_iou_giou(p, other)
        assert (iou - 1).abs().max() <= t
        assert (giou - 1).abs().max() <= t
        (1 - giou).sum().backward()
        assert torch.isfinite(p.grad).all()


def rotate_scene(boxes, angle, shift=(0., 0.)):
    """Rotate (x, y, dx, dy, yaw) boxes about the origin by ``angle``, then translate."""
    c, s = math.cos(angle), math.sin(angle)
    out = boxes.clone()
    out[:, 0] = c * boxes[:, 0] - s * boxes[:, 1] + shift[0]
    out[:, 1] = s * boxes[:, 0] + c * boxes[:, 1] + shift[1]
    out[:, 4] = boxes[:, 4] + angle
    return out


# (box1, box2) in a canonical position; rotated and moved in the tests below
DEGENERATE = {
    'shared_edge': ([0., 0., 2., 2., 0.], [2., 0., 2., 2., 0.]),
    'shared_edge_offset': ([0., 0., 2., 2., 0.], [2., 1., 2., 2., 0.]),
    'shared_corner': ([0., 0., 2., 2., 0.], [2., 2., 2., 2., 0.]),
    'corner_on_edge': ([0., 0., 2., 2., 0.], [1. + math.sqrt(0.5), 0., 1., 1., math.pi / 4]),
    'collinear_overlap': ([0., 0., 4., 2., 0.], [1., 0., 4., 2., 0.]),
    'collinear_edges_apart': ([0., 0., 2., 2., 0.], [5., 0., 2., 2., math.pi / 2]),
    'inside_touching': ([0., 0., 4., 4., 0.], [1., 0., 2., 1., 0.]),
    'inside_rotated': ([0., 0., 4., 4., 0.3], [0.2, -0.1, 1., 0.5, 1.1]),
    'equal_width_cross': ([0., 0., 6., 2., 0.], [0., 0., 6., 2., math.pi / 2]),
    'octagon': ([0., 0., 2., 2., 0.], [0., 0., 2., 2., math.pi / 4]),
    'sliver_crossing': ([0., 0., 4., 1e-3, 0.3], [0., 0., 2., 2., 0.]),
    'sliver_inside': ([0., 0., 1e-3, 1., 0.], [0.1, 0., 2., 2., 0.2]),
    'sliver_vs_sliver': ([0., 0., 2., 1e-3, 0.], [0., 0., 2., 1e-3, 1.]),
    'sliver_on_edge': ([0., 0., 2., 2., 0.], [1., 0., 1e-3, 1., 0.]),
    'point_inside': ([0., 0., 2., 2., 0.], [0.3, 0.2, 0., 0., 0.4]),
    'point_on_edge': ([0., 0., 2., 2., 0.], [1., 0.5, 0., 0., 0.]),
    'point_outside': ([0., 0., 2., 2., 0.], [3., 4., 0., 0., 1.]),
    'segment_crossing': ([0., 0., 2., 2., 0.], [0., 0., 4., 0., 0.5]),
    'two_points': ([0., 0., 0., 0., 0.], [3., 4., 0., 0., 0.]),
    'same_point': ([1., 1., 0., 0., 0.], [1., 1., 0., 0., 2.]),
    'tiny_box': ([0., 0., 1e-4, 1e-4, 0.], [0., 0., 1e-4, 1e-4, 0.5]),
}


@pytest.mark.parametrize('name', sorted(DEGENERATE))
@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
def test_degenerate_exact_and_finite_gradients(name, dtype):
    box1, box2 = DEGENERATE[name]
    base1 = torch.tensor([box1], dtype=torch.float64)
    base2 = torch.tensor([box2], dtype=torch.float64)
    # the configuration as written, swapped, and rotated / moved in several ways
    scenes = []
    for angle, shift in ((0., (0., 0.)), (math.pi / 2, (0., 0.)), (math.pi, (3., -1.)),
                         (0.7, (-2., 5.)), (-2.1, (10., 10.))):
        scenes.append((rotate_scene(base1, angle, shift), rotate_scene(base2, angle, shift)))
    b1 = torch.cat([s[0] for s in scenes] + [s[1] for s in scenes])
    b2 = torch.cat([s[1] for s in scenes] + [s[0] for s in scenes])
    b1, b2 = b1.to(dtype), b2.to(dtype)
    iou_ref, giou_ref = ref_bev(b1.double(), b2.double())
    p1, p2 = b1.clone().requires_grad_(), b2.clone().requires_grad_()
    iou, giou = bev_iou_giou(p1, p2)
    tol = 1e-9 if dtype == torch.float64 else 1e-4
    assert np.abs(iou.detach().double().numpy() - iou_ref).max() <= tol, (iou, iou_ref)
    assert np.abs(giou.detach().double().numpy() - giou_ref).max() <= tol, (giou, giou_ref)
    (1 - giou + iou).sum().backward()
    assert torch.isfinite(p1.grad).all() and torch.isfinite(p2.grad).all()


def test_degenerate_closed_forms():
    rows = [DEGENERATE[k] for k in ('shared_edge', 'shared_corner', 'collinear_overlap',
                                    'octagon', 'point_outside')]
    b1 = torch.tensor([r[0] for r in rows], dtype=torch.float64)
    b2 = torch.tensor([r[1] for r in rows], dtype=torch.float64)
    iou, giou = bev_iou_giou(b1, b2)
    octagon = 8 * (math.sqrt(2) - 1)  # two squares 45 deg apart: regular octagon, inradius 1
    expected_iou = [0., 0., 6 / 10, octagon / (8 - octagon), 0.]
    # hulls: 4 x 2 rectangle; 4 x 4 square less two corner triangles; 5 x 2 rectangle;
    # regular octagon of circumradius sqrt(2) (2 sqrt(2) R^2); quadrilateral
    # (-1, -1), (1, -1), (3, 4), (-1, 1) of shoelace area 9
    hulls = [8., 12., 10., 4 * math.sqrt(2), 9.]
    unions = [8., 8., 10., 8 - octagon, 4.]
    expected_giou = [i - (h - u) / h for i, h, u in zip(expected_iou, hulls, unions)]
    torch.testing.assert_close(iou, torch.tensor(expected_iou, dtype=torch.float64))
    torch.testing.assert_close(giou, torch.tensor(expected_giou, dtype=torch.float64))


def test_zero_size_pair_is_finite():
    b = torch.tensor([[1., 1., 0., 0., 0.]], dtype=torch.float64, requires_grad=True)
    iou, giou = bev_iou_giou(b, b.detach().clone())
    assert iou.item() == 0 and giou.item() == 0  # union and hull clamped by eps
    giou.sum().backward()
    assert torch.isfinite(b.grad).all()


def test_rotation_invariance(pairs_and_reference):
    b1, b2, _, _ = pairs_and_reference
    iou, giou = bev_iou_giou(b1, b2)
    for angle in (0.3, math.pi / 2, 2.5, -1.234):
        r_iou, r_giou = bev_iou_giou(rotate_scene(b1, angle), rotate_scene(b2, angle))
        assert (r_iou - iou).abs().max() <= 1e-9
        assert (r_giou - giou).abs().max() <= 1e-9


def test_disjoint_boxes_are_pulled_together():
    b1, b2 = random_pairs(500, seed=4)
    b1, b2 = b1[300:400], b2[300:400]  # the disjoint block
    p2 = b2.clone().requires_grad_()
    iou, giou = bev_iou_giou(b1, p2)
    assert (iou <= 1e-12).all()  # disjoint up to rounding
    (1 - giou).sum().backward()
    towards = b1[:, :2] - b2[:, :2]
    # descending the loss moves box 2's centre towards box 1
    assert ((-p2.grad[:, :2] * towards).sum(1) > 0).all()
    # and a few steps of gradient descent on the centre reduce the distance
    centre = b2[:, :2].clone().requires_grad_()
    opt = torch.optim.SGD([centre], lr=1.0)
    for _ in range(20):
        opt.zero_grad()
        (1 - bev_giou(b1, torch.cat((centre, b2[:, 2:]), 1))).sum().backward()
        opt.step()
    assert ((centre.detach() - b1[:, :2]).norm(dim=1) < towards.norm(dim=1)).all()


def test_gradcheck_bev_and_3d():
    b1, b2 = random_pairs(40, seed=5)
    keep = bev_iou(b1, b2) > 0  # intersecting pairs exercise every term
    b1 = torch.cat((b1[keep][:12], b1[~keep][:4]))
    b2 = torch.cat((b2[keep][:12], b2[~keep][:4]))
    p1, p2 = b1.clone().requires_grad_(), b2.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda x, y: bev_iou_giou(x, y), (p1, p2))
    z = torch.linspace(-1, 1, len(b1), dtype=torch.float64)[:, None]
    c1 = torch.cat((b1[:, :2], z, b1[:, 2:4], 1 + z.abs(), b1[:, 4:]), 1).requires_grad_()
    c2 = torch.cat((b2[:, :2], 0.5 * z, b2[:, 2:4], 2 - z.abs(), b2[:, 4:]), 1).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, y: box3d_iou_giou(x, y), (c1, c2))


def test_float32_gradients_match_float64_on_generic_pairs(pairs_and_reference):
    b1, b2, _, _ = pairs_and_reference
    b1, b2 = b1[:1000].float().double(), b2[:1000].float().double()
    grads = []
    for dtype in (torch.float64, torch.float32):
        p1 = b1.to(dtype).clone().requires_grad_()
        (1 - bev_giou(p1, b2.to(dtype))).sum().backward()
        grads.append(p1.grad.double())
    # scale of the gradient: 1 / box size; generic pairs are well conditioned
    err = (grads[0] - grads[1]).abs().max(1).values
    assert err.median() < 1e-5 and (err < 1e-3).float().mean() > 0.99


# ----------------------------------------------------------------------------- precision
@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_autocast_and_half_inputs_compute_in_float32(pairs_and_reference, dtype):
    from _loss_cases import cpu_autocast_supports
    if not cpu_autocast_supports(dtype):
        pytest.skip(f'torch {torch.__version__} has no CPU autocast to {dtype}')
    b1, b2, _, _ = pairs_and_reference
    b1, b2 = b1[:300].float(), b2[:300].float()
    iou32, giou32 = bev_iou_giou(b1, b2)
    with torch.autocast('cpu', dtype=dtype):
        p = b1.clone().requires_grad_()
        iou, giou = bev_iou_giou(p, b2)
    assert iou.dtype == torch.float32 and giou.dtype == torch.float32
    torch.testing.assert_close(giou, giou32)
    giou.sum().backward()
    assert torch.isfinite(p.grad).all()
    # half inputs: upcast, float32 result within the input rounding
    ph = b1.to(dtype).clone().requires_grad_()
    iou_h, giou_h = bev_iou_giou(ph, b2.to(dtype))
    assert giou_h.dtype == torch.float32 and torch.isfinite(giou_h).all()
    iou_ref, giou_ref = bev_iou_giou(b1.to(dtype).float(), b2.to(dtype).float())
    torch.testing.assert_close(giou_h, giou_ref)
    giou_h.sum().backward()
    assert ph.grad.dtype == dtype and torch.isfinite(ph.grad.float()).all()
    c1 = torch.cat((b1[:, :2], b1[:, :1] * 0, b1[:, 2:4], b1[:, 2:3], b1[:, 4:]), 1)
    with torch.autocast('cpu', dtype=dtype):
        iou3, giou3 = box3d_iou_giou(c1, c1.flip(0))
    assert iou3.dtype == torch.float32 and torch.isfinite(giou3).all()


def test_mixed_float_dtypes_promote():
    b1, b2 = random_pairs(10, seed=6)
    iou, _ = bev_iou_giou(b1.float(), b2)
    assert iou.dtype == torch.float64


# ----------------------------------------------------------------------------- robustness
def test_nan_and_inf_propagate():
    b1, b2 = random_pairs(6, seed=7)
    b1[1, 0] = float('nan')
    b2[2, 4] = float('nan')
    b1[3, 2] = float('inf')
    iou, giou = bev_iou_giou(b1, b2)
    bad = torch.tensor([False, True, True, True, False, False])
    assert torch.isnan(iou[bad]).all() and torch.isnan(giou[bad]).all()
    assert torch.isfinite(iou[~bad]).all() and torch.isfinite(giou[~bad]).all()


def test_empty_input():
    e = torch.zeros(0, 5, requires_grad=True)
    iou, giou = bev_iou_giou(e, torch.zeros(0, 5))
    assert iou.shape == (0,) and giou.shape == (0,)
    giou.sum().backward()
    assert e.grad.shape == (0, 5)
    iou3, giou3 = box3d_iou_giou(torch.zeros(0, 7), torch.zeros(0, 7))
    assert iou3.shape == (0,)


def test_huge_yaw_and_extreme_boxes_stay_finite_and_in_range():
    g = torch.Generator().manual_seed(8)
    n = 400
    b1 = torch.rand(n, 5, generator=g) * torch.tensor([200., 200., 50., 50., 1e5])
    b2 = b1[torch.randperm(n, generator=g)].clone()
    b2[::3] = b1[::3]
    b1[::7, 2:4] = 0
    b2[::5, 2] = 1e-6
    b1, b2 = b1.requires_grad_(), b2.requires_grad_()
    iou, giou = bev_iou_giou(b1, b2)
    assert torch.isfinite(iou).all() and torch.isfinite(giou).all()
    assert (iou >= -1e-6).all() and (iou <= 1 + 1e-5).all()
    assert (giou >= -1 - 1e-5).all() and (giou <= 1 + 1e-5).all()
    (giou + iou).sum().backward()
    assert torch.isfinite(b1.grad).all() and torch.isfinite(b2.grad).all()


@pytest.mark.parametrize('fn,width', [(bev_iou_giou, 5), (box3d_iou_giou, 7)])
def test_bad_shapes_raise(fn, width):
    good = torch.zeros(3, width)
    with pytest.raises(ValueError, match=r'boxes1.*\(3, 4\)'):
        fn(torch.zeros(3, 4), good)
    with pytest.raises(ValueError, match=r'boxes2.*\(3, 6\)'):
        fn(good, torch.zeros(3, 6))
    with pytest.raises(ValueError, match=r'boxes2.*\(%d,\)' % width):
        fn(good, torch.zeros(width))
    with pytest.raises(ValueError, match='same number'):
        fn(good, torch.zeros(2, width))
    with pytest.raises(TypeError, match='boxes1'):
        fn(good.tolist(), good)
    with pytest.raises(TypeError, match='floating'):
        fn(good.long(), good)


def test_corners_bad_shape_raises():
    with pytest.raises(ValueError, match=r'\(N, 5\).*\(2, 7\)'):
        bev_box_corners(torch.zeros(2, 7))


def test_analytic_backward_matches_autograd(pairs_and_reference):
    """The hand-written backward equals autograd through the forward's own operations."""
    from bev_losses.ops.rotated_iou import _bev_areas
    b1, b2, _, _ = pairs_and_reference
    g = torch.Generator().manual_seed(9)
    w = torch.rand(2, len(b1), generator=g, dtype=torch.float64)
    grads = []
    for analytic in (True, False):
        p1, p2 = b1.clone().requires_grad_(), b2.clone().requires_grad_()
        _, _, inter, hull = _bev_areas(p1, p2, analytic=analytic)
        (w[0] * inter + w[1] * hull).sum().backward()
        grads.append((inter.detach(), hull.detach(), p1.grad, p2.grad))
    for x, y in zip(*grads):
        torch.testing.assert_close(x, y, rtol=1e-9, atol=1e-9)


# ----------------------------------------------------------------------------- properties
hypothesis = pytest.importorskip('hypothesis')
st = hypothesis.strategies

_coord = st.one_of(st.sampled_from([0., 1e-3, -1., 2., 60.]), st.floats(-100, 100))
_size = st.one_of(st.sampled_from([0., 1e-3, 1., 4.]), st.floats(0, 20))
_yaw = st.one_of(st.sampled_from([0., math.pi / 2, -math.pi, 1e4]), st.floats(-1e4, 1e4))
_box = st.tuples(_coord, _coord, _size, _size, _yaw)


@st.composite
def _pair(draw):
    b1 = list(draw(_box))
    kind = draw(st.sampled_from(['free', 'identical', 'flipped', 'touching', 'inside']))
    if kind == 'free':
        b2 = list(draw(_box))
    elif kind == 'identical':
        b2 = list(b1)
    elif kind == 'flipped':
        b2 = b1[:4] + [b1[4] + math.pi]
    elif kind == 'touching':  # shares the edge at +dx/2 (same yaw, moved by dx along heading)
        b2 = [b1[0] + b1[2] * math.cos(b1[4]), b1[1] + b1[2] * math.sin(b1[4])] + b1[2:]
    else:
        b2 = b1[:2] + [0.5 * b1[2], 0.5 * b1[3], draw(_yaw)]
    return b1, b2


@hypothesis.settings(max_examples=60, deadline=None)
@hypothesis.given(st.lists(_pair(), min_size=1, max_size=8),
                  st.sampled_from([torch.float32, torch.float64]))
def test_property_finite_and_in_range(pairs, dtype):
    b1 = torch.tensor([p[0] for p in pairs], dtype=dtype, requires_grad=True)
    b2 = torch.tensor([p[1] for p in pairs], dtype=dtype, requires_grad=True)
    iou, giou = bev_iou_giou(b1, b2)
    assert torch.isfinite(iou).all() and torch.isfinite(giou).all()
    tol = 1e-4 if dtype == torch.float32 else 1e-9
    assert (iou >= 0).all() and (iou <= 1).all()  # exactly, also after rounding
    assert (giou >= -1 - tol).all() and (giou <= iou).all()
    (giou - iou).sum().backward()
    assert torch.isfinite(b1.grad).all() and torch.isfinite(b2.grad).all()
