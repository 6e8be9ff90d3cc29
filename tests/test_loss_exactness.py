"""Exactness and boundary cases found on the way to the GPU core (issue 12), each against an
independent reference: mmdet 3.3's classes, ``torch.nn.functional``, closed forms."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmdet.models.losses import FocalLoss as MMDetFocalLoss
from mmdet.models.losses import GaussianFocalLoss as MMDetGaussianFocalLoss

import bev_losses.losses as L
from _loss_cases import CASES, call


@pytest.mark.parametrize('alpha', [0.9, 0.25, 1 / 3])
@pytest.mark.parametrize('gamma', [2.0, 1.5, 0.0])
def test_sigmoid_focal_float64_is_float64_exact(alpha, gamma):
    """No constant is rounded through float32: alpha = 0.9 agrees to float64 precision."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 5, generator=g, dtype=torch.float64) * 3
    labels = torch.randint(0, 6, (64,), generator=g)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours = L.FocalLoss(alpha=alpha, gamma=gamma, reduction='sum')(x1, labels)
    ref = MMDetFocalLoss(alpha=alpha, gamma=gamma, reduction='sum')(x2, labels)
    assert ours.dtype == torch.float64
    torch.testing.assert_close(ours, ref, rtol=1e-14, atol=0)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize('ignore', [False, True])
@pytest.mark.parametrize('smoothing', [0.0, 0.2])
def test_softmax_ce_class_weight_float64_equals_torch(ignore, smoothing):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(40, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (40,), generator=g)
    if ignore:
        y[::7] = -100
    cw = [0.3, 1.7, 2.2, 0.9]
    ours = L.CrossEntropyLoss(class_weight=cw, label_smoothing=smoothing)(x, y)
    ref = F.cross_entropy(x, y, weight=torch.tensor(cw, dtype=torch.float64),
                          label_smoothing=smoothing)
    torch.testing.assert_close(ours, ref, rtol=1e-15, atol=0)


@pytest.mark.parametrize('box_format,width', [('bev', 5), ('3d', 7)])
def test_rotated_giou_gradient_is_zero_at_identical_boxes(box_format, width):
    """``1 - GIoU`` is minimal (0) at identical boxes: the gradient chosen there is 0, so SGD
    started at the target stays there (it used to climb to 0.016 in 20 steps)."""
    g = torch.Generator().manual_seed(2)
    t = torch.rand(64, width, generator=g, dtype=torch.float64) * 4 + 0.5
    t[:, -1] = torch.rand(64, generator=g, dtype=torch.float64) * 2 * math.pi - math.pi
    t[:8, -1] = 0.0
    t[8:16, -1] = math.pi / 2
    loss = L.GIoULoss(box_format=box_format)
    p = t.clone().requires_grad_()
    value = loss(p, t)
    value.backward()
    assert value.item() <= 1e-15
    assert p.grad.abs().max().item() <= 1e-15
    p = t.clone().requires_grad_()
    opt = torch.optim.SGD([p], lr=0.1)
    for _ in range(20):
        opt.zero_grad()
        loss(p, t).backward()
        opt.step()
    assert loss(p, t).item() <= 1e-15


def test_gaussian_focal_rejects_targets_outside_0_1():
    pred = torch.rand(2, 3, 4, 4)
    for bad in (1.5, -0.25):
        target = torch.rand(2, 3, 4, 4)
        target[1, 2, 3, 0] = bad
        with pytest.raises(ValueError, match=rf'target values must lie in \[0, 1\].*got '
                                             rf'{bad}.*\(2, 3, 4, 4\)'):
            L.GaussianFocalLoss()(pred, target)


@pytest.mark.parametrize('case', CASES, ids=lambda c: c.id)
def test_bad_avg_factor_names_it(case):
    pred, target, kwargs = case.inputs()
    loss = case.build()
    if getattr(loss, 'reduction', 'mean') == 'batchmean':
        pytest.skip('avg_factor is not allowed with batchmean (tested elsewhere)')
    with pytest.raises(TypeError, match=r"avg_factor must be None, a number or a one-element "
                                        r"tensor, got str \('3'\)"):
        call(loss, pred, target, {**kwargs, 'avg_factor': '3'})
    with pytest.raises(ValueError, match=r'avg_factor must be a number or a one-element'):
        call(loss, pred, target, {**kwargs, 'avg_factor': torch.ones(2)})


def test_gaussian_pos_inds_without_positives_is_the_negative_term():
    """mmdet's reduce of an empty positive term is NaN for 'mean' without avg_factor and 0
    with one; ours is the negative term in both cases."""
    g = torch.Generator().manual_seed(3)
    pred = torch.rand(6, 4, generator=g).clamp(1e-3, 1 - 1e-3)
    target = torch.rand(6, 4, generator=g) * 0.9
    none = torch.zeros(0, dtype=torch.long)
    ours = L.GaussianFocalLoss()(pred, target, none, none, avg_factor=2.0)
    ref = MMDetGaussianFocalLoss()(pred, target, none, none, avg_factor=2.0)
    torch.testing.assert_close(ours, ref)
    ours_mean = L.GaussianFocalLoss()(pred, target, none, none)
    neg = -(1 - pred + 1e-12).log() * pred.pow(2) * (1 - target).pow(4)
    torch.testing.assert_close(ours_mean, neg.mean())
    assert torch.isnan(MMDetGaussianFocalLoss()(pred, target, none, none))


def test_mmdet_also_rejects_out_of_range_labels():
    """What the README says of mmdet: its softmax cross-entropy and focal loss raise on labels
    out of range too (torch's kernel / F.one_hot); ours raises a ValueError naming them."""
    from mmdet.models.losses import CrossEntropyLoss as MMDetCE
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 5, 2])
    with pytest.raises((IndexError, RuntimeError)):
        MMDetCE()(x, y)
    with pytest.raises(RuntimeError):
        MMDetFocalLoss()(x, torch.tensor([0, 1, 9, 2]))
    with pytest.raises(ValueError, match=r'target labels must lie in \[0, 2\].*got 5'):
        L.CrossEntropyLoss()(x, y)
    with pytest.raises(ValueError, match=r'target labels must lie in \[0, 3\].*got 9'):
        L.FocalLoss()(x, torch.tensor([0, 1, 9, 2]))
