"""FocalLoss: sigmoid form against mmdet 3.3's FocalLoss, softmax form against cross-entropy."""
import uuid
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

from bev_losses.losses.focal import FocalLoss, sigmoid_focal_loss, softmax_focal_loss

mmdet_losses = pytest.importorskip('mmdet.models.losses')
MMDetFocalLoss = mmdet_losses.FocalLoss

REDUCTIONS = ('none', 'mean', 'sum')


def _data(n=37, c=6, seed=0, dtype=torch.float32, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(n, c, generator=g, dtype=dtype) * scale).requires_grad_()
    labels = torch.randint(0, c + 1, (n,), generator=g)   # c = background
    return x, labels, g


def _asserts(ours, ref, inputs, kwargs, rtol=1e-5, atol=1e-6):
    x = inputs[0]
    a = ours(*inputs, **kwargs)
    b = ref(*inputs, **kwargs)
    assert a.dtype == b.dtype and a.shape == b.shape
    torch.testing.assert_close(a, b, rtol=rtol, atol=atol)
    ga, = torch.autograd.grad(a.sum(), x)
    gb, = torch.autograd.grad(b.sum(), x)
    torch.testing.assert_close(ga, gb, rtol=rtol, atol=atol)


@pytest.mark.parametrize('reduction', REDUCTIONS)
@pytest.mark.parametrize('gamma,alpha', [(2.0, 0.25), (0.0, 0.5), (1.5, 0.75), (1.0, 0.25),
                                         (0.5, 0.3)])
def test_sigmoid_integer_labels_equal_mmdet(reduction, gamma, alpha):
    x, labels, _ = _data()
    kw = dict(gamma=gamma, alpha=alpha, reduction=reduction)
    _asserts(FocalLoss(**kw), MMDetFocalLoss(**kw), (x, labels), {})


@pytest.mark.parametrize('reduction', ('mean', 'sum', 'none'))
def test_sigmoid_weight_avg_factor_override_equal_mmdet(reduction):
    x, labels, g = _data(seed=1)
    ours, ref = FocalLoss(loss_weight=0.7), MMDetFocalLoss(loss_weight=0.7)
    w_sample = torch.rand(x.shape[0], generator=g)
    w_elem = torch.rand(x.shape, generator=g)
    w_flat = torch.rand(x.numel(), generator=g)
    for w in (w_sample, w_elem, w_flat):
        kw = dict(weight=w, reduction_override=reduction)
        if reduction != 'sum':
            _asserts(ours, ref, (x, labels), dict(kw, avg_factor=13.0))
        _asserts(ours, ref, (x, labels), kw)


@pytest.mark.parametrize('reduction', REDUCTIONS)
def test_sigmoid_onehot_and_soft_targets_equal_mmdet(reduction):
    x, labels, g = _data(seed=2)
    onehot = F.one_hot(labels, x.shape[1] + 1)[:, :-1]
    soft = torch.rand(x.shape, generator=g)
    for t in (onehot, onehot.float(), soft):
        _asserts(FocalLoss(reduction=reduction), MMDetFocalLoss(reduction=reduction), (x, t),
                 dict(weight=torch.rand(x.shape[0], generator=g)))


@pytest.mark.parametrize('reduction', REDUCTIONS)
def test_sigmoid_activated_equal_mmdet(reduction):
    _, labels, g = _data(seed=3)
    p = torch.rand(labels.shape[0], 6, generator=g).clamp(1e-3, 1 - 1e-3).requires_grad_()
    kw = dict(activated=True, reduction=reduction)
    _asserts(FocalLoss(**kw), MMDetFocalLoss(**kw), (p, labels), {})
    soft = torch.rand(p.shape, generator=g)
    _asserts(FocalLoss(**kw), MMDetFocalLoss(**kw), (p, soft), {})


def test_sigmoid_class_weight_and_ignore_index():
    x, labels, g = _data(seed=4)
    labels[::5] = -1
    cw = torch.rand(6, generator=g)
    ours = sigmoid_focal_loss(x, labels, class_weight=cw, ignore_index=-1, reduction='none')
    valid = labels != -1
    ref = MMDetFocalLoss(reduction='none')(x[valid], labels[valid]) * cw
    torch.testing.assert_close(ours[valid], ref)
    assert torch.count_nonzero(ours[~valid]) == 0
    # mean without avg_factor averages over the non-ignored elements
    mean = sigmoid_focal_loss(x, labels, class_weight=cw, ignore_index=-1)
    torch.testing.assert_close(mean, ref.sum() / ref.numel())
    g_x, = torch.autograd.grad(mean, x)
    assert torch.count_nonzero(g_x[~valid]) == 0


def test_module_equals_function():
    x, labels, g = _data(seed=5)
    w = torch.rand(x.shape[0], generator=g)
    m = FocalLoss(gamma=1.5, alpha=0.4, loss_weight=2.0, reduction='sum')
    torch.testing.assert_close(m(x, labels, w),
                               2.0 * sigmoid_focal_loss(x, labels, w, 1.5, 0.4, 'sum'))
    y = labels.clamp(max=5)
    m = FocalLoss(use_sigmoid=False, gamma=1.5, loss_weight=2.0)
    torch.testing.assert_close(m(x, y), 2.0 * softmax_focal_loss(x, y, gamma=1.5))
    assert FocalLoss().use_sigmoid is True and FocalLoss(use_sigmoid=False).use_sigmoid is False


def test_sigmoid_gradcheck_float64():
    x, labels, g = _data(n=7, c=4, seed=6, dtype=torch.float64)
    soft = torch.rand(x.shape, generator=g, dtype=torch.float64)
    for gamma in (2.0, 1.5, 0.0):
        assert gradcheck(lambda z: sigmoid_focal_loss(z, labels, gamma=gamma, reduction='sum'),
                         (x,))
        assert gradcheck(lambda z: sigmoid_focal_loss(z, soft, gamma=gamma), (x,))
    p = torch.rand(7, 4, generator=g, dtype=torch.float64).clamp(0.05, 0.95).requires_grad_()
    assert gradcheck(lambda z: sigmoid_focal_loss(z, labels, activated=True), (p,))


# ---------------------------------------------------------------------------------- softmax
@pytest.mark.parametrize('reduction', REDUCTIONS)
def test_softmax_gamma0_equals_cross_entropy(reduction):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(9, 5, 3, generator=g, requires_grad=True)
    y = torch.randint(0, 5, (9, 3), generator=g)
    y[0, 0] = -100
    cw = [0.5, 1.0, 2.0, 1.5, 0.2]
    a = FocalLoss(use_sigmoid=False, gamma=0.0, class_weight=cw, reduction=reduction)(x, y)
    b = F.cross_entropy(x, y, weight=torch.tensor(cw), reduction=reduction)
    torch.testing.assert_close(a, b)
    ga, = torch.autograd.grad(a.sum(), x)
    gb, = torch.autograd.grad(b.sum(), x)
    torch.testing.assert_close(ga, gb)
    # probability targets
    q = torch.softmax(torch.randn(9, 5, 3, generator=g), 1)
    torch.testing.assert_close(softmax_focal_loss(x, q, gamma=0.0, reduction=reduction),
                               F.cross_entropy(x, q, reduction=reduction))


def test_softmax_focal_closed_form():
    g = torch.Generator().manual_seed(8)
    x = torch.randn(11, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (11,), generator=g)
    p_t = torch.softmax(x, 1)[torch.arange(11), y]
    expected = -(1 - p_t) ** 2.5 * p_t.log()
    torch.testing.assert_close(softmax_focal_loss(x, y, gamma=2.5, reduction='none'), expected)
    # one-hot probabilities give the same loss as indices
    q = F.one_hot(y, 4).double()
    torch.testing.assert_close(softmax_focal_loss(x, q, gamma=2.5, reduction='none'), expected)
    w = torch.rand(11, generator=g, dtype=torch.float64)
    torch.testing.assert_close(softmax_focal_loss(x, y, w, gamma=2.5, avg_factor=3.0),
                               (expected * w).sum() / (3.0 + torch.finfo(torch.float32).eps))


def test_softmax_gradcheck_float64():
    g = torch.Generator().manual_seed(9)
    x = torch.randn(6, 4, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 4, (6,), generator=g)
    assert gradcheck(lambda z: softmax_focal_loss(z, y, gamma=2.0), (x,))
    q = torch.softmax(torch.randn(6, 4, generator=g, dtype=torch.float64), 1)
    assert gradcheck(lambda z: softmax_focal_loss(z, q, gamma=1.5, class_weight=[1, 2, 3, 4]),
                     (x,))


# ------------------------------------------------------------------------- registry, dtype
def test_registry_build_from_mmdet3d_scope():
    from mmdet3d.registry import MODELS as MMDET3D_MODELS
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        DefaultScope.get_instance(f't-{uuid.uuid4().hex}', scope_name='mmdet3d')
        loss = MMDET3D_MODELS.build(dict(type='bev_losses.FocalLoss', gamma=1.0, alpha=0.5))
    assert isinstance(loss, FocalLoss) and loss.gamma == 1.0 and loss.alpha == 0.5


def test_big_logits_finite():
    x = torch.tensor([[1e4, -1e4, 80.0, -80.0, 0.0]] * 3, requires_grad=True)
    labels = torch.tensor([0, 1, 5])
    soft = torch.tensor([[1.0, 0.0, 0.5, 1.0, 0.3]] * 3)
    for fn in (lambda: FocalLoss()(x, labels), lambda: FocalLoss()(x, soft),
               lambda: FocalLoss(use_sigmoid=False)(x, labels.clamp(max=4))):
        loss = fn()
        g, = torch.autograd.grad(loss, x)
        assert torch.isfinite(loss) and torch.isfinite(g).all()
    # the exact value: a confident wrong positive costs alpha * softplus(1e4) = 0.25e4
    one = sigmoid_focal_loss(torch.tensor([[-1e4]]), torch.tensor([0]), reduction='sum')
    torch.testing.assert_close(one, torch.tensor(0.25e4))


@pytest.mark.parametrize('use_sigmoid', [True, False])
def test_autocast_and_half_give_float32(use_sigmoid):
    x, labels, _ = _data(seed=10)
    labels = labels if use_sigmoid else labels.clamp(max=5)
    loss = FocalLoss(use_sigmoid=use_sigmoid)
    ref = loss(x.detach(), labels)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        lin = torch.nn.Linear(6, 6)
        with torch.no_grad():
            lin.weight.copy_(torch.eye(6))
            lin.bias.zero_()
        xb = lin(x.detach())
        assert xb.dtype == torch.bfloat16
        out = loss(xb, labels)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref, rtol=2e-2, atol=2e-2)
    half = x.detach().half().requires_grad_()
    out = loss(half, labels)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref, rtol=2e-2, atol=2e-2)
    out.backward()
    assert half.grad.dtype == torch.float16 and torch.isfinite(half.grad).all()


def test_nan_propagates():
    x, labels, _ = _data(seed=11)
    x = x.detach().clone()
    x[3, 2] = float('nan')
    assert torch.isnan(FocalLoss()(x, labels))
    assert torch.isnan(FocalLoss()(x, torch.rand(x.shape)))
    assert torch.isnan(FocalLoss(use_sigmoid=False)(x, labels.clamp(max=5)))


def test_empty_gives_zero_with_graph():
    x = torch.zeros(0, 6, requires_grad=True)
    for loss in (FocalLoss()(x, torch.zeros(0, dtype=torch.long)),
                 FocalLoss()(x, torch.zeros(0, 6)),
                 FocalLoss(use_sigmoid=False)(x, torch.zeros(0, dtype=torch.long)),
                 FocalLoss(activated=True)(x, torch.zeros(0, dtype=torch.long))):
        assert loss.item() == 0.0 and loss.requires_grad
        loss.backward()


def test_zero_weight_keeps_graph():
    x, labels, _ = _data(seed=12)
    loss = FocalLoss()(x, labels, weight=torch.zeros(x.shape[0]))
    assert loss.item() == 0.0 and loss.requires_grad


# ------------------------------------------------------------------------------ bad input
def test_bad_arguments_raise():
    with pytest.raises(ValueError, match='gamma'):
        FocalLoss(gamma=-1.0)
    with pytest.raises(ValueError, match='alpha'):
        FocalLoss(alpha=1.5)
    with pytest.raises(ValueError, match='reduction'):
        FocalLoss(reduction='avg')
    with pytest.raises(ValueError, match='activated'):
        FocalLoss(use_sigmoid=False, activated=True)
    with pytest.raises(TypeError, match='class_weight'):
        FocalLoss(class_weight='abc')
    x, labels, _ = _data()
    with pytest.raises(ValueError, match='reduction_override'):
        FocalLoss()(x, labels, reduction_override='avg')
    with pytest.raises(ValueError, match='avg_factor'):
        FocalLoss(reduction='sum')(x, labels, avg_factor=2.0)
    with pytest.raises(ValueError, match='gamma'):
        sigmoid_focal_loss(x, labels, gamma=-0.5)
    with pytest.raises(ValueError, match='gamma'):
        softmax_focal_loss(x, labels.clamp(max=5), gamma=-0.5)
    with pytest.raises(ValueError, match='class_weight'):
        FocalLoss(class_weight=[1.0, 2.0])(x, labels)


def test_bad_inputs_raise():
    x, labels, _ = _data()
    with pytest.raises(ValueError, match=r'\(37, 6\).*|.*\(36,\)'):
        FocalLoss()(x, labels[:-1])
    with pytest.raises(ValueError, match=r'\(37, 5\)'):
        FocalLoss()(x, torch.rand(37, 5))
    with pytest.raises(ValueError, match='labels must lie in'):
        FocalLoss()(x, labels.clone().fill_(7))
    with pytest.raises(ValueError, match='-3'):
        FocalLoss()(x, labels.clone().fill_(-3))
    with pytest.raises(ValueError, match='labels must lie in'):
        FocalLoss(use_sigmoid=False)(x, labels.clone().fill_(6))   # no background in softmax
    with pytest.raises(TypeError, match='integer labels'):
        FocalLoss()(x, labels.float())
    with pytest.raises(TypeError, match='integer labels'):
        FocalLoss(use_sigmoid=False)(x, labels.float())
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        FocalLoss()(x, torch.rand(x.shape) + 1.0)
    with pytest.raises(TypeError, match='pred'):
        FocalLoss()(x.detach().long(), labels)
    with pytest.raises(TypeError, match='target'):
        FocalLoss()(x, labels.tolist())
    with pytest.raises(ValueError, match='weight'):
        FocalLoss()(x, labels, weight=torch.ones(5))
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        FocalLoss(ignore_index=-1)(x, labels.clone().fill_(-1))   # ignored labels are fine


@pytest.mark.parametrize('make', [
    lambda: (FocalLoss(activated=True, gamma=0.5), [[0.0, 1.0]], torch.tensor([1])),
    lambda: (FocalLoss(activated=True, gamma=0.5), [[0.0, 1.0]], torch.tensor([[0.0, 1.0]])),
    lambda: (FocalLoss(use_sigmoid=False, gamma=0.5), [[-1e4, 1e4]], torch.tensor([1])),
    lambda: (FocalLoss(use_sigmoid=False, gamma=0.5), [[0.0]], torch.tensor([0])),
    lambda: (FocalLoss(use_sigmoid=False, gamma=0.5), [[-1e4, 1e4]],
             torch.tensor([[0.0, 1.0]])),
    lambda: (FocalLoss(gamma=0.5), [[-1e4, 1e4]], torch.tensor([1])),
], ids=['activated-labels', 'activated-soft', 'softmax-index', 'softmax-one-class',
        'softmax-prob', 'sigmoid-logits'])
def test_fractional_gamma_perfect_prediction_zero_loss_finite_grad(make):
    loss, pred, target = make()
    pred = torch.tensor(pred, requires_grad=True)
    out = loss(pred, target, reduction_override='sum')
    out.backward()
    assert out.item() == pytest.approx(0.0, abs=1e-6)
    assert torch.isfinite(pred.grad).all()
    torch.testing.assert_close(pred.grad, torch.zeros_like(pred.grad))


def test_fractional_gamma_activated_still_equals_mmdet():
    _, labels, g = _data(seed=13)
    p = torch.rand(labels.shape[0], 6, generator=g).clamp(1e-3, 1 - 1e-3).requires_grad_()
    kw = dict(activated=True, gamma=0.5)
    _asserts(FocalLoss(**kw), MMDetFocalLoss(**kw), (p, labels), {})


def test_activated_pred_outside_unit_interval_raises_and_nan_propagates():
    labels = torch.tensor([0, 1, 2, 3])
    for bad in (1.5, -0.5):
        with pytest.raises(ValueError, match='pred'):
            FocalLoss(activated=True)(torch.full((4, 3), bad), labels)
    p = torch.rand(4, 3).clamp(0.01, 0.99)
    p[1, 2] = float('nan')
    for target in (labels, torch.rand(4, 3)):
        assert torch.isnan(FocalLoss(activated=True)(p, target))
    # probabilities exactly 0 and 1: finite, and equal to mmdet's (torch's BCE clamps at -100)
    p = torch.tensor([[0.0, 1.0, 0.5], [1.0, 0.0, 0.5]], requires_grad=True)
    out = FocalLoss(activated=True, reduction='none')(p, torch.tensor([0, 3]))
    ref = MMDetFocalLoss(activated=True, reduction='none')(p, torch.tensor([0, 3]))
    torch.testing.assert_close(out, ref)
    g, = torch.autograd.grad(out.sum(), p)
    assert torch.isfinite(g).all()


# ---------------------------------------------------------------------- reduction accuracy
def test_mean_of_a_large_anchor_head_loss_is_as_accurate_as_mmdet():
    """(320000, 10) logits near the prior bias, 77 positives (nuScenes PointPillars' shape):
    the reduced float32 loss is within 1e-6 of the float64 value, as mmdet's is. (A float32
    dot-product reduction was 3e-5 off here.)"""
    import bev_losses
    from mmdet.models.losses import FocalLoss as MMDetFocal
    g = torch.Generator().manual_seed(0)
    n, c = 320000, 10
    x = torch.randn(n, c, generator=g) * 1.5 - 4.6
    labels = torch.full((n,), c, dtype=torch.long)
    labels[torch.randperm(n, generator=g)[:77]] = torch.randint(0, c, (77,), generator=g)
    w = torch.ones(n)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        exact = MMDetFocal()(x.double(), labels, w.double(), avg_factor=77.0).item()
        mmdet32 = MMDetFocal()(x, labels, w, avg_factor=77.0).item()
    ours = bev_losses.FocalLoss()(x, labels, w, avg_factor=77.0).item()
    assert abs(mmdet32 - exact) / exact < 1e-6
    assert abs(ours - exact) / exact < 1e-6, (ours, exact)
    total = bev_losses.FocalLoss(reduction='sum')(x, labels, w).item()
    assert abs(total - exact * (77.0 + torch.finfo(torch.float32).eps)) / (exact * 77) < 1e-6


def test_sum_of_a_large_gaussian_heatmap_loss_is_accurate():
    import bev_losses
    g = torch.Generator().manual_seed(1)
    pred = torch.rand(4, 10, 128, 128, generator=g).clamp(1e-4, 1 - 1e-4) * 0.1
    target = torch.rand(4, 10, 128, 128, generator=g) ** 8
    target[0, 0, 5, 5] = target[1, 3, 60, 70] = target[3, 9, 100, 1] = 1.0
    exact = bev_losses.GaussianFocalLoss(reduction='sum')(pred.double(), target.double())
    ours = bev_losses.GaussianFocalLoss(reduction='sum')(pred, target)
    assert abs(ours.item() - exact.item()) / abs(exact.item()) < 1e-6
