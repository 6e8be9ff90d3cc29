"""``bev_losses.FlatBatchNorm1d`` equals ``nn.BatchNorm1d`` on ``(N, C, L)`` and ``(N, C)`` inputs.

References: torch's own ``nn.BatchNorm1d`` with the same parameters and buffers, and mmdet3d's
``PillarFeatureNet`` built with ``norm_cfg=dict(type='BN1d')``; float64 for the tight cases.
"""
import copy

import pytest
import torch
from torch import nn

pytest.importorskip('mmdet3d')

from bev_losses.models import FlatBatchNorm1d  # noqa: E402


def _pair(c, **kw):
    ref = nn.BatchNorm1d(c, **kw)
    ours = FlatBatchNorm1d(c, **kw)
    if ref.affine:
        with torch.no_grad():
            ref.weight.uniform_(0.5, 1.5)
            ref.bias.uniform_(-0.5, 0.5)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def _assert_same_state(ref, ours, **tol):
    for (k, a), (k2, b) in zip(ref.state_dict().items(), ours.state_dict().items()):
        assert k == k2
        torch.testing.assert_close(b, a, **tol, msg=f'buffer {k}')


@pytest.mark.parametrize('dtype,tol', [(torch.float64, dict(rtol=1e-12, atol=1e-12)),
                                       (torch.float32, dict(rtol=1e-5, atol=1e-5))])
@pytest.mark.parametrize('shape', [(200, 16, 8), (3, 4, 1), (50, 32, 20)])
@pytest.mark.parametrize('momentum', [0.1, 0.01, None])
def test_training_step_equals_batchnorm1d(shape, dtype, tol, momentum):
    torch.manual_seed(0)
    n, c, length = shape
    ref, ours = _pair(c, eps=1e-3, momentum=momentum)
    ref, ours = ref.to(dtype), ours.to(dtype)
    for step in range(3):  # three steps: the running averages (and num_batches_tracked) too
        x = (torch.randn(shape, dtype=dtype) * 3 + 2).requires_grad_()
        x2 = x.detach().clone().requires_grad_()
        g = torch.randn(shape, dtype=dtype)
        y_ref, y = ref(x), ours(x2)
        assert y.shape == y_ref.shape
        torch.testing.assert_close(y, y_ref, **tol)
        ref.zero_grad()
        ours.zero_grad()
        y_ref.backward(g)
        y.backward(g)
        torch.testing.assert_close(x2.grad, x.grad, **tol)
        torch.testing.assert_close(ours.weight.grad, ref.weight.grad, **tol)
        torch.testing.assert_close(ours.bias.grad, ref.bias.grad, **tol)
        _assert_same_state(ref, ours, **tol)


def test_statistics_are_over_points_and_pillars_closed_form():
    """Training output = (x - mean) / sqrt(var + eps) over dims 0 and 2, biased var."""
    torch.manual_seed(1)
    spread = torch.tensor([1., 4., .2], dtype=torch.float64)[:, None]
    x = torch.randn(7, 3, 5, dtype=torch.float64) * spread
    bn = FlatBatchNorm1d(3, eps=1e-3, affine=False, momentum=1.0).double()
    y = bn(x)
    mean = x.mean(dim=(0, 2), keepdim=True)
    var = x.var(dim=(0, 2), unbiased=False, keepdim=True)
    torch.testing.assert_close(y, (x - mean) / torch.sqrt(var + 1e-3), rtol=1e-12, atol=1e-12)
    # momentum 1: the running statistics are this batch's (unbiased variance)
    torch.testing.assert_close(bn.running_mean, mean.flatten(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(bn.running_var, x.var(dim=(0, 2), unbiased=True),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('shape', [(40, 8, 6), (40, 8)])
def test_eval_mode_is_bitwise_batchnorm1d(shape):
    torch.manual_seed(2)
    ref, ours = _pair(8, eps=1e-3)
    with torch.no_grad():
        ref.running_mean.uniform_(-1, 1)
        ref.running_var.uniform_(0.5, 2)
    ours.load_state_dict(ref.state_dict())
    ref.eval()
    ours.eval()
    x = torch.randn(shape)
    assert torch.equal(ours(x), ref(x))


def test_2d_input_is_batchnorm1d_unchanged():
    torch.manual_seed(3)
    ref, ours = _pair(6)
    x = torch.randn(30, 6)
    assert torch.equal(ours(x), ref(x))
    _assert_same_state(ref, ours, rtol=0, atol=0)


def test_gradcheck_float64():
    torch.manual_seed(4)
    bn = FlatBatchNorm1d(3, eps=1e-3).double()
    x = torch.randn(5, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: bn(t), (x,))


def test_bad_channels_named():
    bn = FlatBatchNorm1d(4)
    with pytest.raises(ValueError, match=r'\(10, 3, 8\).*num_features = 4'):
        bn(torch.randn(10, 3, 8))
    with pytest.raises(ValueError):  # rank 4: nn.BatchNorm1d's own check
        bn(torch.randn(2, 4, 3, 3))


def test_state_dict_interchangeable_with_batchnorm1d():
    ref = nn.BatchNorm1d(5)
    ours = FlatBatchNorm1d(5)
    assert list(ref.state_dict()) == list(ours.state_dict())
    ref.load_state_dict(ours.state_dict())


def test_runs_on_meta():
    bn = FlatBatchNorm1d(8, device='meta')
    x = torch.empty(100, 8, 6, device='meta', requires_grad=True)
    y = bn(x)
    y.sum().backward()
    assert y.shape == (100, 8, 6) and x.grad.shape == x.shape


@pytest.mark.parametrize('training', [True, False])
def test_compiles_in_one_graph_and_equals_eager(training):
    """fullgraph: the autograd Function and the running-average update trace without a break."""
    torch.manual_seed(5)
    ref, ours = _pair(8, eps=1e-3)
    ref.train(training)
    ours.train(training)
    compiled = torch.compile(ours, fullgraph=True, backend='eager')
    x = torch.randn(64, 8, 6, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    y_ref, y = ref(x), compiled(x2)
    torch.testing.assert_close(y, y_ref)
    y_ref.sum().backward()
    y.sum().backward()
    torch.testing.assert_close(x2.grad, x.grad)
    _assert_same_state(ref, ours, rtol=1e-5, atol=1e-6)


def test_pillar_feature_net_equals_mmdet3d_bn1d():
    """mmdet3d's PillarFeatureNet with this norm_cfg equals the one with BN1d (same weights)."""
    from mmdet3d.registry import MODELS
    from mmengine.registry import DefaultScope

    import bev_losses  # noqa: F401
    kw = dict(type='PillarFeatureNet', in_channels=5, feat_channels=[32, 64],
              with_distance=False, voxel_size=[0.4, 0.4, 6.0],
              point_cloud_range=[-19.2, -19.2, -3.0, 19.2, 19.2, 3.0], legacy=False)
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        torch.manual_seed(6)
        ref = MODELS.build(dict(kw, norm_cfg=dict(type='BN1d', eps=1e-3, momentum=0.1)))
        ours = MODELS.build(dict(kw, norm_cfg=dict(type='bev_losses.FlatBatchNorm1d', eps=1e-3,
                                                   momentum=0.1)))
    assert all(isinstance(layer.norm, FlatBatchNorm1d) for layer in ours.pfn_layers)
    assert not any(isinstance(layer.norm, FlatBatchNorm1d) for layer in ref.pfn_layers)
    ours.load_state_dict(ref.state_dict())
    assert list(ours.state_dict()) == list(ref.state_dict())
    ref, ours = ref.double(), ours.double()
    p, m = 300, 8
    num_points = torch.randint(1, m + 1, (p,))
    feats = torch.randn(p, m, 5, dtype=torch.float64) * 3
    coors = torch.zeros(p, 4, dtype=torch.long)
    coors[:, 2:] = torch.randint(0, 96, (p, 2))
    feats2 = copy.deepcopy(feats)
    y_ref = ref(feats, num_points, coors)
    y = ours(feats2, num_points, coors)
    torch.testing.assert_close(y, y_ref, rtol=1e-10, atol=1e-10)
    g = torch.randn_like(y)
    y_ref.backward(g)
    y.backward(g)
    for (name, a), (_, b) in zip(ref.named_parameters(), ours.named_parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-10, atol=1e-10, msg=name)
    _assert_same_state(ref, ours, rtol=1e-10, atol=1e-10)


def test_float32_accuracy_against_float64():
    """As accurate as nn.BatchNorm1d's own 3-d kernel: 36000 rows of mean 3, std 2, padding."""
    torch.manual_seed(7)
    x = torch.randn(4500, 32, 8) * 2 + 3
    x[:, :, 5:] = 0  # padded points, as in a pillar
    g = torch.randn_like(x)
    ref64 = nn.BatchNorm1d(32, eps=1e-3).double()
    x64 = x.double().requires_grad_()
    y64 = ref64(x64)
    y64.backward(g.double())
    errors = {}
    for name, m in (('BN1d', nn.BatchNorm1d(32, eps=1e-3)),
                    ('flat', FlatBatchNorm1d(32, eps=1e-3))):
        xi = x.clone().requires_grad_()
        y = m(xi)
        y.backward(g)
        errors[name] = dict(out=(y.double() - y64).abs().max().item(),
                            dx=(xi.grad.double() - x64.grad).abs().max().item(),
                            dw=((m.weight.grad.double() - ref64.weight.grad).abs().max()
                                / ref64.weight.grad.abs().max()).item(),
                            rv=(m.running_var.double() - ref64.running_var).abs().max().item())
    for k, e in errors['flat'].items():
        assert e < 5 * errors['BN1d'][k] + 1e-6, (k, errors)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_low_precision_input_normalised_in_float32(dtype):
    torch.manual_seed(8)
    bn = FlatBatchNorm1d(4, eps=1e-3)
    x = (torch.randn(50, 4, 6) * 3 + 1).to(dtype)
    y = bn(x)
    assert y.dtype == dtype
    ref = nn.functional.batch_norm(x.float(), None, None, bn.weight, bn.bias, True, 0.1, 1e-3)
    torch.testing.assert_close(y, ref.to(dtype))
    assert bn.running_mean.dtype == torch.float32


def test_float64_constants_stay_float64():
    """momentum=None: the cumulative factor 1/num_batches_tracked is computed in float64."""
    torch.manual_seed(9)
    ref, ours = _pair(3, momentum=None)
    ref, ours = ref.double(), ours.double()
    for _ in range(3):
        x = torch.randn(20, 3, 7, dtype=torch.float64)
        ref(x)
        ours(x)
    _assert_same_state(ref, ours, rtol=1e-14, atol=1e-14)


def test_single_value_per_channel_rejected():
    with pytest.raises(ValueError, match=r'more than 1 value per channel.*\(1, 4, 1\)'):
        FlatBatchNorm1d(4)(torch.randn(1, 4, 1))
