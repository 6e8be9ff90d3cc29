"""Every training-path mode of the losses against the references, with the arguments heads pass.

* L1 / MSE / Smooth L1 with ``weight`` and/or ``avg_factor`` against mmdet 3.3's classes and
  float64 gradcheck;
* KLDivLoss reduced without weight against ``torch.nn.KLDivLoss``;
* softmax CrossEntropy / Focal against ``F.cross_entropy`` and an autograd reference;
* GaussianFocalLoss against mmdet 3.3, in both of its variants (the CPU index list of
  positives and the dense mask every other device and ``torch.compile`` take).

Each case checks the value, the gradient of ``pred`` and, where the fast path supports it, the
gradient of a ``target`` that requires one.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from mmdet.models.losses import L1Loss as MMDetL1Loss
from mmdet.models.losses import MSELoss as MMDetMSELoss
from mmdet.models.losses import SmoothL1Loss as MMDetSmoothL1Loss

from bev_losses.losses.regression import L1Loss, MSELoss, SmoothL1Loss

# torch.nn.KLDivLoss(reduction='mean') warns about its convention; the references use it on purpose
pytestmark = pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")

REG = {
    'l1': (L1Loss, MMDetL1Loss, {}),
    'mse': (MSELoss, MMDetMSELoss, {}),
    'smooth_l1': (SmoothL1Loss, MMDetSmoothL1Loss, {'beta': 0.5}),
    'smooth_l1_beta0': (SmoothL1Loss, MMDetL1Loss, {'beta': 0.0}),  # mmdet asserts beta > 0
}


def _reg_data(seed=0, shape=(8, 5), dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    pred = torch.randn(shape, generator=g, dtype=dtype)
    target = torch.randn(shape, generator=g, dtype=dtype)
    target[0, 0] = pred[0, 0]            # d = 0 exactly: L1's gradient there is 0
    target[1, 1] = pred[1, 1] - 0.5      # d = beta exactly: Smooth L1's kink
    return pred, target, g


def _weights(g):
    """(ours, mmdet's) pairs: mmdet needs a weight that broadcasts by torch's rules."""
    full = torch.rand(8, 5, generator=g)
    rows = torch.rand(8, generator=g)
    cols = torch.rand(5, generator=g)
    return {
        'full': (full, full),
        'rows (N, 1)': (rows[:, None], rows[:, None]),
        'cols (C,)': (cols, cols),
        'scalar': (torch.tensor(0.3), torch.tensor(0.3)),
        'float64': (full.double(), full),
    }


@pytest.mark.parametrize('name', REG)
@pytest.mark.parametrize('reduction', ['mean', 'sum'])
@pytest.mark.parametrize('avg_factor', [None, 7.0, 'tensor'])
@pytest.mark.parametrize('wkind', ['full', 'rows (N, 1)', 'cols (C,)',
                                   'scalar', 'float64', None])
def test_regression_weighted_equals_mmdet(name, reduction, avg_factor, wkind):
    ours_cls, mm_cls, kw = REG[name]
    if reduction == 'sum' and avg_factor is not None:
        return  # ValueError, tested in test_loss_regression.py
    pred, target, g = _reg_data()
    w_ours, w_mm = (None, None) if wkind is None else _weights(g)[wkind]
    if avg_factor == 'tensor':
        avg_factor = torch.tensor(7.0)
    p1, t1 = pred.clone().requires_grad_(), target.clone().requires_grad_()
    p2, t2 = pred.clone().requires_grad_(), target.clone().requires_grad_()
    mm_kw = {} if mm_cls is MMDetL1Loss else kw
    call = dict(avg_factor=avg_factor, reduction_override=reduction)
    ours = ours_cls(loss_weight=1.3, **kw)(p1, t1, w_ours, **call)
    ref = mm_cls(loss_weight=1.3, **mm_kw)(p2, t2, w_mm, **call)
    torch.testing.assert_close(ours, ref)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(p1.grad, p2.grad)
    torch.testing.assert_close(t1.grad, t2.grad)


@pytest.mark.parametrize('name', REG)
def test_regression_gradcheck_float64(name):
    ours_cls, _, kw = REG[name]
    pred, target, g = _reg_data(seed=3, shape=(4, 3), dtype=torch.float64)
    target[0, 0] += 0.01   # keep gradcheck's finite differences off the kinks
    target[1, 1] += 0.01
    w = torch.rand(4, 1, generator=g, dtype=torch.float64)
    mod = ours_cls(**kw)
    torch.autograd.gradcheck(lambda p, t: mod(p, t, w, avg_factor=torch.tensor(2.5)),
                             (pred.requires_grad_(), target.requires_grad_()))


@pytest.mark.parametrize('name', REG)
def test_regression_weight_requiring_grad_takes_the_autograd_path(name):
    ours_cls, mm_cls, kw = REG[name]
    pred, target, g = _reg_data(seed=4)
    w1 = torch.rand(8, 5, generator=g).requires_grad_()
    w2 = w1.detach().clone().requires_grad_()
    ours = ours_cls(**kw)(pred, target, w1, avg_factor=4.0)
    ref = mm_cls(**({} if mm_cls is MMDetL1Loss else kw))(pred, target, w2, avg_factor=4.0)
    torch.testing.assert_close(ours, ref)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(w1.grad, w2.grad)


@pytest.mark.parametrize('name', REG)
def test_regression_nan_propagates_and_empty_is_zero(name):
    ours_cls, _, kw = REG[name]
    pred, target, g = _reg_data(seed=5)
    pred[3, 2] = float('nan')
    w = torch.rand(8, 5, generator=g)
    assert torch.isnan(ours_cls(**kw)(pred, target, w, avg_factor=2.0))
    assert torch.isnan(ours_cls(reduction='sum', **kw)(pred, target, w))
    empty = torch.zeros(0, 5, requires_grad=True)
    out = ours_cls(**kw)(empty, torch.zeros(0, 5), torch.zeros(0, 5), avg_factor=1.0)
    assert out.item() == 0.0 and out.requires_grad
    out.backward()
    assert empty.grad.shape == (0, 5)


@pytest.mark.parametrize('name', ['l1', 'mse'])
@pytest.mark.parametrize('reduction', ['mean', 'sum'])
def test_regression_big_plain_call_equals_torch(name, reduction):
    """Large plain calls: values and both gradients equal torch's."""
    pred, target, _ = _reg_data(seed=8, shape=(1 << 15, 5))
    pred[0, 0] = target[0, 0]
    fn = {'l1': F.l1_loss, 'mse': F.mse_loss}[name]
    p1, t1 = pred.clone().requires_grad_(), target.clone().requires_grad_()
    p2, t2 = pred.clone().requires_grad_(), target.clone().requires_grad_()
    ours = REG[name][0](reduction=reduction)(p1, t1)
    ref = fn(p2, t2, reduction=reduction)
    torch.testing.assert_close(ours, ref)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(p1.grad, p2.grad)
    torch.testing.assert_close(t1.grad, t2.grad)


def test_regression_under_no_grad_and_without_grad():
    pred, target, g = _reg_data(seed=6)
    w = torch.rand(8, 5, generator=g)
    ref = MMDetMSELoss()(pred, target, w, avg_factor=3.0)
    with torch.no_grad():
        torch.testing.assert_close(MSELoss()(pred, target, w, avg_factor=3.0), ref)
    out = MSELoss()(pred, target, w, avg_factor=3.0)
    assert not out.requires_grad
    torch.testing.assert_close(out, ref)


# ---------------------------------------------------------------------------------- KLDiv
from bev_losses.losses.kl_div import KLDivLoss  # noqa: E402
from bev_losses.losses.reduction import EPS  # noqa: E402


def _kl_data(seed=0, shape=(6, 4, 3), dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    pred = torch.randn(shape, generator=g, dtype=dtype).log_softmax(1)
    target = torch.randn(shape, generator=g, dtype=dtype).softmax(1)
    target[0, :, ...] = 0.0
    target[0, 0, ...] = 1.0                          # exact zeros in the first sample
    return pred, target


@pytest.mark.parametrize('reduction', ['mean', 'sum', 'batchmean'])
@pytest.mark.parametrize('layout', ['contiguous', 'transposed'])
def test_kl_equals_torch(reduction, layout):
    pred, target = _kl_data()
    if layout == 'transposed':
        pred, target = pred.transpose(0, 2), target.transpose(0, 2)
    p1, p2 = pred.clone().requires_grad_(), pred.clone().requires_grad_()
    ours = KLDivLoss(reduction=reduction)(p1, target)
    ref = torch.nn.KLDivLoss(reduction=reduction)(p2, target)
    torch.testing.assert_close(ours, ref)
    (ours * 3).backward()
    (ref * 3).backward()
    torch.testing.assert_close(p1.grad, p2.grad)


@pytest.mark.parametrize('avg_factor', [5.0, torch.tensor(5.0)])
def test_kl_avg_factor_is_mmdets_mean(avg_factor):
    pred, target = _kl_data(seed=1)
    p1, p2 = pred.clone().requires_grad_(), pred.clone().requires_grad_()
    ours = KLDivLoss(loss_weight=0.5)(p1, target, avg_factor=avg_factor)
    ref = 0.5 * F.kl_div(p2, target, reduction='sum') / (avg_factor + EPS)
    torch.testing.assert_close(ours, ref)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(p1.grad, p2.grad)


def test_kl_target_requiring_grad_matches_torch():
    pred, target = _kl_data(seed=2)
    target = target.clamp_min(1e-3)  # torch's target gradient is NaN at target 0
    p1, p2 = pred.clone().requires_grad_(), pred.clone().requires_grad_()
    t1, t2 = target.clone().requires_grad_(), target.clone().requires_grad_()
    ours = KLDivLoss(reduction='batchmean')(p1, t1)
    ref = F.kl_div(p2, t2, reduction='batchmean')
    torch.testing.assert_close(ours, ref)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(p1.grad, p2.grad)
    torch.testing.assert_close(t1.grad, t2.grad)


def test_kl_gradcheck_float64_nan_and_empty():
    pred, target = _kl_data(seed=3, shape=(3, 4), dtype=torch.float64)
    mod = KLDivLoss(reduction='batchmean')
    torch.autograd.gradcheck(lambda p: mod(p, target), (pred.requires_grad_(),))
    bad = pred.detach().clone()
    bad[1, 2] = float('nan')
    for reduction in ('mean', 'sum', 'batchmean'):
        out = KLDivLoss(reduction=reduction)(bad, target)
        ref = F.kl_div(bad, target, reduction=reduction)
        assert torch.isnan(out) and torch.isnan(ref)
    bad[1, 2] = float('-inf')
    target[1, 2] = 0.0      # 0 * -inf: NaN in torch, so here too
    assert torch.isnan(F.kl_div(bad, target, reduction='sum'))
    assert torch.isnan(KLDivLoss(reduction='sum')(bad, target))
    empty = torch.zeros(0, 4, requires_grad=True)
    out = KLDivLoss(reduction='batchmean')(empty, torch.zeros(0, 4))
    assert out.item() == 0.0 and out.requires_grad
    out.backward()
    assert empty.grad.shape == (0, 4)


# ------------------------------------------------------------- softmax cross-entropy / focal
from mmdet.models.losses import CrossEntropyLoss as MMDetCrossEntropyLoss  # noqa: E402

from bev_losses.losses.cross_entropy import CrossEntropyLoss  # noqa: E402

_BIG = 1 << 13   # elements of the larger cases
from bev_losses.losses.focal import FocalLoss  # noqa: E402


def _cls_data(seed=0, n=12, c=5, dtype=torch.float32, ignore=None):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, generator=g, dtype=dtype) * 3
    x[0, 2] = 40.0                       # a confident row: p_y close to 1 when y = 2
    y = torch.randint(0, c, (n,), generator=g)
    y[0] = 2
    if ignore is not None:
        y[3] = ignore
        y[n - 1] = ignore
    return x, y, g


def _focal_ref(x, y, gamma, cw=None, ignore_index=-100):
    """Per-sample softmax focal loss by autograd on torch's log_softmax (the textbook form)."""
    valid = y != ignore_index
    safe = y.masked_fill(~valid, 0)
    logpt = F.log_softmax(x, 1).gather(1, safe[:, None]).squeeze(1)
    q = 1 - logpt.exp()
    if 0 < gamma < 1:   # the library's documented clamp: a finite gradient at p_y = 1
        q = q.clamp_min(torch.finfo(q.dtype).tiny)
    loss = -q.pow(gamma) * logpt * valid
    return loss if cw is None else loss * cw[safe]


def _assert_same(ours, ref, x1, x2):
    torch.testing.assert_close(ours, ref)
    g = torch.linspace(0.5, 1.5, ours.numel()).reshape(ours.shape)
    (ours * g).sum().backward()
    (ref * g).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad)


@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
@pytest.mark.parametrize('cw', [None, [1.0, 2.0, 0.5, 1.5, 3.0]])
@pytest.mark.parametrize('ignore_index', [-100, 255, 1])
def test_ce_equals_torch(reduction, cw, ignore_index):
    x, y, _ = _cls_data(ignore=None if ignore_index == 1 else ignore_index)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours = CrossEntropyLoss(class_weight=cw, ignore_index=ignore_index,
                            reduction=reduction)(x1, y)
    ref = F.cross_entropy(x2, y, weight=None if cw is None else torch.tensor(cw),
                          ignore_index=ignore_index, reduction=reduction)
    _assert_same(ours, ref, x1, x2)


@pytest.mark.parametrize('avg_factor', [None, 6.0, torch.tensor(6.0)])
@pytest.mark.parametrize('cw', [None, [1.0, 2.0, 0.5, 1.5, 3.0]])
def test_ce_weight_avg_factor_equals_mmdet(avg_factor, cw):
    x, y, g = _cls_data(seed=1, ignore=-100)
    w = torch.rand(12, generator=g)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours = CrossEntropyLoss(class_weight=cw, loss_weight=0.7)(x1, y, w, avg_factor=avg_factor)
    ref = MMDetCrossEntropyLoss(class_weight=cw, loss_weight=0.7)(
        x2, y, w, avg_factor=avg_factor)
    _assert_same(ours, ref, x1, x2)


@pytest.mark.parametrize('gamma', [0.0, 0.5, 1.0, 2.0, 2.5])
@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
def test_softmax_focal_equals_autograd_reference(gamma, reduction):
    x, y, _ = _cls_data(seed=2, ignore=-100)
    cw = torch.tensor([1.0, 2.0, 0.5, 1.5, 3.0])
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours = FocalLoss(use_sigmoid=False, gamma=gamma, class_weight=cw.tolist(),
                     reduction=reduction)(x1, y)
    elem = _focal_ref(x2, y, gamma, cw)
    valid = (y != -100)
    ref = {'none': elem, 'sum': elem.sum(),
           'mean': elem.sum() / (cw[y.clamp_min(0)] * valid).sum()}[reduction]
    _assert_same(ours, ref, x1, x2)
    if gamma == 0:
        torch.testing.assert_close(ours, F.cross_entropy(x, y, weight=cw, reduction=reduction))


@pytest.mark.parametrize('gamma', [0.0, 0.5, 1.0, 2.0, 2.5])
def test_softmax_gradcheck_float64(gamma):
    x, y, _ = _cls_data(seed=3, n=5, c=4, dtype=torch.float64, ignore=-100)
    x[0, 2] = 3.0      # keep the confident row inside gradcheck's finite-difference range
    mod = FocalLoss(use_sigmoid=False, gamma=gamma, reduction='sum')
    torch.autograd.gradcheck(lambda z: mod(z, y), (x.requires_grad_(),))
    if gamma == 0:
        ce = CrossEntropyLoss(class_weight=[1.0, 2.0, 3.0, 4.0])
        torch.autograd.gradcheck(lambda z: ce(z, y), (x,))


@pytest.mark.parametrize('gamma', [0.5, 2.0])
def test_softmax_perfect_prediction_and_big_logits(gamma):
    x = torch.tensor([[1e4, -1e4, 0.0], [0.0, 0.0, 200.0]], requires_grad=True)
    y = torch.tensor([0, 2])
    out = FocalLoss(use_sigmoid=False, gamma=gamma, reduction='sum')(x, y)
    assert out.item() == 0.0
    out.backward()
    assert torch.isfinite(x.grad).all()
    x2 = torch.tensor([[1e4, -1e4, 0.0]], requires_grad=True)
    out = CrossEntropyLoss()(x2, torch.tensor([1]))
    ref = F.cross_entropy(x2.detach(), torch.tensor([1]))
    torch.testing.assert_close(out, ref)


@pytest.mark.parametrize('make', [lambda: CrossEntropyLoss(),
                                  lambda: FocalLoss(use_sigmoid=False)])
def test_softmax_nan_and_empty(make):
    x, y, _ = _cls_data(seed=4)
    x[5, 1] = float('nan')
    out = make()(x, y, reduction_override='none')
    assert torch.isnan(out[5]) and torch.isfinite(out[torch.arange(12) != 5]).all()
    assert torch.isnan(make()(x, y))
    empty = torch.zeros(0, 5, requires_grad=True)
    out = make()(empty, torch.zeros(0, dtype=torch.long))
    assert out.item() == 0.0 and out.requires_grad
    out.backward()
    assert empty.grad.shape == (0, 5)


def test_softmax_bad_labels_still_raise_value_error():
    x, y, _ = _cls_data(seed=5)
    for bad in (5, -1):
        y2 = y.clone()
        y2[4] = bad
        for mod in (CrossEntropyLoss(), FocalLoss(use_sigmoid=False)):
            with pytest.raises(ValueError, match='target'):
                mod(x, y2)


# --------------------------------------------------------------------------- Gaussian focal
from mmdet.models.losses import GaussianFocalLoss as MMDetGaussianFocalLoss  # noqa: E402

from bev_losses.losses import gaussian_focal as gaussian_focal_module  # noqa: E402
from bev_losses.losses.gaussian_focal import GaussianFocalLoss, _ones_index  # noqa: E402


@pytest.fixture(params=['cpu index', 'dense'])
def gaussian_variant(request, monkeypatch):
    """Run a Gaussian focal test in both variants: on CPU the positives are an index list;
    ``dense`` forces the mask formulation every other device (and torch.compile) takes."""
    if request.param == 'dense':
        monkeypatch.setattr(gaussian_focal_module, 'host_reads_free', lambda t: False)
    return request.param


def _gf_data(shape=(2, 3, 9, 11), seed=0, dtype=torch.float32, n_pos=5):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(shape, generator=g, dtype=dtype) ** 4
    flat = target.view(-1)
    flat[torch.randperm(flat.numel(), generator=g)[:n_pos]] = 1.0
    pred = torch.rand(shape, generator=g, dtype=dtype).clamp(1e-4, 1 - 1e-4)
    pred.view(-1)[0] = 1.0                       # p = 1 exactly: log(1 - p + eps) is finite
    target.view(-1)[0] = 0.5
    return pred, target


@pytest.mark.parametrize('params', [dict(), dict(alpha=1.0, gamma=2.0), dict(alpha=0.0),
                                    dict(alpha=2.5, gamma=0.0, pos_weight=2.0, neg_weight=0.5),
                                    dict(alpha=0.5, gamma=3.0), dict(gamma=1.0)])
@pytest.mark.parametrize('reduction,avg_factor', [('mean', None), ('sum', None),
                                                  ('mean', 7.0), ('mean', 'tensor')])
def test_gaussian_focal_sum_equals_mmdet(params, reduction, avg_factor, gaussian_variant):
    pred, target = _gf_data()
    if params.get('alpha', 2.0) < 1:
        # mmdet's autograd of (1 - p)**alpha is NaN at p = 1 (times a zero mask); ours is finite
        pred = pred.clamp_max(1 - 1e-4)
    if avg_factor == 'tensor':
        avg_factor = torch.tensor(7.0)
    p1, p2 = pred.clone().requires_grad_(), pred.clone().requires_grad_()
    ours = GaussianFocalLoss(reduction=reduction, loss_weight=0.9, **params)(
        p1, target, avg_factor=avg_factor)
    ref = MMDetGaussianFocalLoss(reduction=reduction, loss_weight=0.9, **params)(
        p2, target, avg_factor=avg_factor)
    torch.testing.assert_close(ours, ref)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(p1.grad, p2.grad)


@pytest.mark.parametrize('activated', [True, False])
@pytest.mark.parametrize('reduction', ['none', 'mean'])
def test_gaussian_focal_permuted_input_equals_mmdet(activated, reduction, gaussian_variant):
    """A channels-last view (non-contiguous input)."""
    pred, target = _gf_data(shape=(2, 9, 11, 3), seed=1)
    pred, target = pred.permute(0, 3, 1, 2), target.permute(0, 3, 1, 2)
    x = pred if activated else torch.logit(pred.clamp(1e-4, 1 - 1e-4))
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours = GaussianFocalLoss(activated=activated, reduction=reduction)(x1, target)
    ref = MMDetGaussianFocalLoss(reduction=reduction)(
        x2 if activated else x2.sigmoid().clamp(1e-4, 1 - 1e-4), target)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5)
    ours.sum().backward()
    ref.sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-4, atol=1e-5)


def test_gaussian_focal_sum_target_grad_nan_empty_no_positives(gaussian_variant):
    pred, target = _gf_data(seed=2)
    # a target that requires a gradient takes the autograd path: both gradients equal mmdet's
    p1, p2 = pred.clone().requires_grad_(), pred.clone().requires_grad_()
    t1, t2 = target.clone().requires_grad_(), target.clone().requires_grad_()
    ours = GaussianFocalLoss()(p1, t1, avg_factor=3.0)
    ref = MMDetGaussianFocalLoss()(p2, t2, avg_factor=3.0)
    torch.testing.assert_close(ours, ref)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(p1.grad, p2.grad)
    torch.testing.assert_close(t1.grad, t2.grad)
    bad = pred.clone()
    bad[1, 2, 3, 4] = float('nan')
    assert torch.isnan(GaussianFocalLoss()(bad, target))
    assert torch.isnan(GaussianFocalLoss(reduction='sum')(bad, target))
    empty = torch.zeros(0, 3, 4, 4, requires_grad=True)
    out = GaussianFocalLoss()(empty, torch.zeros(0, 3, 4, 4), avg_factor=1.0)
    assert out.item() == 0.0 and out.requires_grad
    out.backward()
    assert empty.grad.shape == empty.shape
    no_pos = target.clamp_max(0.9)
    p1, p2 = pred.clamp_max(0.99).requires_grad_(), pred.clamp_max(0.99).requires_grad_()
    ours = GaussianFocalLoss()(p1, no_pos)
    ref = MMDetGaussianFocalLoss()(p2, no_pos)
    torch.testing.assert_close(ours, ref)


@pytest.mark.parametrize('activated', [True, False])
@pytest.mark.parametrize('reduction', ['none', 'mean'])
def test_gaussian_focal_gradcheck_float64_and_one_full_saved_tensor(activated, reduction,
                                                                    gaussian_variant):
    pred, target = _gf_data(shape=(1, 2, 3, 4), seed=3, dtype=torch.float64, n_pos=2)
    pred = pred.clamp(0.05, 0.95)
    if not activated:
        pred = torch.logit(pred)
    mod = GaussianFocalLoss(alpha=2.0, gamma=4.0, pos_weight=1.5, neg_weight=0.7,
                            activated=activated, reduction=reduction)
    torch.autograd.gradcheck(lambda p: mod(p, target), (pred.requires_grad_(),))
    # one tensor of pred's shape is kept for backward (the analytic gradient); the index
    # variant adds the positives' index and their own small gradient
    pred, target = _gf_data(shape=(1, 2, 48, 48), seed=3, dtype=torch.float64, n_pos=5)
    pred = pred.clamp(0.05, 0.95).requires_grad_()
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        mod(pred, target)
    full = [t for t in saved if t.numel() >= pred.numel()]
    assert len(full) == 1 and full[0].shape == pred.shape
    assert sum(t.numel() for t in saved) <= pred.numel() + 64


@pytest.mark.parametrize('shape', [(5,), (127,), (128,), (3, 129), (2, 10, 64, 64)])
def test_ones_index_equals_eq_nonzero(shape):
    g = torch.Generator().manual_seed(4)
    t = torch.rand(shape, generator=g)
    flat = t.view(-1)
    flat[torch.randperm(flat.numel(), generator=g)[:7]] = 1.0
    flat[-1] = 1.0
    flat[0] = 1.5           # above 1: its row is searched, but it is not a positive
    flat[min(1, flat.numel() - 1)] = float('nan')
    found, bounds = _ones_index(t)
    assert torch.equal(found, t.reshape(-1).eq(1).nonzero().squeeze(1))
    found, _ = _ones_index(t.transpose(0, -1))
    assert torch.equal(found, t.transpose(0, -1).reshape(-1).eq(1).nonzero().squeeze(1))
    if t.numel() > 1:       # NaN in the heatmap: the range is NaN, the check looks closer
        assert math.isnan(bounds[0]) and math.isnan(bounds[1])
    clean = torch.nan_to_num(t, nan=0.25)
    assert _ones_index(clean)[1] == [clean.min().item(), clean.max().item()]
