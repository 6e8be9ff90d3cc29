"""Every loss computes and returns float32 for half inputs and under ``torch.autocast``.

The float32 value of a loss is its value on the same inputs given as float32. The inputs of
``_loss_cases`` lie on the bfloat16 grid (and are exact in float16), so a half input holds the
very same numbers and the only difference allowed is the loss's own arithmetic: within 2e-2
(relative, with a 1e-4 absolute floor) as issue 8 asks; a loss that upcasts before any
arithmetic, as ours claim to, matches to float32 rounding, which is checked too.
float64 inputs stay float64.
"""
import pytest
import torch

from _loss_cases import CASE_IDS, CASES, call, cpu_autocast_supports

HALF = [torch.float16, torch.bfloat16]


def _skip_without_cpu_autocast(dtype):
    if not cpu_autocast_supports(dtype):
        pytest.skip(f'torch {torch.__version__} has no CPU autocast to {dtype}')


HALF_IDS = ['float16', 'bfloat16']
REDUCTIONS = ['none', 'mean', 'sum']


def _reductions(case):
    return REDUCTIONS + (['batchmean'] if case.id.startswith('kl_div') else [])


def _cast(x, dtype):
    """Cast floating tensors (pred, float targets, weights) to ``dtype``; leave labels."""
    return x.to(dtype) if isinstance(x, torch.Tensor) and x.is_floating_point() else x


def _float32_value(case, reduction, **extra):
    pred, target, kw = case.inputs()
    return call(case.build(), pred, target, kw, reduction_override=reduction, **extra)


def _assert_close_f32(out, ref):
    assert out.dtype == torch.float32, f'loss returned {out.dtype}, expected torch.float32'
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=2e-2, atol=1e-4)
    # upcast before any arithmetic: the same numbers as the float32 computation
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('dtype', HALF, ids=HALF_IDS)
@pytest.mark.parametrize('case', CASES, ids=CASE_IDS)
def test_half_inputs_give_float32(case, dtype):
    loss = case.build()
    pred, target, kw = case.inputs()
    for reduction in _reductions(case):
        p32 = pred.clone().requires_grad_()
        ref = call(loss, p32, target, kw, reduction_override=reduction)
        ref.sum().backward()
        p = _cast(pred, dtype).requires_grad_()
        out = call(loss, p, _cast(target, dtype), kw, reduction_override=reduction)
        _assert_close_f32(out, ref)
        out.sum().backward()
        # the gradient is the float32 one, rounded once to the input's dtype
        assert p.grad.dtype == dtype
        torch.testing.assert_close(p.grad, p32.grad.to(dtype), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('dtype', HALF, ids=HALF_IDS)
@pytest.mark.parametrize('case', CASES, ids=CASE_IDS)
def test_half_weight_and_avg_factor(case, dtype):
    """A half ``weight`` (and an ``avg_factor``) do not pull the result to half either."""
    loss = case.build()
    pred, target, kw = case.inputs()
    shape = call(loss, pred, target, kw, reduction_override='none').shape
    g = torch.Generator().manual_seed(1)
    weight = (torch.rand(shape, generator=g) + 0.25).bfloat16().float()
    for reduction, avg_factor in (('none', None), ('mean', None), ('sum', None),
                                  ('mean', 3.0)):
        ref = call(loss, pred, target, kw, weight=weight, avg_factor=avg_factor,
                   reduction_override=reduction)
        out = call(loss, _cast(pred, dtype), _cast(target, dtype), kw,
                   weight=weight.to(dtype), avg_factor=avg_factor, reduction_override=reduction)
        _assert_close_f32(out, ref)


@pytest.mark.parametrize('dtype', HALF, ids=HALF_IDS)
@pytest.mark.parametrize('case', CASES, ids=CASE_IDS)
def test_autocast_float32_inputs(case, dtype):
    """Inside ``torch.autocast('cpu', dtype)`` the loss of float32 inputs is unchanged."""
    _skip_without_cpu_autocast(dtype)
    loss = case.build()
    pred, target, kw = case.inputs()
    for reduction in _reductions(case):
        ref = call(loss, pred, target, kw, reduction_override=reduction)
        with torch.autocast('cpu', dtype=dtype):
            out = call(loss, pred, target, kw, reduction_override=reduction)
        _assert_close_f32(out, ref)


@pytest.mark.parametrize('dtype', HALF, ids=HALF_IDS)
@pytest.mark.parametrize('case', CASES, ids=CASE_IDS)
def test_autocast_network_output(case, dtype):
    """A prediction made by an autocast matmul (so half) gives a float32 loss and a finite grad
    back into the float32 parameters."""
    _skip_without_cpu_autocast(dtype)
    loss = case.build()
    pred, target, kw = case.inputs()
    p32 = pred.clone().requires_grad_()
    ref = call(loss, p32, target, kw)
    ref.backward()
    k = pred.shape[-1]
    eye = torch.eye(k, requires_grad=True)  # a float32 "layer" that returns pred exactly
    with torch.autocast('cpu', dtype=dtype):
        p = torch.matmul(pred.reshape(-1, k), eye).reshape(pred.shape)
        assert p.dtype == dtype  # autocast did lower the prediction
        out = call(loss, p, target, kw)
    _assert_close_f32(out, ref)
    out.backward()
    assert eye.grad.dtype == torch.float32
    if p32.grad.abs().max() < torch.finfo(dtype).max:  # else overflows dtype by definition
        assert torch.isfinite(eye.grad).all()


@pytest.mark.parametrize('case', CASES, ids=CASE_IDS)
def test_float64_stays_float64(case):
    loss = case.build()
    pred, target, kw = case.inputs()
    for reduction in _reductions(case):
        ref = call(loss, pred, target, kw, reduction_override=reduction)
        p = _cast(pred, torch.float64).requires_grad_()
        out = call(loss, p, _cast(target, torch.float64), kw, reduction_override=reduction)
        assert out.dtype == torch.float64, f'loss returned {out.dtype} for float64 input'
        torch.testing.assert_close(out.float(), ref, rtol=1e-4, atol=1e-5)
        out.sum().backward()
        assert p.grad.dtype == torch.float64 and torch.isfinite(p.grad).all()


@pytest.mark.parametrize('dtype', HALF, ids=HALF_IDS)
@pytest.mark.parametrize('box_format', ['xyxy', 'bev', '3d'])
def test_giou_functional_and_geometry_under_autocast(box_format, dtype):
    """The functional GIoU loss and the exposed rotated geometry compute in float32 too."""
    _skip_without_cpu_autocast(dtype)
    from bev_losses.losses import giou_loss
    from bev_losses.ops.rotated_iou import bev_iou_giou, box3d_iou_giou
    from _loss_cases import BY_ID
    pred, target, _ = BY_ID[f'giou_{box_format}'].inputs()
    ref = giou_loss(pred, target, reduction='none', box_format=box_format)
    with torch.autocast('cpu', dtype=dtype):
        out = giou_loss(pred.to(dtype), target.to(dtype), reduction='none',
                        box_format=box_format)
    _assert_close_f32(out, ref)
    if box_format != 'xyxy':
        fn = bev_iou_giou if box_format == 'bev' else box3d_iou_giou
        ref_iou, ref_giou = fn(pred, target)
        with torch.autocast('cpu', dtype=dtype):
            iou, giou = fn(pred.to(dtype), target.to(dtype))
        _assert_close_f32(iou, ref_iou)
        _assert_close_f32(giou, ref_giou)
