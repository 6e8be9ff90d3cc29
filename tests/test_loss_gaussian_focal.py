"""GaussianFocalLoss against mmdet 3.3's GaussianFocalLoss (dense and pos_inds paths)."""
import uuid

import pytest
import torch
from torch.autograd import gradcheck

from bev_losses.losses.gaussian_focal import GaussianFocalLoss, gaussian_focal_loss

mmdet_losses = pytest.importorskip('mmdet.models.losses')
MMDetGaussianFocalLoss = mmdet_losses.GaussianFocalLoss

REDUCTIONS = ('none', 'mean', 'sum')


def _heatmap(shape=(2, 3, 9, 11), seed=0, dtype=torch.float32, n_pos=5):
    """A Gaussian-like target with exact ones at a few peaks, and a prediction in (0, 1)."""
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(shape, generator=g, dtype=dtype) ** 4
    flat = target.view(-1)
    flat[torch.randperm(flat.numel(), generator=g)[:n_pos]] = 1.0
    pred = torch.rand(shape, generator=g, dtype=dtype).clamp(1e-4, 1 - 1e-4)
    return pred.requires_grad_(), target, g


def _asserts(a, b, x, rtol=1e-5, atol=1e-6):
    assert a.shape == b.shape and a.dtype == b.dtype
    torch.testing.assert_close(a, b, rtol=rtol, atol=atol)
    ga, = torch.autograd.grad(a.sum(), x)
    gb, = torch.autograd.grad(b.sum(), x)
    torch.testing.assert_close(ga, gb, rtol=rtol, atol=atol)


@pytest.mark.parametrize('reduction', REDUCTIONS)
@pytest.mark.parametrize('params', [dict(), dict(alpha=1.0, gamma=2.0),
                                    dict(alpha=2.5, gamma=0.0, pos_weight=2.0, neg_weight=0.5),
                                    dict(alpha=0.5, gamma=3.0)])
def test_dense_equals_mmdet(reduction, params):
    pred, target, _ = _heatmap()
    _asserts(GaussianFocalLoss(reduction=reduction, **params)(pred, target),
             MMDetGaussianFocalLoss(reduction=reduction, **params)(pred, target), pred)


@pytest.mark.parametrize('reduction', ('mean', 'none', 'sum'))
def test_weight_avg_factor_override_equal_mmdet(reduction):
    pred, target, g = _heatmap(seed=1)
    ours, ref = GaussianFocalLoss(loss_weight=0.3), MMDetGaussianFocalLoss(loss_weight=0.3)
    w = torch.rand(pred.shape, generator=g)
    kw = dict(weight=w, reduction_override=reduction)
    _asserts(ours(pred, target, **kw), ref(pred, target, **kw), pred)
    if reduction != 'sum':
        kw['avg_factor'] = 7.0
        _asserts(ours(pred, target, **kw), ref(pred, target, **kw), pred)


def test_centerhead_call_site():
    """mmdet3d's CenterHead: loss_cls(clip_sigmoid(x), heatmap, avg_factor=max(num_pos, 1))."""
    from mmdet3d.models.utils import clip_sigmoid
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(2, 3, 16, 16, generator=g) * 4
    logits.requires_grad_()
    _, target, _ = _heatmap((2, 3, 16, 16), seed=2, n_pos=4)
    avg = max(int(target.eq(1).sum()), 1)
    a = GaussianFocalLoss()(clip_sigmoid(logits.clone()), target, avg_factor=avg)
    b = MMDetGaussianFocalLoss()(clip_sigmoid(logits.clone()), target, avg_factor=avg)
    _asserts(a, b, logits)


@pytest.mark.parametrize('reduction', ('mean', 'sum'))
def test_pos_inds_path_equals_mmdet(reduction):
    g = torch.Generator().manual_seed(3)
    pred = torch.rand(20, 4, generator=g).clamp(1e-3, 1 - 1e-3).requires_grad_()
    target = torch.rand(20, 4, generator=g) ** 3
    pos_inds = torch.tensor([0, 3, 7, 19])
    pos_labels = torch.tensor([1, 0, 3, 2])
    kw = dict(pos_weight=2.0, neg_weight=0.5, reduction=reduction)
    _asserts(GaussianFocalLoss(**kw)(pred, target, pos_inds, pos_labels),
             MMDetGaussianFocalLoss(**kw)(pred, target, pos_inds, pos_labels), pred)
    if reduction == 'mean':
        _asserts(GaussianFocalLoss(**kw)(pred, target, pos_inds, pos_labels, avg_factor=4.0),
                 MMDetGaussianFocalLoss(**kw)(pred, target, pos_inds, pos_labels,
                                              avg_factor=4.0), pred)


def test_pos_inds_none_reduction_is_elementwise_map():
    g = torch.Generator().manual_seed(4)
    pred = torch.rand(6, 3, generator=g).clamp(1e-3, 1 - 1e-3)
    target = torch.rand(6, 3, generator=g) ** 3
    pos_inds, pos_labels = torch.tensor([1, 4]), torch.tensor([2, 0])
    out = gaussian_focal_loss(pred, target, reduction='none', pos_inds=pos_inds,
                              pos_labels=pos_labels, pos_weight=3.0)
    neg = -(1 - pred + 1e-12).log() * pred ** 2 * (1 - target) ** 4
    pos = torch.zeros_like(pred)
    pp = pred[pos_inds, pos_labels]
    pos[pos_inds, pos_labels] = -(pp + 1e-12).log() * (1 - pp) ** 2
    torch.testing.assert_close(out, neg + 3.0 * pos)
    # its sum is the 'sum' reduction
    torch.testing.assert_close(out.sum(), gaussian_focal_loss(
        pred, target, reduction='sum', pos_inds=pos_inds, pos_labels=pos_labels,
        pos_weight=3.0))


@pytest.mark.parametrize('reduction', REDUCTIONS)
def test_logits_mode_equals_mmdet_on_sigmoid(reduction):
    g = torch.Generator().manual_seed(5)
    x = (torch.randn(2, 3, 8, 8, generator=g) * 3).requires_grad_()
    _, target, _ = _heatmap((2, 3, 8, 8), seed=5)
    for params in (dict(), dict(alpha=1.5, gamma=2.0, pos_weight=2.0)):
        _asserts(GaussianFocalLoss(activated=False, reduction=reduction, **params)(x, target),
                 MMDetGaussianFocalLoss(reduction=reduction, **params)(x.sigmoid(), target), x)


def test_logits_mode_stable_for_huge_logits():
    x = torch.tensor([1e4, -1e4, 1e4, -1e4, 50.0, -50.0, 0.0], requires_grad=True)
    t = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.5, 1.0, 0.2])
    for alpha in (2.0, 1.5):
        loss = gaussian_focal_loss(x, t, alpha=alpha, activated=False, reduction='none')
        g, = torch.autograd.grad(loss.sum(), x)
        assert torch.isfinite(loss).all() and torch.isfinite(g).all()
        # closed forms: a confident wrong positive costs softplus(1e4) = 1e4, a confident
        # wrong negative costs (1-t)^4 softplus(1e4) = 1e4
        torch.testing.assert_close(loss[1], torch.tensor(1e4))
        torch.testing.assert_close(loss[2], torch.tensor(1e4))
        assert loss[0] == 0 and loss[3] == 0
        torch.testing.assert_close(g[2], torch.tensor(1.0))
    # the pos_inds path too
    loss = gaussian_focal_loss(x.view(7, 1), t.view(7, 1), activated=False,
                               pos_inds=torch.tensor([1]), pos_labels=torch.tensor([0]))
    g, = torch.autograd.grad(loss, x)
    assert torch.isfinite(loss) and torch.isfinite(g).all()


def test_probabilities_exactly_zero_and_one_finite():
    p = torch.tensor([0.0, 1.0, 0.0, 1.0], requires_grad=True)
    t = torch.tensor([0.0, 0.0, 1.0, 1.0])
    loss = gaussian_focal_loss(p, t, reduction='sum')
    g, = torch.autograd.grad(loss, p)
    ref = MMDetGaussianFocalLoss(reduction='sum')(p, t)
    gr, = torch.autograd.grad(ref, p)
    torch.testing.assert_close(loss, ref)
    torch.testing.assert_close(g, gr)


def test_gradcheck_float64():
    pred, target, _ = _heatmap((2, 2, 4, 5), seed=6, dtype=torch.float64, n_pos=3)
    pred = pred.detach().clamp(0.05, 0.95).requires_grad_()
    for kw in (dict(), dict(alpha=1.5, gamma=2.0, pos_weight=2.0, neg_weight=0.3),
               dict(alpha=1.0)):
        assert gradcheck(lambda z: gaussian_focal_loss(z, target, **kw), (pred,))
    x = torch.randn(2, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    for kw in (dict(), dict(alpha=1.5)):
        assert gradcheck(lambda z: gaussian_focal_loss(z, target, activated=False, **kw), (x,))
    p2 = pred.detach().reshape(-1, 5).requires_grad_()
    t2 = target.reshape(-1, 5)
    assert gradcheck(lambda z: gaussian_focal_loss(
        z, t2, pos_inds=torch.tensor([0, 2]), pos_labels=torch.tensor([4, 1])), (p2,))


def test_target_requiring_grad_uses_autograd():
    pred, target, _ = _heatmap(seed=7)
    target = target.clone().requires_grad_()
    a = gaussian_focal_loss(pred, target)
    b = MMDetGaussianFocalLoss()(pred, target)
    ga = torch.autograd.grad(a, (pred, target))
    gb = torch.autograd.grad(b, (pred, target))
    torch.testing.assert_close(a, b)
    for u, v in zip(ga, gb):
        torch.testing.assert_close(u, v)


def test_module_equals_function_and_positional_order():
    pred, target, g = _heatmap(seed=8)
    w = torch.rand(pred.shape, generator=g)
    m = GaussianFocalLoss(alpha=1.5, gamma=3.0, loss_weight=2.0)
    torch.testing.assert_close(m(pred, target, None, None, 5.0, 'mean', weight=w),
                               2.0 * gaussian_focal_loss(pred, target, w, 1.5, 3.0,
                                                         avg_factor=5.0))
    with pytest.raises(TypeError, match='pos_inds'):
        m(pred, target, w)   # a weight passed where mmdet's third argument is pos_inds


def test_registry_build_from_mmdet3d_scope():
    from mmdet3d.registry import MODELS as MMDET3D_MODELS
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        DefaultScope.get_instance(f't-{uuid.uuid4().hex}', scope_name='mmdet3d')
        loss = MMDET3D_MODELS.build(dict(type='bev_losses.GaussianFocalLoss', loss_weight=2.0,
                                         activated=False))
    assert isinstance(loss, GaussianFocalLoss)
    assert loss.loss_weight == 2.0 and loss.activated is False


@pytest.mark.parametrize('activated', [True, False])
def test_autocast_and_half_give_float32(activated):
    pred, target, _ = _heatmap(seed=9)
    # inputs that bf16 can carry: no probability within its rounding of 0 or 1
    pred, target = pred.detach().clamp(0.02, 0.9), torch.where(target < 1, target * 0.9, 1.0)
    x = pred if activated else torch.logit(pred)
    loss = GaussianFocalLoss(activated=activated)
    ref = loss(x, target)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = loss(x.bfloat16(), target.bfloat16())
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref, rtol=2e-2, atol=2e-2)
    half = x.half().requires_grad_()
    out = loss(half, target.half())
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref, rtol=2e-2, atol=2e-2)
    out.backward()
    assert half.grad.dtype == torch.float16 and torch.isfinite(half.grad).all()


def test_nan_propagates():
    pred, target, _ = _heatmap(seed=10)
    pred = pred.detach().clone()
    pred[0, 1, 2, 3] = float('nan')
    assert torch.isnan(GaussianFocalLoss()(pred, target))
    assert torch.isnan(GaussianFocalLoss(activated=False)(pred, target))
    pred2 = pred.clone()
    pred2.view(-1)[target.view(-1).eq(1).nonzero()[0]] = float('nan')   # at a positive
    assert torch.isnan(GaussianFocalLoss()(pred2, target))


def test_empty_and_zero_weight():
    pred = torch.zeros(0, 3, 4, 4, requires_grad=True)
    loss = GaussianFocalLoss()(pred, torch.zeros(0, 3, 4, 4))
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    # no positives through pos_inds: the positive term is 0 (mmdet: NaN), negatives count
    p2 = torch.rand(5, 3).clamp(0.01, 0.99).requires_grad_()
    t2 = torch.rand(5, 3)
    loss = GaussianFocalLoss()(p2, t2, torch.zeros(0, dtype=torch.long),
                               torch.zeros(0, dtype=torch.long))
    neg = -(1 - p2 + 1e-12).log() * p2 ** 2 * (1 - t2) ** 4
    torch.testing.assert_close(loss, neg.mean())
    pred, target, _ = _heatmap(seed=11)
    loss = GaussianFocalLoss()(pred, target, weight=torch.zeros(pred.shape))
    assert loss.item() == 0.0 and loss.requires_grad


def test_bad_inputs_raise():
    pred, target, _ = _heatmap()
    with pytest.raises(ValueError, match=r'\(2, 3, 9, 10\).*\(2, 3, 9, 11\)'):
        GaussianFocalLoss()(pred, target[..., :10])
    with pytest.raises(ValueError, match='gamma'):
        GaussianFocalLoss(gamma=-1.0)
    with pytest.raises(ValueError, match='alpha'):
        GaussianFocalLoss(alpha=-2.0)
    with pytest.raises(ValueError, match='reduction'):
        GaussianFocalLoss(reduction='batchmean')
    with pytest.raises(TypeError, match='activated'):
        GaussianFocalLoss(activated='yes')
    with pytest.raises(TypeError, match='target'):
        GaussianFocalLoss()(pred, target.long())
    with pytest.raises(ValueError, match='avg_factor'):
        GaussianFocalLoss()(pred, target, avg_factor=3.0, reduction_override='sum')
    p2, t2 = torch.rand(6, 3), torch.rand(6, 3)
    with pytest.raises(ValueError, match='pos_inds and pos_labels'):
        GaussianFocalLoss()(p2, t2, torch.tensor([0]))
    with pytest.raises(ValueError, match='pos_labels'):
        GaussianFocalLoss()(p2, t2, torch.tensor([0]), torch.tensor([3]))
    with pytest.raises(ValueError, match='pos_inds'):
        GaussianFocalLoss()(p2, t2, torch.tensor([6]), torch.tensor([0]))
    with pytest.raises(ValueError, match='pos_inds'):
        GaussianFocalLoss()(p2, t2, torch.tensor([0, 1]), torch.tensor([0]))
    with pytest.raises(ValueError, match=r'\(N, C\)'):
        GaussianFocalLoss()(pred, target, torch.tensor([0]), torch.tensor([0]))


def test_activated_pred_outside_unit_interval_raises():
    t = torch.rand(4, 3) * 0.9
    for bad in (1.5, -0.5):
        with pytest.raises(ValueError, match='pred'):
            GaussianFocalLoss()(torch.full((4, 3), bad), t)
    GaussianFocalLoss(activated=False)(torch.full((4, 3), 1.5), t)   # logits: any value
