"""GIoULoss: xyxy against mmdet 3.3's GIoULoss; bev / 3d against shapely and the xyxy path."""
import math

import pytest
import torch
from mmdet.models.losses import GIoULoss as MMDetGIoULoss
from mmdet.structures.bbox import bbox_overlaps

import bev_losses.ops.rotated_iou as rotated_iou
from bev_losses.losses.giou import GIoULoss, giou_loss

REDUCTIONS = ('none', 'mean', 'sum')
HAS_ROTATED = hasattr(rotated_iou, 'bev_iou_giou') and hasattr(rotated_iou, 'box3d_iou_giou')
needs_rotated = pytest.mark.skipif(not HAS_ROTATED,
                                   reason='bev_losses.ops.rotated_iou has no bev_iou_giou yet')


def _xyxy(n, g, dtype=torch.float32, spread=6.0):
    xy = torch.rand(n, 2, generator=g, dtype=dtype) * spread
    wh = torch.rand(n, 2, generator=g, dtype=dtype) * 3 + 0.05
    return torch.cat([xy, xy + wh], dim=1)


def _pairs(n=40, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return _xyxy(n, g, dtype), _xyxy(n, g, dtype), g


def _tied_pairs():
    """Pairs with shared coordinates (identical, shared edges, clipped to a border), nested,
    touching, disjoint and zero-size boxes: the min/max ties and clamp kinks of mmdet's graph."""
    pred = torch.tensor([[0., 0., 2., 2.], [0., 0., 2., 2.], [0., 0., 4., 3.], [1., 1., 2., 2.],
                         [0., 0., 1., 1.], [0., 0., 1., 1.], [0., 0., 2., 1.], [1., 1., 1., 1.],
                         [0., 0., 3., 3.], [-1., 0., 1., 5.]])
    target = torch.tensor([[0., 0., 2., 2.], [0., 1., 2., 3.], [0., 0., 2., 5.], [0., 0., 3., 3.],
                           [1., 0., 2., 1.], [5., 5., 6., 7.], [0., 2., 2., 3.], [1., 1., 1., 1.],
                           [1., 0., 3., 2.], [0., 0., 1., 2.]])
    return pred, target


# ----------------------------------------------------------------------------------- xyxy


@pytest.mark.parametrize('reduction', REDUCTIONS)
@pytest.mark.parametrize('weight_kind', [None, 'n', 'n4'])
@pytest.mark.parametrize('avg_factor', [None, 9.0])
def test_xyxy_equals_mmdet(reduction, weight_kind, avg_factor):
    pred, target, g = _pairs(seed=1)
    weight = {None: None, 'n': torch.rand(40, generator=g),
              'n4': torch.rand(40, 4, generator=g)}[weight_kind]
    ours_mod = GIoULoss(reduction='mean', loss_weight=1.5)
    mm_mod = MMDetGIoULoss(reduction='mean', loss_weight=1.5)
    p1 = pred.clone().requires_grad_()
    p2 = pred.clone().requires_grad_()
    if reduction == 'sum' and avg_factor is not None:
        with pytest.raises(ValueError, match='avg_factor'):
            ours_mod(p1, target, weight, avg_factor=avg_factor, reduction_override=reduction)
        return
    ours = ours_mod(p1, target, weight, avg_factor=avg_factor, reduction_override=reduction)
    ref = mm_mod(p2, target, weight, avg_factor=avg_factor, reduction_override=reduction)
    torch.testing.assert_close(ours, ref)
    # a non-uniform upstream gradient, so that every pair's Jacobian is checked
    up = torch.rand(ours.shape, generator=g) if ours.dim() else torch.tensor(1.0)
    (ours * up).sum().backward()
    (ref * up).sum().backward()
    torch.testing.assert_close(p1.grad, p2.grad)


def test_xyxy_gradients_equal_mmdet_for_both_inputs_and_on_ties():
    pred, target = _tied_pairs()
    rnd_p, rnd_t, g = _pairs(n=30, seed=2)
    pred = torch.cat([pred, rnd_p])
    target = torch.cat([target, rnd_t])
    up = torch.rand(len(pred), generator=g)
    grads = []
    for mod in (GIoULoss(reduction='none'), MMDetGIoULoss(reduction='none')):
        p = pred.clone().requires_grad_()
        t = target.clone().requires_grad_()
        loss = mod(p, t)
        (loss * up).sum().backward()
        grads.append((loss.detach(), p.grad, t.grad))
    for ours, ref in zip(*grads):
        torch.testing.assert_close(ours, ref)


def test_xyxy_closed_form():
    # identical -> 0; disjoint unit squares 1 apart -> IoU 0, hull 3x1, union 2 -> 1 + 1/3;
    # nested 1x1 in 2x2 -> IoU 1/4, hull = union -> 3/4
    pred = torch.tensor([[0., 0., 1., 1.], [0., 0., 1., 1.], [0., 0., 1., 1.]])
    target = torch.tensor([[0., 0., 1., 1.], [2., 0., 3., 1.], [0., 0., 2., 2.]])
    out = giou_loss(pred, target, reduction='none')
    torch.testing.assert_close(out, torch.tensor([0.0, 1 + 1 / 3, 0.75]))


def test_xyxy_disjoint_boxes_are_pulled_together():
    pred = torch.tensor([[0., 0., 1., 1.]], requires_grad=True)
    target = torch.tensor([[3., 0., 4., 1.]])
    GIoULoss()(pred, target).backward()
    # translating the box to the right (d/dx1 + d/dx2) lowers the loss
    assert pred.grad[0, 0] + pred.grad[0, 2] < 0


def test_xyxy_gradcheck_float64():
    pred, target, g = _pairs(n=8, seed=3, dtype=torch.float64)
    pred.requires_grad_()
    target.requires_grad_()
    weight = torch.rand(8, generator=g, dtype=torch.float64)
    mod = GIoULoss()
    assert torch.autograd.gradcheck(lambda p, t: mod(p, t, weight, avg_factor=3.0),
                                    (pred, target))
    assert torch.autograd.gradcheck(lambda p: mod(p, target.detach(), reduction_override='none'),
                                    (pred,))


def test_xyxy_no_grad_path_equals_grad_path():
    pred, target, _ = _pairs(seed=4)
    with torch.no_grad():
        a = giou_loss(pred.clone().requires_grad_(), target, reduction='none')
    b = giou_loss(pred.clone().requires_grad_(), target, reduction='none')
    assert torch.equal(a, b.detach())


def test_xyxy_retain_graph_backward_twice():
    pred, target, _ = _pairs(seed=5)
    p = pred.clone().requires_grad_()
    loss = GIoULoss()(p, target)
    loss.backward(retain_graph=True)
    first = p.grad.clone()
    loss.backward()
    torch.testing.assert_close(p.grad, 2 * first)


def test_module_equals_function():
    pred, target, g = _pairs(seed=6)
    w = torch.rand(40, generator=g)
    for reduction in REDUCTIONS:
        torch.testing.assert_close(GIoULoss(reduction=reduction, loss_weight=3.0)(pred, target, w),
                                   3.0 * giou_loss(pred, target, w, reduction=reduction))


def test_all_zero_weight_gives_zero_with_graph_like_mmdet():
    pred, target, _ = _pairs(seed=7)
    p = pred.clone().requires_grad_()
    out = GIoULoss()(p, target, torch.zeros(40))
    assert out.item() == MMDetGIoULoss()(pred, target, torch.zeros(40)).item() == 0.0
    out.backward()
    assert torch.equal(p.grad, torch.zeros_like(pred))


def test_empty_gives_zero_with_graph():
    for fmt, w in (('xyxy', 4), ('bev', 5), ('3d', 7)):
        if fmt != 'xyxy' and not HAS_ROTATED:
            continue
        for reduction in ('mean', 'sum'):
            pred = torch.zeros(0, w, requires_grad=True)
            out = GIoULoss(fmt, reduction=reduction)(pred, torch.zeros(0, w))
            assert out.item() == 0.0 and out.requires_grad
            out.backward()
            assert pred.grad.shape == (0, w)


def test_loss_range_and_finite_on_degenerate_boxes():
    pred, target = _tied_pairs()
    p = pred.clone().requires_grad_()
    loss = giou_loss(p, target, reduction='none')
    assert torch.isfinite(loss).all() and (loss >= 0).all() and (loss <= 2).all()
    loss.sum().backward()
    assert torch.isfinite(p.grad).all()


def test_half_input_computes_in_float32():
    pred, target, _ = _pairs(seed=8)
    ref = GIoULoss()(pred, target)
    for dtype in (torch.float16, torch.bfloat16):
        out = GIoULoss()(pred.to(dtype), target.to(dtype))
        assert out.dtype == torch.float32
        assert abs(out.item() - ref.item()) <= 2e-2


def test_bf16_autocast_computes_in_float32():
    pred, target, _ = _pairs(seed=9)
    lin = torch.nn.Linear(4, 4)
    with torch.no_grad():
        lin.weight.copy_(torch.eye(4))
        lin.bias.zero_()
    ref = GIoULoss()(lin(pred), target)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        x = lin(pred)
        assert x.dtype == torch.bfloat16
        out = GIoULoss()(x, target)
    assert out.dtype == torch.float32
    assert abs(out.item() - ref.item()) <= 2e-2
    out.backward()
    assert torch.isfinite(lin.weight.grad).all()


@pytest.mark.parametrize('reduction', REDUCTIONS)
def test_nan_in_pred_propagates(reduction):
    pred, target, _ = _pairs(seed=10)
    for col in range(4):
        p = pred.clone()
        p[3, col] = float('nan')
        out = giou_loss(p, target, reduction=reduction)
        assert torch.isnan(out).any()
        if reduction == 'none':
            assert torch.isnan(out[3]) and torch.isfinite(out[:3]).all()


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match='box_format'):
        GIoULoss(box_format='xywh')
    with pytest.raises(ValueError, match='eps'):
        GIoULoss(eps=0)
    with pytest.raises(ValueError, match='reduction'):
        GIoULoss(reduction='avg')
    mod = GIoULoss()
    with pytest.raises(ValueError, match=r"'xyxy'.*\(3, 5\)"):
        mod(torch.zeros(3, 5), torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"'bev'.*\(3, 4\)"):
        GIoULoss('bev')(torch.zeros(3, 4), torch.zeros(3, 4))
    with pytest.raises(ValueError, match=r"'3d'.*\(3, 5\)"):
        GIoULoss('3d')(torch.zeros(3, 5), torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r'\(3, 4\).*\(2, 4\)'):
        mod(torch.zeros(3, 4), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r'\(4,\)'):
        mod(torch.zeros(4), torch.zeros(4))
    with pytest.raises(TypeError, match='pred'):
        mod([[0., 0., 1., 1.]], torch.zeros(1, 4))
    with pytest.raises(TypeError, match='floating'):
        mod(torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 4))
    with pytest.raises(ValueError, match='weight'):
        mod(torch.zeros(3, 4), torch.ones(3, 4), torch.ones(5))
    with pytest.raises(ValueError, match='reduction_override'):
        mod(torch.zeros(3, 4), torch.ones(3, 4), reduction_override='batchmean')


def test_registry_build_from_mmdet3d_scope():
    from mmengine.registry import DefaultScope

    import mmdet3d.registry
    if not DefaultScope.check_instance_created('test-giou-mmdet3d'):
        DefaultScope.get_instance('test-giou-mmdet3d', scope_name='mmdet3d')
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        loss = mmdet3d.registry.MODELS.build(
            dict(type='bev_losses.GIoULoss', box_format='bev', loss_weight=2.0))
    assert type(loss) is GIoULoss
    assert loss.box_format == 'bev' and loss.loss_weight == 2.0 and loss.eps == 1e-6


# ------------------------------------------------------------------------- bev / 3d


def _shapely_giou_loss(b1, b2):
    """``1 - GIoU`` of two BEV boxes (x, y, dx, dy, yaw), hull = convex hull of both."""
    from shapely.geometry import MultiPoint, Polygon

    def poly(b):
        x, y, dx, dy, yaw = (float(v) for v in b)
        c, s = math.cos(yaw), math.sin(yaw)
        pts = [(x + c * u - s * v, y + s * u + c * v)
               for u, v in ((dx / 2, dy / 2), (-dx / 2, dy / 2), (-dx / 2, -dy / 2),
                            (dx / 2, -dy / 2))]
        return Polygon(pts)

    p1, p2 = poly(b1), poly(b2)
    inter = p1.intersection(p2).area
    union = p1.area + p2.area - inter
    hull = MultiPoint(list(p1.exterior.coords) + list(p2.exterior.coords)).convex_hull.area
    return 1 - (inter / union - (hull - union) / hull)


def _bev_boxes(n, g, dtype=torch.float64):
    xy = torch.rand(n, 2, generator=g, dtype=dtype) * 4
    d = torch.rand(n, 2, generator=g, dtype=dtype) * 3 + 0.3
    yaw = (torch.rand(n, 1, generator=g, dtype=dtype) - 0.5) * 2 * math.pi
    return torch.cat([xy, d, yaw], dim=1)


@needs_rotated
def test_bev_against_shapely():
    pytest.importorskip('shapely')
    g = torch.Generator().manual_seed(11)
    b1, b2 = _bev_boxes(24, g), _bev_boxes(24, g)
    ours = giou_loss(b1, b2, reduction='none', box_format='bev')
    ref = torch.tensor([_shapely_giou_loss(a, b) for a, b in zip(b1, b2)], dtype=torch.float64)
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)


@needs_rotated
def test_bev_identical_and_flipped_boxes_give_zero():
    g = torch.Generator().manual_seed(12)
    b = _bev_boxes(6, g)
    flipped = b.clone()
    flipped[:, 4] += math.pi
    out = GIoULoss('bev', reduction='none')(torch.cat([b, b]), torch.cat([b, flipped]))
    torch.testing.assert_close(out, torch.zeros(12, dtype=torch.float64), atol=1e-6, rtol=0)


@needs_rotated
def test_bev_with_zero_yaw_equals_xyxy_where_the_hulls_agree():
    """With yaw 0 the intersection is the xyxy one; the convex hull of two axis-aligned boxes
    is their axis-aligned hull when they share their y-range (or x-range), so there the BEV
    loss must equal mmdet's xyxy loss (overlapping, touching and disjoint pairs)."""
    g = torch.Generator().manual_seed(13)
    a, b = _xyxy(30, g, torch.float64), _xyxy(30, g, torch.float64)
    b[:15, 1::2] = a[:15, 1::2]  # same y-range
    b[15:, 0::2] = a[15:, 0::2]  # same x-range
    b[::4, 0::2] += 8 * (b[::4, 0::2] != a[::4, 0::2])  # some far apart
    b[1, 0::2] = a[1, 2] + torch.tensor([0.0, 1.0], dtype=torch.float64)  # touching

    def to_bev(x):
        c = (x[:, :2] + x[:, 2:]) / 2
        d = x[:, 2:] - x[:, :2]
        return torch.cat([c, d, torch.zeros(len(x), 1, dtype=x.dtype)], dim=1)

    ours = giou_loss(to_bev(a), to_bev(b), reduction='none', box_format='bev')
    ref = 1 - bbox_overlaps(a, b, mode='giou', is_aligned=True)
    assert (ref > 1).sum() >= 5  # disjoint pairs are really exercised
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)


@needs_rotated
def test_3d_against_bev_and_height_closed_form():
    g = torch.Generator().manual_seed(14)
    b1, b2 = _bev_boxes(10, g), _bev_boxes(10, g)
    # same height interval: IoU3d = IoU_bev and enclosing volume = hull area * height, so the
    # 3D loss equals the BEV loss
    z = torch.rand(10, 1, generator=g, dtype=torch.float64)
    dz = torch.rand(10, 1, generator=g, dtype=torch.float64) + 0.5

    def to3d(b, z, dz):
        return torch.cat([b[:, :2], z, b[:, 2:4], dz, b[:, 4:]], dim=1)

    torch.testing.assert_close(
        giou_loss(to3d(b1, z, dz), to3d(b2, z, dz), reduction='none', box_format='3d'),
        giou_loss(b1, b2, reduction='none', box_format='bev'), atol=1e-6, rtol=0)
    # identical BEV footprint, disjoint heights [0, 1] and [2, 3]: IoU 0, enclosing 3 units of
    # height over a union of 2 -> 1 + 1/3
    one = torch.ones(10, 1, dtype=torch.float64)
    out = giou_loss(to3d(b1, 0 * one, one), to3d(b1, 2 * one, one), reduction='none',
                    box_format='3d')
    torch.testing.assert_close(out, torch.full((10,), 1 + 1 / 3, dtype=torch.float64),
                               atol=1e-6, rtol=0)


@needs_rotated
@pytest.mark.parametrize('fmt,width', [('bev', 5), ('3d', 7)])
def test_rotated_weight_reduction_half_and_gradients(fmt, width):
    g = torch.Generator().manual_seed(15)
    b1 = _bev_boxes(12, g, torch.float32)
    b2 = _bev_boxes(12, g, torch.float32)
    if fmt == '3d':
        zs = torch.rand(12, 2, generator=g) + torch.tensor([0.0, 0.5])
        b1 = torch.cat([b1[:, :2], zs[:, :1], b1[:, 2:4], zs[:, 1:], b1[:, 4:]], dim=1)
        b2 = torch.cat([b2[:, :2], zs[:, :1] + 0.2, b2[:, 2:4], zs[:, 1:], b2[:, 4:]], dim=1)
    elem = giou_loss(b1, b2, reduction='none', box_format=fmt)
    assert elem.shape == (12,) and ((elem >= 0) & (elem <= 2)).all()
    w = torch.rand(12, width, generator=g)
    torch.testing.assert_close(GIoULoss(fmt)(b1, b2, w, avg_factor=4.0),
                               (elem * w.mean(-1)).sum() / (4.0 + torch.finfo(torch.float32).eps))
    out = GIoULoss(fmt)(b1.half(), b2.half())
    assert out.dtype == torch.float32 and abs(out.item() - elem.mean().item()) <= 2e-2
    p = b1.clone().requires_grad_()
    GIoULoss(fmt)(p, b2).backward()
    assert torch.isfinite(p.grad).all()
