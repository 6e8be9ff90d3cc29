"""CrossEntropyLoss: softmax mode against F.cross_entropy and mmdet, sigmoid mode against mmdet."""
import uuid
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

from bev_losses.losses.cross_entropy import (CrossEntropyLoss, binary_cross_entropy,
                                             cross_entropy)

mmdet_losses = pytest.importorskip('mmdet.models.losses')

REDUCTIONS = ('none', 'mean', 'sum')


def MMDetCE(**kw):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return mmdet_losses.CrossEntropyLoss(**kw)


def _assert_grad(a, b, x, rtol=1e-5, atol=1e-6):
    assert a.shape == b.shape and a.dtype == b.dtype
    torch.testing.assert_close(a, b, rtol=rtol, atol=atol)
    ga, = torch.autograd.grad(a.sum(), x)
    gb, = torch.autograd.grad(b.sum(), x)
    torch.testing.assert_close(ga, gb, rtol=rtol, atol=atol)


def _logits(shape, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g, dtype=dtype) * 2).requires_grad_(), g


# ------------------------------------------------------------------------------ softmax
@pytest.mark.parametrize('reduction', REDUCTIONS)
@pytest.mark.parametrize('cw', [None, [0.3, 1.0, 2.0, 0.7, 1.5]])
@pytest.mark.parametrize('smoothing', [0.0, 0.2])
def test_softmax_equals_torch_index_targets(reduction, cw, smoothing):
    for shape, tshape in (((13, 5), (13,)), ((4, 5, 3, 2), (4, 3, 2))):
        x, g = _logits(shape)
        y = torch.randint(0, 5, tshape, generator=g)
        y.view(-1)[::4] = -1
        loss = CrossEntropyLoss(class_weight=cw, ignore_index=-1, label_smoothing=smoothing,
                                reduction=reduction)
        ref = F.cross_entropy(x, y, weight=None if cw is None else torch.tensor(cw),
                              ignore_index=-1, label_smoothing=smoothing, reduction=reduction)
        _assert_grad(loss(x, y), ref, x)


@pytest.mark.parametrize('reduction', REDUCTIONS)
def test_softmax_equals_torch_probability_targets(reduction):
    x, g = _logits((6, 4, 3))
    q = torch.softmax(torch.randn(6, 4, 3, generator=g), 1)
    cw = [1.0, 2.0, 0.5, 1.0]
    _assert_grad(CrossEntropyLoss(class_weight=cw, label_smoothing=0.1, reduction=reduction)(x, q),
                 F.cross_entropy(x, q, weight=torch.tensor(cw), label_smoothing=0.1,
                                 reduction=reduction), x)


def test_softmax_default_ignore_index_and_forward_override():
    x, g = _logits((10, 3))
    y = torch.randint(0, 3, (10,), generator=g)
    y[2] = -100
    _assert_grad(CrossEntropyLoss()(x, y), F.cross_entropy(x, y), x)
    y = y.masked_fill(y == -100, 0)
    y[3] = 255
    _assert_grad(CrossEntropyLoss()(x, y, ignore_index=255),
                 F.cross_entropy(x, y, ignore_index=255), x)


@pytest.mark.parametrize('reduction', ('mean', 'none', 'sum'))
def test_softmax_with_weight_or_avg_factor_equals_mmdet(reduction):
    """The mmdet call sites (Anchor3DHead's loss_dir) pass weight and avg_factor."""
    x, g = _logits((17, 2))
    y = torch.randint(0, 2, (17,), generator=g)
    w = torch.rand(17, generator=g)
    for cw in (None, [0.4, 1.6]):
        ours = CrossEntropyLoss(class_weight=cw, loss_weight=0.2)
        ref = MMDetCE(class_weight=cw, loss_weight=0.2)
        kw = dict(weight=w, reduction_override=reduction)
        _assert_grad(ours(x, y, **kw), ref(x, y, **kw), x)
        if reduction != 'sum':
            _assert_grad(ours(x, y, avg_factor=5.0, **kw), ref(x, y, avg_factor=5.0, **kw), x)
            _assert_grad(ours(x, y, None, 5.0, reduction), ref(x, y, None, 5.0, reduction), x)


def test_softmax_avg_non_ignore_with_weight_equals_mmdet():
    x, g = _logits((12, 4))
    y = torch.randint(0, 4, (12,), generator=g)
    y[:3] = -100
    w = torch.rand(12, generator=g)
    for flag in (False, True):
        _assert_grad(CrossEntropyLoss(avg_non_ignore=flag)(x, y, w),
                     MMDetCE(avg_non_ignore=flag)(x, y, w), x)


def test_softmax_plain_mean_differs_from_mmdet_9193():
    """mmdet divides a class-weighted sum by the sample count; torch (and we) by sum(w[y])."""
    x, g = _logits((8, 3))
    y = torch.tensor([0, 0, 1, 1, 2, 2, 2, 2])
    cw = [1.0, 2.0, 4.0]
    ours = CrossEntropyLoss(class_weight=cw)(x, y)
    elem = F.cross_entropy(x, y, weight=torch.tensor(cw), reduction='none')
    torch.testing.assert_close(ours, elem.sum() / (2 * 1 + 2 * 2 + 4 * 4))
    torch.testing.assert_close(MMDetCE(class_weight=cw)(x, y), elem.mean())
    assert not torch.allclose(ours, elem.mean())


def test_softmax_all_ignored_gives_zero_with_graph():
    x, _ = _logits((4, 3))
    loss = CrossEntropyLoss()(x, torch.full((4,), -100))
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()


# ------------------------------------------------------------------------------ sigmoid
@pytest.mark.parametrize('reduction', REDUCTIONS)
def test_sigmoid_labels_equal_mmdet(reduction):
    x, g = _logits((15, 4))
    y = torch.randint(0, 5, (15,), generator=g)    # 4 = background
    y[1] = -100
    w = torch.rand(15, generator=g)
    for cw in (None, [1.0, 2.0, 0.5, 3.0]):
        for flag in (False, True):
            ours = CrossEntropyLoss(use_sigmoid=True, class_weight=cw, avg_non_ignore=flag,
                                    reduction=reduction)
            ref = MMDetCE(use_sigmoid=True, class_weight=cw, avg_non_ignore=flag,
                          reduction=reduction)
            _assert_grad(ours(x, y), ref(x, y), x)
            _assert_grad(ours(x, y, w), ref(x, y, w), x)
            if reduction != 'sum':
                _assert_grad(ours(x, y, w, avg_factor=6.0), ref(x, y, w, avg_factor=6.0), x)


@pytest.mark.parametrize('reduction', REDUCTIONS)
def test_sigmoid_same_shape_targets_equal_mmdet(reduction):
    x, g = _logits((9, 3))
    soft = torch.rand(9, 3, generator=g)
    onehot = (torch.rand(9, 3, generator=g) > 0.5).long()
    w = torch.rand(9, 3, generator=g)
    for t in (soft, onehot):
        ours = CrossEntropyLoss(use_sigmoid=True, reduction=reduction)
        ref = MMDetCE(use_sigmoid=True, reduction=reduction)
        _assert_grad(ours(x, t), ref(x, t), x)
        _assert_grad(ours(x, t, w), ref(x, t, w), x)
    # a single logit per sample: pred (N,), target (N,)
    x1, g = _logits((9,))
    t1 = torch.rand(9, generator=g)
    _assert_grad(CrossEntropyLoss(use_sigmoid=True)(x1, t1),
                 MMDetCE(use_sigmoid=True)(x1, t1), x1)


def test_module_equals_function():
    x, g = _logits((7, 3))
    y = torch.randint(0, 3, (7,), generator=g)
    w = torch.rand(7, generator=g)
    m = CrossEntropyLoss(class_weight=[1.0, 2.0, 3.0], loss_weight=0.5)
    torch.testing.assert_close(m(x, y, w, 3.0),
                               0.5 * cross_entropy(x, y, w, [1.0, 2.0, 3.0], avg_factor=3.0))
    m = CrossEntropyLoss(use_sigmoid=True, loss_weight=0.5, reduction='sum')
    torch.testing.assert_close(m(x, y, w), 0.5 * binary_cross_entropy(x, y, w, reduction='sum'))
    assert m.use_sigmoid is True and CrossEntropyLoss().use_sigmoid is False


def test_gradcheck_float64():
    x, g = _logits((5, 4), dtype=torch.float64)
    y = torch.randint(0, 4, (5,), generator=g)
    y[0] = -100
    q = torch.softmax(torch.randn(5, 4, generator=g, dtype=torch.float64), 1)
    assert gradcheck(lambda z: cross_entropy(z, y, class_weight=[1, 2, 3, 4],
                                             label_smoothing=0.1), (x,))
    assert gradcheck(lambda z: cross_entropy(z, q), (x,))
    yb = torch.randint(0, 5, (5,), generator=g)
    assert gradcheck(lambda z: binary_cross_entropy(z, yb, class_weight=[1, 2, 3, 4]), (x,))
    assert gradcheck(lambda z: binary_cross_entropy(z, q), (x,))


def test_registry_build_from_mmdet3d_scope():
    from mmdet3d.registry import MODELS as MMDET3D_MODELS
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        DefaultScope.get_instance(f't-{uuid.uuid4().hex}', scope_name='mmdet3d')
        loss = MMDET3D_MODELS.build(dict(type='bev_losses.CrossEntropyLoss', use_sigmoid=True,
                                         loss_weight=0.2))
    assert isinstance(loss, CrossEntropyLoss)
    assert loss.use_sigmoid is True and loss.loss_weight == 0.2


def test_big_logits_finite():
    x = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 30.0]], requires_grad=True)
    y = torch.tensor([1, 0])
    for use_sigmoid in (False, True):
        loss = CrossEntropyLoss(use_sigmoid=use_sigmoid)(x, y)
        g, = torch.autograd.grad(loss, x)
        assert torch.isfinite(loss) and torch.isfinite(g).all()
    torch.testing.assert_close(CrossEntropyLoss(reduction='none')(x, y),
                               torch.tensor([2e4, 2e4]))


@pytest.mark.parametrize('use_sigmoid', [False, True])
def test_autocast_and_half_give_float32(use_sigmoid):
    x, g = _logits((20, 4))
    y = torch.randint(0, 4, (20,), generator=g)
    loss = CrossEntropyLoss(use_sigmoid=use_sigmoid)
    ref = loss(x.detach(), y)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        lin = torch.nn.Linear(4, 4)
        with torch.no_grad():
            lin.weight.copy_(torch.eye(4))
            lin.bias.zero_()
        xb = lin(x.detach())
        assert xb.dtype == torch.bfloat16
        out = loss(xb, y)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref, rtol=2e-2, atol=2e-2)
    half = x.detach().half().requires_grad_()
    out = loss(half, y, weight=torch.ones(20, dtype=torch.float16))
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref, rtol=2e-2, atol=2e-2)
    out.backward()
    assert half.grad.dtype == torch.float16


def test_nan_propagates():
    x, g = _logits((6, 3))
    x = x.detach().clone()
    x[2, 1] = float('nan')
    y = torch.randint(0, 3, (6,), generator=g)
    assert torch.isnan(CrossEntropyLoss()(x, y))
    assert torch.isnan(CrossEntropyLoss(use_sigmoid=True)(x, y))


def test_empty_gives_zero_with_graph():
    x = torch.zeros(0, 3, requires_grad=True)
    for loss in (CrossEntropyLoss()(x, torch.zeros(0, dtype=torch.long)),
                 CrossEntropyLoss()(x, torch.zeros(0, 3)),
                 CrossEntropyLoss(use_sigmoid=True)(x, torch.zeros(0, dtype=torch.long))):
        assert loss.item() == 0.0 and loss.requires_grad
        loss.backward()


def test_bad_inputs_raise():
    x, g = _logits((6, 3))
    y = torch.randint(0, 3, (6,), generator=g)
    with pytest.raises(ValueError, match=r'\(5,\).*\(6, 3\)'):
        CrossEntropyLoss()(x, y[:5])
    with pytest.raises(ValueError, match=r'\(6, 2\).*\(6, 3\)'):
        CrossEntropyLoss(use_sigmoid=True)(x, torch.rand(6, 2))
    with pytest.raises(ValueError, match='labels must lie in'):
        CrossEntropyLoss()(x, y.clone().fill_(3))
    with pytest.raises(ValueError, match='-2'):
        CrossEntropyLoss()(x, y.clone().fill_(-2))
    with pytest.raises(ValueError, match='labels must lie in'):
        CrossEntropyLoss(use_sigmoid=True)(x, y.clone().fill_(4))
    with pytest.raises(TypeError, match='integer labels'):
        CrossEntropyLoss()(x, y.float())
    with pytest.raises(TypeError, match='integer labels'):
        CrossEntropyLoss(use_sigmoid=True)(x, y.float())
    with pytest.raises(TypeError, match='torch.bool'):
        CrossEntropyLoss()(x, y > 0)
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        CrossEntropyLoss()(x, torch.rand(6, 3) * 3)
    with pytest.raises(ValueError, match='class_weight'):
        CrossEntropyLoss(class_weight=[1.0, 2.0])(x, y)
    with pytest.raises(ValueError, match='reduction'):
        CrossEntropyLoss(reduction='batchmean')
    with pytest.raises(ValueError, match='reduction_override'):
        CrossEntropyLoss()(x, y, reduction_override='avg')
    with pytest.raises(ValueError, match='label_smoothing'):
        CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(ValueError, match='label_smoothing'):
        CrossEntropyLoss(use_sigmoid=True, label_smoothing=0.1)
    with pytest.raises(TypeError, match='use_sigmoid'):
        CrossEntropyLoss(use_sigmoid='yes')
    with pytest.raises(TypeError, match='ignore_index'):
        CrossEntropyLoss(ignore_index=1.5)
    with pytest.raises(ValueError, match='avg_factor'):
        CrossEntropyLoss()(x, y, avg_factor=2.0, reduction_override='sum')
    with pytest.raises(TypeError, match='unexpected argument'):
        CrossEntropyLoss()(x, y, foo=1)


# ------------------------------------------------------------------- mean_convention='mmdet'
# mmdet3d's segmentation decode heads call their softmax loss without weight / avg_factor, with
# class weights and ignored labels; there mmdet's mean and torch's differ (mmdetection #9193).
@pytest.mark.parametrize('cw', [None, [0.3, 1.0, 2.0, 0.7, 1.5]])
@pytest.mark.parametrize('avg_non_ignore', [False, True])
@pytest.mark.parametrize('shape', [(40, 5), (3, 5, 11)])
@pytest.mark.parametrize('call', ['plain', 'ignore_index_arg', 'weight', 'avg_factor', 'sum'])
def test_mean_convention_mmdet_equals_mmdet_in_every_call(cw, avg_non_ignore, shape, call):
    pred, g = _logits(shape, seed=3)
    index_shape = (shape[0],) + shape[2:]
    target = torch.randint(0, 5, index_shape, generator=g)
    target.view(-1)[::4] = 255                           # ignored labels, as in segmentation
    kw = dict(class_weight=cw, avg_non_ignore=avg_non_ignore, ignore_index=255)
    ref, ours = MMDetCE(**kw), CrossEntropyLoss(mean_convention='mmdet', **kw)
    args = dict(plain={}, ignore_index_arg=dict(ignore_index=255),
                weight=dict(weight=torch.rand(index_shape, generator=g)),
                avg_factor=dict(avg_factor=7.0), sum=dict(reduction_override='sum'))[call]
    _assert_grad(ours(pred, target, **args), ref(pred, target, **args), pred)


def test_mean_convention_torch_is_the_default_and_differs_from_mmdet_where_documented():
    pred, g = _logits((40, 5), seed=4)
    target = torch.randint(0, 5, (40,), generator=g)
    cw = [0.3, 1.0, 2.0, 0.7, 1.5]
    assert CrossEntropyLoss().mean_convention == 'torch'
    torch_value = F.cross_entropy(pred, target, weight=torch.tensor(cw))
    torch.testing.assert_close(CrossEntropyLoss(class_weight=cw)(pred, target), torch_value)
    mmdet_value = MMDetCE(class_weight=cw)(pred, target)
    assert not torch.allclose(torch_value, mmdet_value)  # the two conventions really differ
    torch.testing.assert_close(
        CrossEntropyLoss(class_weight=cw, mean_convention='mmdet')(pred, target), mmdet_value)
    # sigmoid mode equals mmdet's with either value
    logits, _ = _logits((40, 5), seed=5)
    labels = torch.randint(0, 6, (40,), generator=g)
    ref = MMDetCE(use_sigmoid=True, class_weight=cw)(logits, labels)
    for conv in ('torch', 'mmdet'):
        torch.testing.assert_close(
            CrossEntropyLoss(use_sigmoid=True, class_weight=cw, mean_convention=conv)(
                logits, labels), ref)
    with pytest.raises(ValueError, match='mean_convention'):
        CrossEntropyLoss(mean_convention='numpy')
    with pytest.raises(ValueError, match='mean_convention'):
        cross_entropy(pred, target, mean_convention='mean')
