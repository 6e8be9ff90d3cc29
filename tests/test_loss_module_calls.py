"""Reference checks of the module call paths: ``no_autocast``, the regression and KL modules
against torch's kernels, and sigmoid CrossEntropy (with and without ignored labels) against
mmdet 3.3's class.
"""
import pytest
import torch
import torch.nn.functional as F
from mmdet.models.losses import CrossEntropyLoss as MMDetCE

from bev_losses.losses.base import no_autocast
from bev_losses.losses.cross_entropy import CrossEntropyLoss
from bev_losses.losses.kl_div import KLDivLoss, kl_div
from bev_losses.losses.regression import L1Loss, MSELoss, SmoothL1Loss, smooth_l1_loss

# torch.nn.KLDivLoss(reduction='mean') warns about its convention; the references use it on purpose
pytestmark = pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")


# ----------------------------------------------------------------------------- no_autocast
def test_no_autocast_is_a_noop_outside_and_disables_inside():
    x = torch.randn(2, 3)
    with no_autocast(x):
        assert not torch.is_autocast_enabled('cpu')
        with no_autocast(x):
            assert (x @ x.T).dtype == torch.float32
    assert not torch.is_autocast_enabled('cpu')
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert (x @ x.T).dtype == torch.bfloat16
        with no_autocast(x):
            assert not torch.is_autocast_enabled('cpu')
            assert (x @ x.T).dtype == torch.float32
        assert torch.is_autocast_enabled('cpu')   # restored on exit
        assert (x @ x.T).dtype == torch.bfloat16
    with no_autocast(torch.empty(2, device='meta')):   # a device autocast does not know
        pass


# ------------------------------------------------------------------------------ regression
REG = [(L1Loss, {}, F.l1_loss, {}), (MSELoss, {}, F.mse_loss, {}),
       (SmoothL1Loss, {}, F.smooth_l1_loss, {}),
       (SmoothL1Loss, {'beta': 0.3}, F.smooth_l1_loss, {'beta': 0.3}),
       (SmoothL1Loss, {'beta': 0.0}, F.smooth_l1_loss, {'beta': 0.0})]


@pytest.mark.parametrize('case', REG, ids=lambda c: f'{c[0].__name__}{c[1]}')
@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
@pytest.mark.parametrize('layout', ['contiguous', 'transposed', 'float64'])
def test_regression_module_is_torchs_kernel_bit_for_bit(case, reduction, layout):
    cls, kw, ref_fn, ref_kw = case
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(2, 7, 5, generator=g), torch.randn(2, 7, 5, generator=g)
    target[0, 0, 0] = pred[0, 0, 0]                       # d = 0: L1's gradient there is 0
    if layout == 'transposed':
        pred, target = pred.transpose(0, 2), target.transpose(0, 2)
    elif layout == 'float64':
        pred, target = pred.double(), target.double()
    p1, p2 = pred.clone().requires_grad_(), pred.clone().requires_grad_()
    t1, t2 = target.clone().requires_grad_(), target.clone().requires_grad_()
    ours = cls(reduction=reduction, **kw)(p1, t1)
    ref = ref_fn(p2, t2, reduction=reduction, **ref_kw)
    assert ours.dtype == ref.dtype and torch.equal(ours, ref)
    seed = torch.randn(ref.shape, generator=g, dtype=ref.dtype)
    ours.backward(seed)
    ref.backward(seed)
    assert torch.equal(p1.grad, p2.grad) and torch.equal(t1.grad, t2.grad)


def test_regression_module_still_checks_its_input():
    m = SmoothL1Loss(beta=0.5)
    p = torch.randn(4, 3)
    with pytest.raises(ValueError, match=r'smooth_l1_loss: pred and target must have the same '
                                         r'shape, got pred of shape \(4, 3\) and target of '
                                         r'shape \(4, 2\)'):
        m(p, torch.randn(4, 2))
    with pytest.raises(TypeError, match='smooth_l1_loss: target must be a torch.Tensor'):
        m(p, [0.0] * 12)
    with pytest.raises(TypeError, match='mse_loss: pred must be a floating point tensor'):
        MSELoss()(torch.ones(4, 3, dtype=torch.long), p)
    with pytest.raises(ValueError, match='reduction_override must be one of'):
        L1Loss()(p, p, reduction_override='avg')
    with pytest.raises(ValueError, match='beta must be a finite number >= 0'):
        smooth_l1_loss(p, p, beta=-1.0)
    # an int target is cast to pred's dtype, as before
    out = L1Loss()(p, torch.zeros(4, 3, dtype=torch.long))
    assert torch.equal(out, F.l1_loss(p, torch.zeros(4, 3)))


# ---------------------------------------------------------------------------------- KLDiv
def _kl_data(n, c=10, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    pred = torch.randn(n, c, generator=g, dtype=dtype).log_softmax(1)
    target = torch.randn(n, c, generator=g, dtype=dtype).softmax(1)
    target[0] = 0.0
    target[0, 0] = 1.0                                   # exact zeros: xlogy(0, 0) = 0
    return pred, target


@pytest.mark.parametrize('reduction', ['mean', 'sum', 'batchmean'])
@pytest.mark.parametrize('n', [4, 5000])
def test_kl_equals_torch(reduction, n):
    pred, target = _kl_data(n)
    p1, p2 = pred.clone().requires_grad_(), pred.clone().requires_grad_()
    ours = KLDivLoss(reduction=reduction)(p1, target)
    ref = torch.nn.KLDivLoss(reduction=reduction)(p2, target)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(p1.grad, p2.grad)
    torch.testing.assert_close(kl_div(pred, target, reduction=reduction), ref.detach())


def test_kl_large_transposed_nan_and_second_derivative():
    pred, target = _kl_data(5000, seed=1)
    pred, target = pred.T, target.T                      # non-contiguous (10, 5000)
    p1, p2 = pred.clone().requires_grad_(), pred.clone().requires_grad_()
    ours = KLDivLoss(reduction='batchmean')(p1, target)
    ref = F.kl_div(p2, target, reduction='batchmean')
    torch.testing.assert_close(ours, ref)
    (2 * ours).backward()
    (2 * ref).backward()
    torch.testing.assert_close(p1.grad, p2.grad)
    bad = pred.clone()
    bad[3, 7] = float('nan')
    for reduction in ('mean', 'sum', 'batchmean'):
        assert torch.isnan(KLDivLoss(reduction=reduction)(bad, target))
    # torch's kernels all the way: the second derivative is torch's (0 for KL in pred)
    p = pred.clone().requires_grad_()
    (grad,) = torch.autograd.grad(KLDivLoss()(p, target), p, create_graph=True)
    assert not grad.requires_grad or torch.autograd.grad(grad.sum(), p, allow_unused=True)[0] \
        is None


def test_kl_module_still_checks_its_input():
    pred, target = _kl_data(4)
    with pytest.raises(ValueError, match=r'target of shape \(4, 9\) must have the shape of pred '
                                         r'\(4, 10\)'):
        KLDivLoss()(pred, target[:, :9])
    with pytest.raises(TypeError, match='target must be a floating point tensor'):
        KLDivLoss()(pred, target.long())
    with pytest.raises(ValueError, match='avg_factor can not be used with reduction="batchmean"'):
        KLDivLoss(reduction='batchmean')(pred, target, avg_factor=2.0)
    with pytest.raises(ValueError, match='reduction_override must be one of'):
        KLDivLoss()(pred, target, reduction_override='avg')


# --------------------------------------------------------------------- sigmoid cross-entropy
def _cls_data(n=30, c=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, generator=g) * 2
    labels = torch.randint(0, c + 1, (n,), generator=g)     # c = background
    return x, labels, g


def _assert_value_and_grad(make_ours, make_ref, x):
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours, ref = make_ours(x1), make_ref(x2)
    torch.testing.assert_close(ours, ref)
    ours.sum().backward()
    ref.sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad)


@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
@pytest.mark.parametrize('avg_non_ignore', [False, True])
@pytest.mark.parametrize('extra', ['plain', 'weight', 'avg_factor', 'class_weight'])
def test_sigmoid_ce_without_mask_equals_mmdet(reduction, avg_non_ignore, extra):
    x, labels, g = _cls_data()
    kw, call = {}, {}
    if extra == 'weight':
        call['weight'] = torch.rand(30, generator=g)
    elif extra == 'avg_factor':
        if reduction == 'sum':
            pytest.skip('avg_factor with "sum" is an error (tested elsewhere)')
        call['avg_factor'] = 11.0
    elif extra == 'class_weight':
        kw['class_weight'] = [0.5, 1.0, 2.0, 1.5, 0.7]
    ours = CrossEntropyLoss(use_sigmoid=True, reduction=reduction, avg_non_ignore=avg_non_ignore,
                            **kw)
    ref = MMDetCE(use_sigmoid=True, reduction=reduction, avg_non_ignore=avg_non_ignore, **kw)
    _assert_value_and_grad(lambda p: ours(p, labels, **call), lambda p: ref(p, labels, **call),
                           x)


@pytest.mark.parametrize('reduction', ['mean', 'sum'])
@pytest.mark.parametrize('avg_non_ignore', [False, True])
def test_sigmoid_ce_ignore_index_inside_the_label_range_still_masks(reduction, avg_non_ignore):
    """``ignore_index = 2`` is a valid class id: its samples must still be dropped."""
    x, labels, _ = _cls_data(seed=1)
    assert (labels == 2).any()
    ours = CrossEntropyLoss(use_sigmoid=True, ignore_index=2, reduction=reduction,
                            avg_non_ignore=avg_non_ignore)
    ref = MMDetCE(use_sigmoid=True, ignore_index=2, reduction=reduction,
                  avg_non_ignore=avg_non_ignore)
    _assert_value_and_grad(lambda p: ours(p, labels), lambda p: ref(p, labels), x)
    # and it equals the loss of the kept samples alone
    keep = labels != 2
    kept = CrossEntropyLoss(use_sigmoid=True, reduction='sum')(x[keep], labels[keep])
    torch.testing.assert_close(CrossEntropyLoss(use_sigmoid=True, ignore_index=2,
                                                reduction='sum')(x, labels), kept)


@pytest.mark.parametrize('kind', ['one-hot long', 'soft float', 'float with ignored'])
def test_sigmoid_ce_same_shape_targets(kind):
    x, labels, g = _cls_data(seed=2)
    if kind == 'one-hot long':
        target = F.one_hot(labels, 6)[:, :5]
    else:
        target = torch.rand(30, 5, generator=g)
        if kind == 'float with ignored':
            target[3, 1] = target[7, 4] = -100.0
    ref_target = target.float()
    valid = (ref_target != -100).float()
    ours = CrossEntropyLoss(use_sigmoid=True)
    ref = F.binary_cross_entropy_with_logits
    _assert_value_and_grad(
        lambda p: ours(p, target),
        lambda p: (ref(p, ref_target.clamp_min(0), reduction='none') * valid).mean(), x)
