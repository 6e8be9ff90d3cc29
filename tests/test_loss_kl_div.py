"""KLDivLoss against torch.nn.KLDivLoss (every reduction) and a closed-form distillation loss."""
import uuid

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

from bev_losses.losses.kl_div import KLDivLoss, kl_div

REDUCTIONS = ('none', 'mean', 'sum', 'batchmean')
# torch.nn.KLDivLoss warns that its 'mean' is not 'batchmean'; that difference is the point here
pytestmark = pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")


def _data(shape=(6, 5, 3), seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    logp = F.log_softmax(torch.randn(shape, generator=g, dtype=dtype), 1).requires_grad_()
    q = torch.softmax(torch.randn(shape, generator=g, dtype=dtype) * 2, 1)
    return logp, q, g


def _assert_grad(a, b, x, rtol=1e-5, atol=1e-7):
    assert a.shape == b.shape and a.dtype == b.dtype
    torch.testing.assert_close(a, b, rtol=rtol, atol=atol)
    ga, = torch.autograd.grad(a.sum(), x)
    gb, = torch.autograd.grad(b.sum(), x)
    torch.testing.assert_close(ga, gb, rtol=rtol, atol=atol)


@pytest.mark.parametrize('reduction', REDUCTIONS)
@pytest.mark.parametrize('log_target', [False, True])
def test_equals_torch(reduction, log_target):
    logp, q, _ = _data()
    target = q.log() if log_target else q
    _assert_grad(KLDivLoss(reduction=reduction, log_target=log_target)(logp, target),
                 torch.nn.KLDivLoss(reduction=reduction, log_target=log_target)(logp, target),
                 logp)


def test_zero_target_entries_follow_torch():
    logp, q, _ = _data()
    q = q.clone()
    q[0, 0] = 0.0
    _assert_grad(KLDivLoss(reduction='sum')(logp, q), F.kl_div(logp, q, reduction='sum'), logp)


def test_reduction_override_weight_and_avg_factor():
    logp, q, g = _data(seed=1)
    m = KLDivLoss(loss_weight=0.5)
    elem = F.kl_div(logp, q, reduction='none')
    w = torch.rand(6, generator=g)
    torch.testing.assert_close(m(logp, q, reduction_override='batchmean'),
                               0.5 * elem.sum() / 6)
    torch.testing.assert_close(m(logp, q, w, reduction_override='sum'),
                               0.5 * (elem * w.view(6, 1, 1)).sum())
    eps = torch.finfo(torch.float32).eps
    torch.testing.assert_close(m(logp, q, w, avg_factor=4.0),
                               0.5 * (elem * w.view(6, 1, 1)).sum() / (4.0 + eps))
    torch.testing.assert_close(m(logp, q), 0.5 * kl_div(logp, q))


@pytest.mark.parametrize('temperature', [1.0, 4.0])
def test_distillation_closed_form(temperature):
    g = torch.Generator().manual_seed(2)
    student = torch.randn(8, 5, generator=g, requires_grad=True)
    teacher = torch.randn(8, 5, generator=g)
    loss = KLDivLoss(reduction='batchmean', from_logits=True, temperature=temperature)
    pt = torch.softmax(teacher / temperature, 1)
    ps = torch.softmax(student / temperature, 1)
    expected = temperature ** 2 * (pt * (pt.log() - ps.log())).sum() / 8
    _assert_grad(loss(student, teacher), expected, student)
    # identical logits: zero divergence
    assert loss(teacher, teacher).abs().item() < 1e-6


def test_gradcheck_float64():
    logp, q, g = _data((3, 4), seed=3, dtype=torch.float64)
    for red in REDUCTIONS:
        assert gradcheck(lambda z: kl_div(z, q, reduction=red), (logp,))
    x = torch.randn(3, 4, 2, generator=g, dtype=torch.float64, requires_grad=True)
    t = torch.randn(3, 4, 2, generator=g, dtype=torch.float64)
    assert gradcheck(lambda z: kl_div(z, t, reduction='batchmean', from_logits=True,
                                      temperature=2.0), (x,))


def test_registry_build_from_mmdet3d_scope():
    MMDET3D_MODELS = pytest.importorskip('mmdet3d.registry').MODELS
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        DefaultScope.get_instance(f't-{uuid.uuid4().hex}', scope_name='mmdet3d')
        loss = MMDET3D_MODELS.build(dict(type='bev_losses.KLDivLoss', reduction='batchmean',
                                         from_logits=True, temperature=2.0))
    assert isinstance(loss, KLDivLoss) and loss.reduction == 'batchmean'


def test_big_logits_finite():
    x = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 3.0]], requires_grad=True)
    t = torch.tensor([[-1e4, 1e4, 0.0], [0.0, 0.0, 0.0]])
    loss = KLDivLoss(reduction='batchmean', from_logits=True, temperature=2.0)(x, t)
    g, = torch.autograd.grad(loss, x)
    assert torch.isfinite(loss) and torch.isfinite(g).all()


def test_autocast_and_half_give_float32():
    logp, q, _ = _data(seed=4)
    ref = KLDivLoss(reduction='batchmean')(logp.detach(), q)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = KLDivLoss(reduction='batchmean')(logp.detach().bfloat16(), q.bfloat16())
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref, rtol=2e-2, atol=2e-2)
    half = logp.detach().half().requires_grad_()
    out = KLDivLoss(reduction='batchmean')(half, q.half())
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref, rtol=2e-2, atol=2e-2)
    out.backward()
    assert half.grad.dtype == torch.float16


def test_nan_propagates():
    logp, q, _ = _data(seed=5)
    logp = logp.detach().clone()
    logp[1, 2, 0] = float('nan')
    assert torch.isnan(KLDivLoss()(logp, q))
    assert torch.isnan(KLDivLoss(from_logits=True)(logp, q))


def test_empty_gives_zero_with_graph():
    x = torch.zeros(0, 4, requires_grad=True)
    for red in REDUCTIONS[1:]:
        loss = KLDivLoss(reduction=red)(x, torch.zeros(0, 4))
        assert loss.item() == 0.0 and loss.requires_grad


def test_bad_inputs_raise():
    logp, q, _ = _data()
    with pytest.raises(ValueError, match=r'\(6, 5, 2\).*\(6, 5, 3\)'):
        KLDivLoss()(logp, q[..., :2])
    with pytest.raises(ValueError, match='reduction'):
        KLDivLoss(reduction='avg')
    with pytest.raises(ValueError, match='reduction_override'):
        KLDivLoss()(logp, q, reduction_override='elementwise_mean')
    with pytest.raises(ValueError, match='temperature'):
        KLDivLoss(from_logits=True, temperature=0.0)
    with pytest.raises(ValueError, match='temperature'):
        KLDivLoss(temperature=2.0)
    with pytest.raises(ValueError, match='log_target'):
        KLDivLoss(from_logits=True, log_target=True)
    with pytest.raises(TypeError, match='from_logits'):
        KLDivLoss(from_logits=1)
    with pytest.raises(TypeError, match='target'):
        KLDivLoss()(logp, q.long())
    with pytest.raises(ValueError, match='avg_factor'):
        KLDivLoss(reduction='batchmean')(logp, q, avg_factor=3.0)
    with pytest.raises(ValueError, match='avg_factor'):
        KLDivLoss(reduction='sum')(logp, q, avg_factor=3.0)


@pytest.mark.parametrize('reduction', REDUCTIONS)
def test_log_target_zero_probability_contributes_zero(reduction):
    pred = torch.log_softmax(torch.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]]), 1)
    pred.requires_grad_()
    prob = torch.tensor([[0.0, 0.25, 0.75], [0.5, 0.5, 0.0]])
    out = KLDivLoss(log_target=True, reduction=reduction)(pred, prob.log())
    ref = torch.nn.KLDivLoss(reduction=reduction)(pred, prob)   # probability space: finite
    _assert_grad(out, ref, pred)
    nan_pred = pred.detach().clone()
    nan_pred[0, 0] = float('nan')                                # NaN still propagates
    assert torch.isnan(KLDivLoss(log_target=True, reduction='sum')(nan_pred, prob.log()))
