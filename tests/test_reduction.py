"""The shared reducer against mmdet 3.3's own ``weight_reduce_loss``."""
import pytest
import torch
from mmdet.models.losses.utils import weight_reduce_loss as mmdet_weight_reduce_loss

from bev_losses.losses.reduction import EPS, align_weight, check_reduction, weight_reduce_loss


@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
@pytest.mark.parametrize('use_weight', [False, True])
@pytest.mark.parametrize('avg_factor', [None, 7.0])
def test_matches_mmdet(reduction, use_weight, avg_factor):
    g = torch.Generator().manual_seed(0)
    loss = torch.rand(5, 3, generator=g)
    weight = torch.rand(5, 3, generator=g) if use_weight else None
    if reduction == 'sum' and avg_factor is not None:
        with pytest.raises(ValueError, match='avg_factor'):
            weight_reduce_loss(loss, weight, reduction, avg_factor)
        return
    ours = weight_reduce_loss(loss, weight, reduction, avg_factor)
    ref = mmdet_weight_reduce_loss(loss, weight, reduction, avg_factor)
    torch.testing.assert_close(ours, ref, rtol=0, atol=0)


def test_avg_factor_closed_form():
    loss = torch.tensor([1.0, 2.0, 3.0])
    out = weight_reduce_loss(loss, reduction='mean', avg_factor=2.0)
    assert out.item() == pytest.approx(6.0 / (2.0 + EPS))


def test_weight_alignment_rules():
    loss = torch.ones(4, 3)
    w_rows = torch.tensor([1.0, 0.0, 2.0, 0.0])
    torch.testing.assert_close(align_weight(w_rows, loss) * loss, w_rows[:, None].expand(4, 3))
    w_cols = torch.tensor([1.0, 2.0, 3.0])
    torch.testing.assert_close(align_weight(w_cols, loss) * loss, w_cols.expand(4, 3))
    flat = torch.arange(12.0)
    torch.testing.assert_close(align_weight(flat, loss), flat.view(4, 3))
    with pytest.raises(ValueError, match=r'\(5,\).*\(4, 3\)'):
        align_weight(torch.ones(5), loss)
    with pytest.raises(TypeError, match='weight'):
        align_weight([1.0, 2.0], loss)


def test_empty_gives_zero_with_graph():
    pred = torch.zeros(0, 3, requires_grad=True)
    for reduction in ('mean', 'sum'):
        out = weight_reduce_loss(pred * 2, reduction=reduction)
        assert out.item() == 0.0 and out.requires_grad
        out.backward()
        assert pred.grad is not None and pred.grad.shape == pred.shape


def test_all_zero_weight_keeps_graph():
    pred = torch.rand(6, requires_grad=True)
    out = weight_reduce_loss(pred ** 2, torch.zeros(6), 'mean', avg_factor=3.0)
    assert out.item() == 0.0 and out.requires_grad
    out.backward()
    assert torch.equal(pred.grad, torch.zeros(6))


def test_nan_propagates():
    loss = torch.tensor([1.0, float('nan')])
    assert torch.isnan(weight_reduce_loss(loss, reduction='mean'))


@pytest.mark.parametrize('bad', ['avg', 'MEAN', None, 1])
def test_bad_reduction(bad):
    with pytest.raises(ValueError, match='reduction'):
        check_reduction(bad)
