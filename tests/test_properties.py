"""Property-based tests (hypothesis) for every loss: finite values, finite gradients, GIoU range.

For random shapes (including empty ones), logits up to +-1e4, probabilities exactly 0 and 1
(for probability inputs), every reduction, with and without ``weight`` / ``avg_factor``:

* the loss is finite and its gradient with respect to every floating input is finite;
* an empty input gives 0 that is still connected to the graph;
* GIoU losses, for random and degenerate boxes (zero size, identical, touching, contained,
  slivers, far apart at 1e4 m, flipped by pi, huge yaw up to 1e3 rad) in every box format,
  lie in ``[0, 2]`` (up to float rounding), and are ~0 for identical boxes of positive size;
* the exposed rotated geometry gives IoU in ``[0, 1]``, GIoU in ``[-1, IoU]``, symmetric.

Budgets are small and ``derandomize=True`` makes every run (and CI) see the same examples;
``BEV_LOSSES_DEEP=2000 pytest tests/test_properties.py`` searches deeper, at random.
"""
import math
import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bev_losses.losses as L
from bev_losses.ops.rotated_iou import bev_iou_giou, box3d_iou_giou

# CI: small fixed budgets, derandomized. BEV_LOSSES_DEEP=<n> runs n random examples per test
# (a deeper local search for counterexamples; not reproducible run to run).
_DEEP = int(os.environ.get('BEV_LOSSES_DEEP', '0'))
SETTINGS = settings(max_examples=_DEEP or 60, deadline=None, derandomize=not _DEEP,
                    database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])
SMALL = settings(SETTINGS, max_examples=_DEEP or 40)

DTYPES = st.sampled_from([torch.float32, torch.float64])
LOGIT = st.floats(-1e4, 1e4, allow_nan=False, width=32)
PROB = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0, width=32))
LOGPROB = st.floats(-1e4, 0.0, allow_nan=False, width=32)
REDUCTION = st.sampled_from(['none', 'mean', 'sum'])


def _arr(draw, shape, elements):
    return draw(hnp.arrays(np.float32, shape, elements=elements))


def _t(a, dtype, grad=False):
    return torch.from_numpy(np.asarray(a, dtype=np.float64)).to(dtype).requires_grad_(grad)


@st.composite
def reduce_args(draw, loss_shape):
    """``(reduction, weight, avg_factor)``: weight >= 0 of the loss's shape, avg_factor > 0."""
    reduction = draw(REDUCTION)
    weight = None
    if draw(st.booleans()):
        weight = torch.from_numpy(_arr(draw, loss_shape, st.floats(0.0, 10.0, width=32)))
    avg_factor = None
    if reduction != 'sum' and draw(st.booleans()):
        avg_factor = draw(st.floats(0.5, 1e3))
    return reduction, weight, avg_factor


def check_finite(call, inputs, data, empty_zero=True):
    """``call(**reduce_kwargs)`` on ``inputs`` (tensors requiring grad): the loss and the
    gradient of its sum are finite; an empty loss reduces to a 0 that keeps the graph."""
    shape = call(reduction_override='none').shape
    reduction, weight, avg_factor = data.draw(reduce_args(tuple(shape)), label='reduce')
    out = call(weight=weight, avg_factor=avg_factor, reduction_override=reduction)
    assert torch.isfinite(out).all(), f'non-finite loss {out}'
    out.sum().backward()
    for x in inputs:
        assert x.grad is not None, 'the loss is not connected to an input'
        assert torch.isfinite(x.grad).all(), f'non-finite gradient {x.grad}'
    if empty_zero and shape.numel() == 0 and reduction != 'none':
        assert out.item() == 0 and out.requires_grad
    return out


# ===================================================================== classification losses
@st.composite
def cls_shape(draw, spatial=True):
    n = draw(st.integers(0, 5))
    c = draw(st.integers(1, 5))
    rest = (draw(st.integers(0, 3)),) if spatial and draw(st.booleans()) else ()
    return n, c, rest


@SETTINGS
@given(data=st.data(), dtype=DTYPES)
def test_cross_entropy_softmax(data, dtype):
    n, c, rest = data.draw(cls_shape())
    pred = _t(_arr(data.draw, (n, c) + rest, LOGIT), dtype, grad=True)
    if data.draw(st.booleans(), label='index target'):
        target = torch.from_numpy(_arr(data.draw, (n,) + rest, st.sampled_from(
            list(range(c)) + [-100]))).long()
    else:
        target = _t(_arr(data.draw, (n, c) + rest, PROB), dtype)
    cw = data.draw(st.none() | st.lists(st.floats(0.01, 10.0), min_size=c, max_size=c))
    smooth = data.draw(st.sampled_from([0.0, 0.1, 1.0]))
    loss = L.CrossEntropyLoss(class_weight=cw, label_smoothing=smooth)
    check_finite(lambda **kw: loss(pred, target, **kw), [pred], data)


@SETTINGS
@given(data=st.data(), dtype=DTYPES)
def test_cross_entropy_sigmoid(data, dtype):
    n, c, _ = data.draw(cls_shape(spatial=False))
    pred = _t(_arr(data.draw, (n, c), LOGIT), dtype, grad=True)
    if data.draw(st.booleans(), label='label target'):
        target = torch.from_numpy(_arr(data.draw, (n,), st.sampled_from(
            list(range(c + 1)) + [-100]))).long()
    else:
        target = _t(_arr(data.draw, (n, c), PROB), dtype)
    cw = data.draw(st.none() | st.lists(st.floats(0.01, 10.0), min_size=c, max_size=c))
    loss = L.CrossEntropyLoss(use_sigmoid=True, class_weight=cw,
                              avg_non_ignore=data.draw(st.booleans()))
    check_finite(lambda **kw: loss(pred, target, **kw), [pred], data)


GAMMA = st.one_of(st.sampled_from([0.0, 0.5, 1.0, 2.0, 4.0]), st.floats(0.0, 5.0))


@SETTINGS
@given(data=st.data(), dtype=DTYPES)
def test_focal_sigmoid(data, dtype):
    n, c, _ = data.draw(cls_shape(spatial=False))
    activated = data.draw(st.booleans(), label='activated')
    pred = _t(_arr(data.draw, (n, c), PROB if activated else LOGIT), dtype, grad=True)
    if data.draw(st.booleans(), label='label target'):
        target = torch.from_numpy(_arr(data.draw, (n,), st.integers(0, c))).long()
    else:
        target = _t(_arr(data.draw, (n, c), PROB), dtype)
    cw = data.draw(st.none() | st.lists(st.floats(0.01, 10.0), min_size=c, max_size=c))
    gamma = data.draw(GAMMA)
    loss = L.FocalLoss(gamma=gamma, alpha=data.draw(st.floats(0.0, 1.0)),
                       activated=activated, class_weight=cw)
    check_finite(lambda **kw: loss(pred, target, **kw), [pred], data)


@SETTINGS
@given(data=st.data(), dtype=DTYPES)
def test_focal_sigmoid_ignore_index(data, dtype):
    n, c, _ = data.draw(cls_shape(spatial=False))
    pred = _t(_arr(data.draw, (n, c), LOGIT), dtype, grad=True)
    target = torch.from_numpy(_arr(data.draw, (n,), st.integers(-1, c))).long()
    loss = L.FocalLoss(gamma=data.draw(GAMMA), ignore_index=-1)
    check_finite(lambda **kw: loss(pred, target, **kw), [pred], data)


@SETTINGS
@given(data=st.data(), dtype=DTYPES)
def test_focal_softmax(data, dtype):
    n, c, rest = data.draw(cls_shape())
    pred = _t(_arr(data.draw, (n, c) + rest, LOGIT), dtype, grad=True)
    if data.draw(st.booleans(), label='index target'):
        target = torch.from_numpy(_arr(data.draw, (n,) + rest, st.sampled_from(
            list(range(c)) + [-100]))).long()
    else:
        target = _t(_arr(data.draw, (n, c) + rest, PROB), dtype)
    cw = data.draw(st.none() | st.lists(st.floats(0.01, 10.0), min_size=c, max_size=c))
    loss = L.FocalLoss(use_sigmoid=False, gamma=data.draw(GAMMA),
                       class_weight=cw)
    check_finite(lambda **kw: loss(pred, target, **kw), [pred], data)


@st.composite
def heatmap_shape(draw):
    return tuple(draw(st.lists(st.integers(0, 4), min_size=1, max_size=4)))


@SETTINGS
@given(data=st.data(), dtype=DTYPES)
def test_gaussian_focal(data, dtype):
    shape = data.draw(heatmap_shape())
    activated = data.draw(st.booleans(), label='activated')
    pred = _t(_arr(data.draw, shape, PROB if activated else LOGIT), dtype, grad=True)
    target = _t(_arr(data.draw, shape, PROB), dtype)
    loss = L.GaussianFocalLoss(alpha=data.draw(st.sampled_from([0.0, 1.0, 2.0, 2.5])),
                               gamma=data.draw(st.sampled_from([0.0, 1.0, 4.0, 3.5])),
                               pos_weight=data.draw(st.floats(0.0, 5.0)),
                               neg_weight=data.draw(st.floats(0.0, 5.0)),
                               activated=activated)
    check_finite(lambda **kw: loss(pred, target, **kw), [pred], data)


@SMALL
@given(data=st.data(), dtype=DTYPES)
def test_gaussian_focal_target_requires_grad(data, dtype):
    """The plain-autograd path (target needing a gradient) is finite for both inputs too."""
    shape = data.draw(heatmap_shape())
    activated = data.draw(st.booleans(), label='activated')
    pred = _t(_arr(data.draw, shape, PROB if activated else LOGIT), dtype, grad=True)
    target = _t(_arr(data.draw, shape, PROB), dtype, grad=True)
    loss = L.GaussianFocalLoss(activated=activated)
    check_finite(lambda **kw: loss(pred, target, **kw), [pred, target], data)


@SMALL
@given(data=st.data(), dtype=DTYPES)
def test_gaussian_focal_pos_inds(data, dtype):
    n, c, _ = data.draw(cls_shape(spatial=False))
    activated = data.draw(st.booleans(), label='activated')
    pred = _t(_arr(data.draw, (n, c), PROB if activated else LOGIT), dtype, grad=True)
    target = _t(_arr(data.draw, (n, c), PROB), dtype)
    m = data.draw(st.integers(0, 4)) if n > 0 else 0
    pos_inds = torch.tensor(data.draw(st.lists(st.integers(0, max(n - 1, 0)), min_size=m,
                                               max_size=m)), dtype=torch.long)
    pos_labels = torch.tensor(data.draw(st.lists(st.integers(0, c - 1), min_size=m,
                                                 max_size=m)), dtype=torch.long)
    loss = L.GaussianFocalLoss(activated=activated)
    check_finite(lambda **kw: loss(pred, target, pos_inds=pos_inds, pos_labels=pos_labels,
                                   **kw), [pred], data)


@SETTINGS
@given(data=st.data(), dtype=DTYPES)
def test_kl_div(data, dtype):
    shape = data.draw(heatmap_shape())
    mode = data.draw(st.sampled_from(['prob', 'log_target', 'from_logits']))
    if mode == 'from_logits':
        shape = (shape[0], max(1, data.draw(st.integers(1, 4)))) + shape[1:]
        pred = _t(_arr(data.draw, shape, LOGIT), dtype, grad=True)
        target = _t(_arr(data.draw, shape, LOGIT), dtype)
        loss = L.KLDivLoss(from_logits=True, temperature=data.draw(st.floats(0.1, 10.0)))
    else:
        pred = _t(_arr(data.draw, shape, LOGPROB), dtype, grad=True)
        target = _t(_arr(data.draw, shape, LOGPROB if mode == 'log_target' else PROB), dtype)
        loss = L.KLDivLoss(log_target=mode == 'log_target')
    out = check_finite(lambda **kw: loss(pred, target, **kw), [pred], data)
    if pred.numel():
        assert torch.isfinite(loss(pred, target, reduction_override='batchmean'))


@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum', 'batchmean'])
def test_kl_div_log_target_zero_probability(reduction):
    """A zero probability given as a log-target (-inf) contributes 0, not NaN (torch: NaN)."""
    pred = torch.log_softmax(torch.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]]), 1)
    pred.requires_grad_()
    target = torch.log(torch.tensor([[0.0, 0.25, 0.75], [0.5, 0.5, 0.0]]))  # -inf at zeros
    out = L.KLDivLoss(log_target=True)(pred, target, reduction_override=reduction)
    assert torch.isfinite(out).all(), out
    out.sum().backward()
    assert torch.isfinite(pred.grad).all(), pred.grad


def _focal_grad(loss, pred, target):
    pred = torch.tensor(pred, requires_grad=True)
    out = loss(pred, target, reduction_override='sum')
    out.backward()
    return out, pred.grad


# gamma in (0, 1): (1 - p_t)**gamma has an infinite slope at p_t = 1, where the cross-entropy
# is 0: the gradient must be 0, not inf * 0 = NaN, in every form of the focal loss.
@pytest.mark.parametrize('target', [torch.tensor([2]), torch.tensor([[0.0, 1.0]])],
                         ids=['labels', 'soft'])
def test_focal_fractional_gamma_activated(target):
    out, grad = _focal_grad(L.FocalLoss(activated=True, gamma=0.5), [[0.0, 1.0]], target)
    assert torch.isfinite(out) and torch.isfinite(grad).all(), grad


@pytest.mark.parametrize('pred,target', [
    ([[-1e4, 1e4]], torch.tensor([1])), ([[0.0]], torch.tensor([0])),
    ([[-1e4, 1e4]], torch.tensor([[0.0, 1.0]]))], ids=['index', 'one-class', 'prob'])
def test_focal_fractional_gamma_softmax(pred, target):
    out, grad = _focal_grad(L.FocalLoss(use_sigmoid=False, gamma=0.5), pred, target)
    assert torch.isfinite(out) and torch.isfinite(grad).all(), grad


def test_focal_fractional_gamma_sigmoid_logits():
    for target in (torch.tensor([1]), torch.tensor([[0.0, 1.0]])):
        out, grad = _focal_grad(L.FocalLoss(gamma=0.5), [[-1e4, 1e4]], target)
        assert torch.isfinite(out) and torch.isfinite(grad).all(), grad


# ========================================================================= regression losses
@SETTINGS
@given(data=st.data(), dtype=DTYPES,
       kind=st.sampled_from(['l1', 'mse', 'smooth_l1']))
def test_regression(data, dtype, kind):
    shape = tuple(data.draw(st.lists(st.integers(0, 4), min_size=0, max_size=3)))
    pred = _t(_arr(data.draw, shape, LOGIT), dtype, grad=True)
    target = _t(_arr(data.draw, shape, LOGIT), dtype)
    if kind == 'smooth_l1':
        beta = data.draw(st.one_of(st.just(0.0), st.floats(1e-6, 10.0)))
        loss = L.SmoothL1Loss(beta=beta)
    else:
        loss = {'l1': L.L1Loss, 'mse': L.MSELoss}[kind]()
    check_finite(lambda **kw: loss(pred, target, **kw), [pred], data)


# ====================================================================================== GIoU
MODES = ['random', 'identical', 'zero_size', 'touching_edge', 'touching_corner', 'contained',
         'sliver', 'far', 'flipped', 'huge_yaw', 'swapped_sizes']
SIZE = st.one_of(st.sampled_from([0.0, 1e-20, 1e-6, 1e-3, 1.0]), st.floats(0.0, 10.0))
COORD = st.floats(-50.0, 50.0)
YAW = st.floats(-math.pi, math.pi)


@st.composite
def bev_row(draw):
    """One pair of BEV boxes ``(x, y, dx, dy, yaw)`` (python floats) built by a named mode."""
    mode = draw(st.sampled_from(MODES))
    b1 = [draw(COORD), draw(COORD), draw(SIZE), draw(SIZE), draw(YAW)]
    x, y, dx, dy, yaw = b1
    c, s = math.cos(yaw), math.sin(yaw)
    if mode == 'random':
        b2 = [x + draw(st.floats(-10, 10)), y + draw(st.floats(-10, 10)), draw(SIZE),
              draw(SIZE), draw(YAW)]
    elif mode == 'identical':
        b2 = list(b1)
    elif mode == 'zero_size':
        which = draw(st.sampled_from(['dx', 'dy', 'both', 'both_boxes']))
        b1[2] = 0.0 if which in ('dx', 'both', 'both_boxes') else dx
        b1[3] = 0.0 if which in ('dy', 'both', 'both_boxes') else dy
        b2 = [x + draw(st.floats(-2, 2)), y + draw(st.floats(-2, 2)), draw(SIZE), draw(SIZE),
              draw(YAW)]
        if which == 'both_boxes':
            b2[2:4] = [0.0, 0.0]
    elif mode == 'touching_edge':  # the next box along the heading: one shared edge
        b2 = [x + dx * c, y + dx * s, dx, dy, yaw]
    elif mode == 'touching_corner':
        b2 = [x + dx * c - dy * s, y + dx * s + dy * c, dx, dy,
              yaw + draw(st.sampled_from([0.0, math.pi / 2]))]
    elif mode == 'contained':
        f = draw(st.floats(0.0, 1.0))
        b2 = [x, y, dx * f, dy * f, yaw]
    elif mode == 'sliver':
        b1[3] = 1e-3
        b2 = [x + draw(st.floats(-1, 1)), y + draw(st.floats(-1, 1)), draw(SIZE), 1e-3,
              draw(YAW)]
    elif mode == 'far':
        b2 = [x + draw(st.sampled_from([1e4, -1e4, 0.0])), y + draw(st.sampled_from([1e4, -1e4])),
              draw(SIZE), draw(SIZE), draw(YAW)]
    elif mode == 'flipped':
        b2 = [x, y, dx, dy, yaw + math.pi]
    elif mode == 'huge_yaw':
        b1[4] = draw(st.sampled_from([1e3, -1e3]) | st.floats(-1e3, 1e3))
        b2 = [x + draw(st.floats(-3, 3)), y + draw(st.floats(-3, 3)), draw(SIZE), draw(SIZE),
              draw(st.sampled_from([1e3, -1e3]) | st.floats(-1e3, 1e3))]
    else:  # 'swapped_sizes': the same box described with dx/dy swapped and yaw + pi/2
        b2 = [x, y, dy, dx, yaw + math.pi / 2]
    if draw(st.booleans()):
        b1, b2 = b2, b1
    return mode, b1, b2


# Heights: exactly 0, thin (down to 1e-6 m, regression cases of a float32 rounding bug where
# identical thin boxes got a loss below 0) and ordinary.
HEIGHT = st.one_of(st.sampled_from([0.0, 1e-6, 1e-5, 1e-2, 1.0]), st.floats(0.0, 10.0))


@st.composite
def z_row(draw, mode):
    """``(z, dz)`` of both boxes: random, identical, stacked (touching), or 1e4 apart."""
    SIZE = HEIGHT  # noqa: N806 (heights, not BEV sizes)
    z1, dz1 = draw(st.floats(-5, 5)), draw(SIZE)
    zmode = 'identical' if mode in ('identical', 'flipped', 'swapped_sizes') else draw(
        st.sampled_from(['random', 'identical', 'stacked', 'far']))
    if zmode == 'identical':
        return (z1, dz1), (z1, dz1)
    if zmode == 'stacked':
        return (z1, dz1), (z1 + dz1, draw(SIZE))
    if zmode == 'far':
        return (z1, dz1), (z1 + 1e4, draw(SIZE))
    return (z1, dz1), (draw(st.floats(-5, 5)), draw(SIZE))


@st.composite
def box_pairs(draw, box_format):
    """``(modes, boxes1, boxes2)`` with ``N`` in [0, 8] rows mixing all modes."""
    rows = draw(st.lists(bev_row(), min_size=0, max_size=8))
    modes = [r[0] for r in rows]
    if box_format == 'bev':
        return modes, [r[1] for r in rows], [r[2] for r in rows]
    if box_format == '3d':
        p, t = [], []
        for mode, b1, b2 in rows:
            (z1, h1), (z2, h2) = draw(z_row(mode))
            p.append([b1[0], b1[1], z1, b1[2], b1[3], h1, b1[4]])
            t.append([b2[0], b2[1], z2, b2[2], b2[3], h2, b2[4]])
        return modes, p, t
    # xyxy: the axis-aligned boxes of the BEV rows with yaw ignored, valid (x1 <= x2)
    def xyxy(b):
        return [b[0] - b[2] / 2, b[1] - b[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2]
    modes = [m if m not in ('flipped', 'huge_yaw', 'swapped_sizes') else 'random'
             for m in modes]
    return modes, [xyxy(r[1]) for r in rows], [xyxy(r[2]) for r in rows]


WIDTH = {'xyxy': 4, 'bev': 5, '3d': 7}


def _boxes(rows, box_format, dtype, grad):
    t = torch.tensor(rows, dtype=torch.float64).reshape(-1, WIDTH[box_format]).to(dtype)
    if box_format == 'xyxy':  # keep x1 <= x2 after rounding to float32
        t = torch.cat((t[:, :2], torch.maximum(t[:, 2:], t[:, :2])), 1)
    return t.requires_grad_(grad)


@pytest.mark.parametrize('box_format', ['xyxy', 'bev', '3d'])
@SETTINGS
@given(data=st.data(), dtype=DTYPES)
def test_giou_loss_finite_and_in_range(box_format, data, dtype):
    modes, p, t = data.draw(box_pairs(box_format))
    pred = _boxes(p, box_format, dtype, True)
    target = _boxes(t, box_format, dtype, True)
    loss = L.GIoULoss(box_format=box_format)
    elementwise = loss(pred, target, reduction_override='none')
    tol = 1e-5 if dtype == torch.float32 else 1e-9
    assert torch.isfinite(elementwise).all()
    assert (elementwise >= -tol).all() and (elementwise <= 2 + tol).all(), \
        f'GIoU loss outside [0, 2]: {elementwise} for modes {modes}'
    check_finite(lambda **kw: loss(pred, target, **kw), [pred, target], data)
    # identical (and flipped / swapped: the same rectangle) boxes of positive size: loss ~0
    same = [m in ('identical', 'flipped', 'swapped_sizes') for m in modes]
    sizes = pred.detach()[:, {'xyxy': [2, 3], 'bev': [2, 3], '3d': [3, 4, 5]}[box_format]]
    if box_format == 'xyxy':
        sizes = pred.detach()[:, 2:] - pred.detach()[:, :2]
    for i, s in enumerate(same):
        if s and bool((sizes[i] >= 0.1).all()):
            assert elementwise[i].item() <= (1e-4 if dtype == torch.float32 else 1e-9), \
                (modes[i], pred[i], target[i], elementwise[i])


@pytest.mark.parametrize('box_format', ['bev', '3d'])
@SMALL
@given(data=st.data())
def test_rotated_geometry_ranges_and_symmetry(box_format, data):
    """IoU in [0, 1], GIoU in [-1, IoU], both symmetric in the two boxes (float64)."""
    _, p, t = data.draw(box_pairs(box_format))
    b1 = _boxes(p, box_format, torch.float64, False)
    b2 = _boxes(t, box_format, torch.float64, False)
    fn = bev_iou_giou if box_format == 'bev' else box3d_iou_giou
    iou, giou = fn(b1, b2)
    iou_r, giou_r = fn(b2, b1)
    tol = 1e-9
    assert ((iou >= -tol) & (iou <= 1 + tol)).all(), iou
    assert ((giou >= -1 - tol) & (giou <= iou + tol)).all(), (giou, iou)
    torch.testing.assert_close(iou, iou_r, rtol=0, atol=1e-7)
    torch.testing.assert_close(giou, giou_r, rtol=0, atol=1e-7)


# Sizes around 1e-20 m (float32: exp() of a diverged size prediction) and edge directions
# ~1e-300 (float64) once gave NaN gradients (1/d**2 overflowing in the clipping breakpoints).
@pytest.mark.parametrize('box_format,dtype,pred,target', [
    ('bev', torch.float32, [0, 0, 0, 1e-20, 0], [0, 0, 0, 1e-20, 0]),
    ('bev', torch.float32, [0, 0, 1e-20, 1e-20, 0], [0, 0, 1e-20, 1e-20, 0]),
    ('3d', torch.float32, [0, 0, 0, 0, 9e-31, 0, 0], [0, 0, 0, 0, 9e-31, 0, 0]),
    ('bev', torch.float64, [0, 0, 0, 0, 0], [0, 0, 0, 1e-3, 9.5e-298]),
], ids=['bev-f32-dy1e-20', 'bev-f32-both1e-20', '3d-f32-dy9e-31', 'bev-f64-yaw9e-298'])
def test_giou_tiny_size_gradient(box_format, dtype, pred, target):
    pred = torch.tensor([pred], dtype=dtype, requires_grad=True)
    out = L.GIoULoss(box_format=box_format)(pred, torch.tensor([target], dtype=dtype))
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(pred.grad).all(), pred.grad


@pytest.mark.parametrize('box_format', ['bev', '3d'])
def test_giou_exactly_zero_size_gradient(box_format):
    w = WIDTH[box_format]
    pred = torch.zeros(1, w, requires_grad=True)
    out = L.GIoULoss(box_format=box_format)(pred, torch.zeros(1, w))
    out.backward()
    assert out.item() == pytest.approx(1.0) and torch.isfinite(pred.grad).all()


@pytest.mark.parametrize('box', [[0, 0, 1, 1, 2, 1e-6, 0], [0, 0, 40, 1, 1, 1e-5, 0]],
                         ids=['z1-dz1e-6', 'z40-dz1e-5'])
def test_giou_3d_thin_box_range(box):
    b = torch.tensor([box], dtype=torch.float32)
    out = L.GIoULoss(box_format='3d')(b, b.clone(), reduction_override='none')
    assert 0 <= out.item() <= 2, out
