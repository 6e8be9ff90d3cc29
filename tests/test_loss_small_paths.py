"""Small-input paths of the losses (per-call overhead, issue 7) against the fused paths they
bypass and the references: torch.nn.functional, mmdet 3.3, float64 gradcheck. Values,
gradients, NaN propagation, error messages and autocast behaviour must not depend on the path.
"""
import sys

import pytest
import torch
import torch.nn.functional as F
from mmdet.models.losses import FocalLoss as MMDetFocalLoss
from mmdet.models.losses import GaussianFocalLoss as MMDetGaussianFocalLoss

from bev_losses.losses import (CrossEntropyLoss, FocalLoss, GaussianFocalLoss, KLDivLoss, L1Loss,
                               MSELoss, SmoothL1Loss)
from bev_losses.losses.cross_entropy import (_CE_FUSED_MIN_NUMEL, _PY_MINMAX_NUMEL,
                                             _SoftmaxFocalIndex, _check_labels, cross_entropy)
from bev_losses.losses.focal import (_SIGMOID_FUSED_MIN_NUMEL, _sigmoid_focal_small,
                                     _SigmoidFocalIndex, _softmax_focal_small)
from bev_losses.losses.gaussian_focal import (_SUM_FUSED_MIN_NUMEL, _GaussianFocalSum,
                                              _small_sum)


def _logits(n=16, c=5, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(n, c, generator=g) * 3).to(dtype)
    return x, torch.randint(0, c, (n,), generator=g)


def _value_and_grad(fn, x):
    x = x.detach().clone().requires_grad_()
    out = fn(x)
    out.backward()
    return out.detach(), x.grad


def _assert_same(fn_a, fn_b, x, **tol):
    va, ga = _value_and_grad(fn_a, x)
    vb, gb = _value_and_grad(fn_b, x)
    torch.testing.assert_close(va, vb, **tol)
    torch.testing.assert_close(ga, gb, **tol)


def test_thresholds_select_the_paths():
    assert 16 * 5 < _CE_FUSED_MIN_NUMEL and 16 * 5 < _SIGMOID_FUSED_MIN_NUMEL
    assert 2 * 3 * 8 * 8 < _SUM_FUSED_MIN_NUMEL


# ------------------------------------------------------------------ softmax cross-entropy
@pytest.mark.parametrize('reduction', ['mean', 'sum', 'none'])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_ce_small_module_path_equals_torch_and_the_fused_function(reduction, dtype):
    x, y = _logits(dtype=dtype)
    mod = CrossEntropyLoss(reduction=reduction)
    _assert_same(lambda p: mod(p, y).sum(), lambda p: F.cross_entropy(p, y, reduction=reduction)
                 .sum(), x)
    fused = {'mean': lambda v: v.mean(), 'sum': lambda v: v.sum(), 'none': lambda v: v.sum()}
    _assert_same(lambda p: mod(p, y).sum(),
                 lambda p: fused[reduction](_SoftmaxFocalIndex.apply(p, y, 0.0)), x)


def test_ce_small_path_ignored_labels_nan_and_all_ignored():
    x, y = _logits(seed=1)
    y[3] = -100
    _assert_same(lambda p: CrossEntropyLoss()(p, y), lambda p: F.cross_entropy(p, y), x)
    y0 = y.masked_fill(y == -100, 0)
    _assert_same(lambda p: CrossEntropyLoss(ignore_index=2)(p, y0),
                 lambda p: F.cross_entropy(p, y0, ignore_index=2), x)
    # all ignored: 0 connected to the graph (torch: NaN), as the checked path gives
    xa = x.clone().requires_grad_()
    out = CrossEntropyLoss()(xa, torch.full((16,), -100))
    assert out.item() == 0.0 and out.requires_grad
    out.backward()
    assert torch.equal(xa.grad, torch.zeros_like(x))
    # NaN in pred propagates (mean, sum, none)
    xn = x.clone()
    xn[4, 1] = float('nan')
    y2 = y.clone()
    y2[3] = 0
    assert torch.isnan(CrossEntropyLoss()(xn, y2))
    assert torch.isnan(CrossEntropyLoss(reduction='sum')(xn, y2))
    out = CrossEntropyLoss(reduction='none')(xn, y2)
    assert torch.isnan(out[4]) and torch.isfinite(out[torch.arange(16) != 4]).all()


def test_ce_small_path_errors_are_the_checked_paths():
    x, y = _logits()
    for bad in (5, -1, 7):
        y2 = y.clone()
        y2[2] = bad
        with pytest.raises(ValueError) as ours:
            CrossEntropyLoss()(x, y2)
        with pytest.raises(ValueError) as functional:
            cross_entropy(x, y2)
        assert str(ours.value) == str(functional.value)
        assert f'got {bad}' in str(ours.value) and 'target labels must lie in [0, 4]' \
            in str(ours.value)
    with pytest.raises(ValueError, match='does not fit pred'):
        CrossEntropyLoss()(x, y[:8])
    with pytest.raises(ValueError, match='does not fit pred'):
        CrossEntropyLoss()(x, y.view(4, 4))
    with pytest.raises(TypeError, match='floating dtype'):
        CrossEntropyLoss()(x, y.float())
    with pytest.raises(TypeError, match='bool'):
        CrossEntropyLoss()(x, y > 2)


def test_ce_small_path_other_label_dtypes_spatial_and_autocast():
    x, y = _logits(seed=2)
    _assert_same(lambda p: CrossEntropyLoss()(p, y.int()), lambda p: F.cross_entropy(p, y), x)
    g = torch.Generator().manual_seed(3)
    xs = torch.randn(2, 4, 3, 3, generator=g)
    ys = torch.randint(0, 4, (2, 3, 3), generator=g)
    _assert_same(lambda p: CrossEntropyLoss()(p, ys), lambda p: F.cross_entropy(p, ys), xs)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = CrossEntropyLoss()(x.bfloat16(), y)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, F.cross_entropy(x.bfloat16().float(), y))


def test_ce_fused_path_above_threshold_equals_torch():
    x, y = _logits(n=_CE_FUSED_MIN_NUMEL // 5 + 8, seed=4)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        CrossEntropyLoss()(x.requires_grad_(), y)
    assert len(saved) == 1                                # the fused Function's gradient
    _assert_same(lambda p: CrossEntropyLoss()(p, y), lambda p: F.cross_entropy(p, y),
                 x.detach())


def test_check_labels_python_and_tensor_paths_agree(monkeypatch):
    ce_mod = sys.modules[_check_labels.__module__]   # the package exports a function of its name
    y = torch.tensor([0, 3, 2, 9])
    for n in (0, _PY_MINMAX_NUMEL):
        monkeypatch.setattr(ce_mod, '_PY_MINMAX_NUMEL', n)
        assert _check_labels(torch.tensor([0, 1, 2]), 3, -100) is True
        assert _check_labels(torch.tensor([0, -100, 2]), 3, -100) is False
        with pytest.raises(ValueError, match=r'got 9 \(labels of shape \(4,\)\)'):
            _check_labels(y, 5, -100)


# ----------------------------------------------------------------------- sigmoid focal
@pytest.mark.parametrize('gamma', [0.0, 1.0, 2.0, 3.0])
def test_sigmoid_focal_small_equals_fused_and_mmdet(gamma):
    g = torch.Generator().manual_seed(5)
    x = torch.randn(16, 5, generator=g) * 4
    y = torch.randint(0, 6, (16,), generator=g)
    _assert_same(lambda p: _sigmoid_focal_small(p, y, gamma, 0.25).sum(),
                 lambda p: _SigmoidFocalIndex.apply(p, y, gamma, 0.25, None).sum(), x)
    _assert_same(lambda p: FocalLoss(gamma=gamma)(p, y),
                 lambda p: MMDetFocalLoss(gamma=gamma)(p, y), x)


def test_sigmoid_focal_small_gradcheck_nan_and_gamma_below_one():
    g = torch.Generator().manual_seed(6)
    x = torch.randn(6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 4, (6,), generator=g)
    torch.autograd.gradcheck(lambda p: FocalLoss()(p, y), (x,))
    xn = x.detach().clone()
    xn[1, 2] = float('nan')
    out = FocalLoss(reduction='none')(xn, y)
    assert torch.isnan(out[1, 2]) and torch.isfinite(out[0]).all()
    # gamma in (0, 1) keeps the fused Function (finite gradient at p_t = 0)
    xe = torch.tensor([[40.0, -40.0]], requires_grad=True)
    FocalLoss(gamma=0.5, reduction='sum')(xe, torch.tensor([0])).backward()
    assert torch.isfinite(xe.grad).all()


# ---------------------------------------------------------------------- softmax focal
@pytest.mark.parametrize('gamma', [0.0, 1.0, 2.0, 2.5])
def test_softmax_focal_small_equals_fused(gamma):
    x, y = _logits(seed=7)
    _assert_same(lambda p: _softmax_focal_small(p, y, gamma).sum(),
                 lambda p: _SoftmaxFocalIndex.apply(p, y, gamma).sum(), x)
    _assert_same(lambda p: FocalLoss(use_sigmoid=False, gamma=gamma)(p, y),
                 lambda p: _SoftmaxFocalIndex.apply(p, y, gamma).mean(), x)
    if gamma == 0:
        _assert_same(lambda p: FocalLoss(use_sigmoid=False, gamma=0.0)(p, y),
                     lambda p: F.cross_entropy(p, y), x)


def test_softmax_focal_small_nan_errors_and_gradcheck():
    x, y = _logits(seed=8)
    x[2, 0] = float('nan')
    out = FocalLoss(use_sigmoid=False, reduction='none')(x, y)
    assert torch.isnan(out[2]) and torch.isfinite(out[torch.arange(16) != 2]).all()
    y2 = y.clone()
    y2[0] = 5
    with pytest.raises(ValueError, match='target labels must lie in'):
        FocalLoss(use_sigmoid=False)(x, y2)
    xd, yd = _logits(n=5, c=3, seed=9, dtype=torch.float64)
    torch.autograd.gradcheck(lambda p: FocalLoss(use_sigmoid=False)(p, yd),
                             (xd.requires_grad_(),))


# ----------------------------------------------------------------------- Gaussian focal
@pytest.mark.parametrize('alpha,gamma,pos_weight,neg_weight',
                         [(2.0, 4.0, 1.0, 1.0), (1.0, 2.0, 1.5, 0.5), (3.0, 3.0, 1.0, 2.0),
                          (0.0, 4.0, 1.0, 1.0)])
def test_gaussian_focal_small_equals_fused_and_mmdet(alpha, gamma, pos_weight, neg_weight):
    g = torch.Generator().manual_seed(10)
    p = torch.rand(2, 3, 8, 8, generator=g).clamp(1e-4, 1 - 1e-4)
    t = torch.rand(2, 3, 8, 8, generator=g) ** 4
    t.view(-1)[::37] = 1.0
    _assert_same(lambda q: _small_sum(q, t, alpha, gamma, pos_weight, neg_weight),
                 lambda q: _GaussianFocalSum.apply(q, t, alpha, gamma, pos_weight, neg_weight),
                 p)
    kw = dict(alpha=alpha, gamma=gamma, pos_weight=pos_weight, neg_weight=neg_weight)
    _assert_same(lambda q: GaussianFocalLoss(**kw)(q, t, avg_factor=7.0),
                 lambda q: MMDetGaussianFocalLoss(**kw)(q, t, avg_factor=7.0), p)


def test_gaussian_focal_small_nan_and_bad_pred():
    p = torch.rand(1, 2, 4, 4).clamp(0.01, 0.99)
    t = torch.rand(1, 2, 4, 4)
    t[0, 0, 1, 1] = 1.0
    p[0, 1, 2, 2] = float('nan')
    assert torch.isnan(GaussianFocalLoss()(p, t))
    with pytest.raises(ValueError, match='pred values must lie in'):
        GaussianFocalLoss()(p.nan_to_num() + 1.5, t)


# -------------------------------------------------------------------- regression / KL
@pytest.mark.parametrize('mod,ref', [(L1Loss(), F.l1_loss), (MSELoss(), F.mse_loss),
                                     (SmoothL1Loss(beta=0.5),
                                      lambda a, b: F.smooth_l1_loss(a, b, beta=0.5))])
def test_regression_module_fast_path_is_torchs_kernel(mod, ref):
    g = torch.Generator().manual_seed(11)
    r, t = torch.randn(16, 7, generator=g), torch.randn(16, 7, generator=g)
    va, ga = _value_and_grad(lambda p: mod(p, t), r)
    vb, gb = _value_and_grad(lambda p: ref(p, t), r)
    assert torch.equal(va, vb) and torch.equal(ga, gb)
    assert mod(r.half(), t.half()).dtype == torch.float32
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert mod(r, t).dtype == torch.float32
    with pytest.raises(ValueError, match='same shape'):
        mod(r, t[:, :6])
    r[0, 0] = float('nan')
    assert torch.isnan(mod(r, t))


def test_kl_module_fast_path_is_torchs_and_target_grads_take_the_checked_path():
    g = torch.Generator().manual_seed(12)
    p = torch.randn(16, 5, generator=g).log_softmax(1)
    t = torch.randn(16, 5, generator=g).softmax(1)
    ref = torch.nn.KLDivLoss(reduction='batchmean')
    va, ga = _value_and_grad(lambda q: KLDivLoss(reduction='batchmean')(q, t), p)
    vb, gb = _value_and_grad(lambda q: ref(q, t), p)
    assert torch.equal(va, vb) and torch.equal(ga, gb)
    tg = t.clone().requires_grad_()
    KLDivLoss(reduction='batchmean')(p, tg).backward()
    tr = t.clone().requires_grad_()
    ref(p, tr).backward()
    torch.testing.assert_close(tg.grad, tr.grad)
    with pytest.raises(ValueError, match='must have the shape of pred'):
        KLDivLoss()(p, t[:8])
