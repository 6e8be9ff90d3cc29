"""L1 / MSE / Smooth L1 against torch.nn.functional and mmdet 3.3's own classes."""
import pytest
import torch
import torch.nn.functional as F
from mmdet.models.losses import L1Loss as MMDetL1Loss
from mmdet.models.losses import MSELoss as MMDetMSELoss
from mmdet.models.losses import SmoothL1Loss as MMDetSmoothL1Loss

from bev_losses.losses.regression import (L1Loss, MSELoss, SmoothL1Loss, l1_loss, mse_loss,
                                          smooth_l1_loss)

REDUCTIONS = ('none', 'mean', 'sum')
# (ours, mmdet's, torch's functional, our functional, constructor kwargs)
CASES = {
    'l1': (L1Loss, MMDetL1Loss, F.l1_loss, l1_loss, {}),
    'mse': (MSELoss, MMDetMSELoss, F.mse_loss, mse_loss, {}),
    'smooth_l1': (SmoothL1Loss, MMDetSmoothL1Loss, F.smooth_l1_loss, smooth_l1_loss,
                  {'beta': 0.5}),
}


def _data(shape=(6, 7), seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    pred = torch.randn(shape, generator=g, dtype=dtype)
    target = torch.randn(shape, generator=g, dtype=dtype)
    return pred, target, g


def _torch_kwargs(name, kw):
    return {'beta': kw['beta']} if name == 'smooth_l1' else {}


@pytest.mark.parametrize('name', CASES)
@pytest.mark.parametrize('reduction', REDUCTIONS)
def test_plain_call_equals_torch(name, reduction):
    ours_cls, _, torch_fn, _, kw = CASES[name]
    pred, target, _ = _data()
    p1 = pred.clone().requires_grad_()
    p2 = pred.clone().requires_grad_()
    ours = ours_cls(reduction=reduction, **kw)(p1, target)
    ref = torch_fn(p2, target, reduction=reduction, **_torch_kwargs(name, kw))
    torch.testing.assert_close(ours, ref)
    ours.sum().backward()
    ref.sum().backward()
    torch.testing.assert_close(p1.grad, p2.grad)


@pytest.mark.parametrize('name', CASES)
@pytest.mark.parametrize('reduction', REDUCTIONS)
@pytest.mark.parametrize('weight_kind', [None, 'full', 'rows'])
@pytest.mark.parametrize('avg_factor', [None, 5.0])
def test_equals_mmdet(name, reduction, weight_kind, avg_factor):
    ours_cls, mm_cls, _, _, kw = CASES[name]
    pred, target, g = _data(seed=1)
    weight = {None: None,
              'full': torch.rand(6, 7, generator=g),
              'rows': torch.rand(6, 1, generator=g)}[weight_kind]
    ours_mod = ours_cls(reduction='mean', loss_weight=0.7, **kw)
    mm_mod = mm_cls(reduction='mean', loss_weight=0.7, **kw)
    p1 = pred.clone().requires_grad_()
    p2 = pred.clone().requires_grad_()
    if reduction == 'sum' and avg_factor is not None:
        with pytest.raises(ValueError, match='avg_factor'):
            ours_mod(p1, target, weight, avg_factor=avg_factor, reduction_override=reduction)
        return
    ours = ours_mod(p1, target, weight, avg_factor=avg_factor, reduction_override=reduction)
    ref = mm_mod(p2, target, weight, avg_factor=avg_factor, reduction_override=reduction)
    torch.testing.assert_close(ours, ref)
    ours.sum().backward()
    ref.sum().backward()
    torch.testing.assert_close(p1.grad, p2.grad)


@pytest.mark.parametrize('name', CASES)
def test_weight_broadcasts_from_the_last_dim_like_mmdet(name):
    """mmdet multiplies the weight onto the element-wise loss with torch broadcasting: a
    ``(N,)`` weight on a square ``(N, N)`` loss scales columns; a per-row weight is
    ``(N, 1)``; a ``(N,)`` weight on ``(N, C)``, ``C != N``, is an error in both."""
    ours_cls, mm_cls, _, _, kw = CASES[name]
    g = torch.Generator().manual_seed(2)
    pred, target = torch.randn(6, 6, generator=g), torch.randn(6, 6, generator=g)
    w = torch.rand(6, generator=g)
    torch.testing.assert_close(ours_cls(**kw)(pred, target, w), mm_cls(**kw)(pred, target, w))
    torch.testing.assert_close(ours_cls(**kw)(pred, target, w[:, None]),
                               mm_cls(**kw)(pred, target, w[:, None]))
    pred, target, g = _data(seed=2)
    w = torch.rand(6, generator=g)
    torch.testing.assert_close(ours_cls(**kw)(pred, target, w[:, None]),
                               mm_cls(**kw)(pred, target, w[:, None]))
    with pytest.raises(RuntimeError):
        mm_cls(**kw)(pred, target, w)
    with pytest.raises(ValueError, match=r'\(6,\).*\(6, 7\).*weight\[:, None\]'):
        ours_cls(**kw)(pred, target, w)


@pytest.mark.parametrize('name', CASES)
@pytest.mark.parametrize('reduction', ['mean', 'sum'])
def test_all_zero_weight_gives_zero_with_graph_like_mmdet(name, reduction):
    ours_cls, mm_cls, _, _, kw = CASES[name]
    pred, target, _ = _data(seed=3)
    p1 = pred.clone().requires_grad_()
    w = torch.zeros(6, 7)
    ours = ours_cls(reduction=reduction, **kw)(p1, target, w)
    ref = mm_cls(reduction=reduction, **kw)(pred, target, w)
    assert ours.item() == ref.item() == 0.0
    assert ours.requires_grad
    ours.backward()
    assert torch.equal(p1.grad, torch.zeros_like(pred))


@pytest.mark.parametrize('name', CASES)
def test_module_equals_function(name):
    ours_cls, _, _, fn, kw = CASES[name]
    pred, target, g = _data(seed=4)
    w = torch.rand(6, 7, generator=g)
    for reduction in REDUCTIONS:
        mod = ours_cls(reduction=reduction, loss_weight=2.5, **kw)(pred, target, w)
        fun = fn(pred, target, w, reduction=reduction, **kw)
        torch.testing.assert_close(mod, 2.5 * fun)
    torch.testing.assert_close(ours_cls(**kw)(pred, target, avg_factor=3.0),
                               fn(pred, target, avg_factor=3.0, **kw))


def test_smooth_l1_closed_form():
    pred = torch.tensor([0.0, 0.2, -0.9, 3.0])
    target = torch.zeros(4)
    beta = 0.5
    expected = torch.tensor([0.0, 0.5 * 0.04 / beta, 0.9 - 0.25, 3.0 - 0.25])
    torch.testing.assert_close(smooth_l1_loss(pred, target, reduction='none', beta=beta),
                               expected)


def test_smooth_l1_beta_zero_is_l1_with_finite_gradient():
    pred, target, _ = _data(seed=5)
    pred[0, :3] = target[0, :3]  # |d| = 0 exactly: 0/0 would appear in a naive gradient
    p1 = pred.clone().requires_grad_()
    p2 = pred.clone().requires_grad_()
    ours = SmoothL1Loss(beta=0.0, reduction='sum')(p1, target)
    ref = F.l1_loss(p2, target, reduction='sum')
    torch.testing.assert_close(ours, ref)
    ours.backward()
    ref.backward()
    assert torch.isfinite(p1.grad).all()
    torch.testing.assert_close(p1.grad, p2.grad)
    # a tiny beta stays finite too, also where d / beta overflows float32
    p3 = torch.tensor([0.0, 1e-30, 1e10], requires_grad=True)
    smooth_l1_loss(p3, torch.zeros(3), beta=1e-30, reduction='sum').backward()
    assert torch.isfinite(p3.grad).all()


@pytest.mark.parametrize('beta', [-1e-3, -1.0, float('nan'), float('inf')])
def test_bad_beta_raises(beta):
    with pytest.raises(ValueError, match='beta'):
        SmoothL1Loss(beta=beta)
    with pytest.raises(ValueError, match='beta'):
        smooth_l1_loss(torch.zeros(2), torch.zeros(2), beta=beta)


def test_bad_beta_type_raises():
    with pytest.raises(TypeError, match='beta'):
        SmoothL1Loss(beta='1')


@pytest.mark.parametrize('name', CASES)
def test_gradcheck_float64(name):
    ours_cls, _, _, _, kw = CASES[name]
    g = torch.Generator().manual_seed(6)
    pred = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    # keep |pred - target| away from the kinks of |.| and of smooth L1 at beta
    target = (pred.detach() + torch.tensor([0.3, -0.7, 1.4], dtype=torch.float64)).clone()
    weight = torch.rand(4, 3, generator=g, dtype=torch.float64)
    mod = ours_cls(**kw)
    assert torch.autograd.gradcheck(lambda p: mod(p, target, weight, avg_factor=2.0), (pred,))
    assert torch.autograd.gradcheck(lambda p: mod(p, target, reduction_override='none'), (pred,))


@pytest.mark.parametrize('name', CASES)
def test_registry_build_from_mmdet3d_scope(name):
    from mmengine.registry import DefaultScope

    import mmdet3d.registry
    ours_cls, _, _, _, kw = CASES[name]
    if not DefaultScope.check_instance_created('test-regression-mmdet3d'):
        DefaultScope.get_instance('test-regression-mmdet3d', scope_name='mmdet3d')
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        loss = mmdet3d.registry.MODELS.build(
            dict(type=f'bev_losses.{ours_cls.__name__}', loss_weight=0.5, **kw))
    assert type(loss) is ours_cls
    assert loss.loss_weight == 0.5
    if kw:
        assert loss.beta == kw['beta']


@pytest.mark.parametrize('name', CASES)
def test_half_input_computes_in_float32(name):
    ours_cls, _, _, _, kw = CASES[name]
    pred, target, _ = _data(seed=7)
    ref = ours_cls(**kw)(pred, target)
    out = ours_cls(**kw)(pred.half(), target.half())
    assert out.dtype == torch.float32
    assert abs(out.item() - ref.item()) <= 2e-2
    out_bf = ours_cls(**kw)(pred.bfloat16(), target)
    assert out_bf.dtype == torch.float32
    assert abs(out_bf.item() - ref.item()) <= 2e-2


@pytest.mark.parametrize('name', CASES)
def test_bf16_autocast_computes_in_float32(name):
    ours_cls, _, _, _, kw = CASES[name]
    pred, target, g = _data(seed=8)
    lin = torch.nn.Linear(7, 7)
    ref = ours_cls(**kw)(lin(pred), target)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        x = lin(pred)
        assert x.dtype == torch.bfloat16  # autocast is really on
        out = ours_cls(**kw)(x, target)
    assert out.dtype == torch.float32
    assert abs(out.item() - ref.item()) <= 2e-2
    out.backward()
    assert torch.isfinite(lin.weight.grad).all()


@pytest.mark.parametrize('name', CASES)
@pytest.mark.parametrize('reduction', REDUCTIONS)
def test_nan_in_pred_propagates(name, reduction):
    ours_cls, _, _, _, kw = CASES[name]
    pred, target, _ = _data(seed=9)
    pred[2, 3] = float('nan')
    out = ours_cls(reduction=reduction, **kw)(pred, target)
    assert torch.isnan(out).any()
    if reduction == 'none':
        assert torch.isnan(out[2, 3]) and torch.isfinite(out[0]).all()


@pytest.mark.parametrize('name', CASES)
def test_empty_inputs_give_zero_with_graph(name):
    ours_cls, _, _, _, kw = CASES[name]
    for reduction in ('mean', 'sum'):
        pred = torch.zeros(0, 7, requires_grad=True)
        out = ours_cls(reduction=reduction, **kw)(pred, torch.zeros(0, 7))
        assert out.item() == 0.0 and out.requires_grad
        out.backward()
        assert pred.grad.shape == (0, 7)
    # mmdet's empty-target case: pred.sum() * 0, i.e. 0 with a graph
    pred = torch.rand(3, 7, requires_grad=True)
    out = ours_cls(**kw)(pred, torch.zeros(0))
    assert out.item() == 0.0 and out.requires_grad
    out.backward()
    assert torch.equal(pred.grad, torch.zeros(3, 7))
    mm = CASES[name][1](**kw)
    if name != 'mse':  # mmdet's MSELoss has no empty-target branch
        assert mm(pred, torch.zeros(0)).item() == 0.0


@pytest.mark.parametrize('name', CASES)
def test_bad_inputs_raise(name):
    ours_cls, _, _, fn, kw = CASES[name]
    mod = ours_cls(**kw)
    with pytest.raises(ValueError, match=r'\(3, 4\).*\(4, 3\)'):
        mod(torch.zeros(3, 4), torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r'\(3, 4\).*\(3,\)'):
        fn(torch.zeros(3, 4), torch.zeros(3))
    with pytest.raises(TypeError, match='pred'):
        mod([1.0, 2.0], torch.zeros(2))
    with pytest.raises(TypeError, match='target'):
        mod(torch.zeros(2), [1.0, 2.0])
    with pytest.raises(TypeError, match='floating'):
        mod(torch.zeros(2, dtype=torch.long), torch.zeros(2))
    with pytest.raises(ValueError, match='weight'):
        mod(torch.zeros(3, 4), torch.zeros(3, 4), torch.ones(5))
    with pytest.raises(ValueError, match='reduction'):
        ours_cls(reduction='avg', **kw)
    with pytest.raises(ValueError, match='reduction_override'):
        mod(torch.zeros(2), torch.zeros(2), reduction_override='batchmean')
    with pytest.raises(TypeError, match='loss_weight'):
        ours_cls(loss_weight='1', **kw)


def test_integer_target_is_cast_to_pred_dtype():
    pred = torch.tensor([0.5, 2.0, -1.0])
    target = torch.tensor([1, 2, 0])
    torch.testing.assert_close(l1_loss(pred, target, reduction='none'),
                               torch.tensor([0.5, 0.0, 1.0]))
