"""``bev_losses.FlatBatchNorm1d``: ``nn.BatchNorm1d`` of ``(N, C, L)`` as an ``(N * L, C)`` matrix.

mmdet3d's pillar and voxel encoders (``PFNLayer`` in ``PillarFeatureNet``,
``DynamicPillarFeatureNet``, ...) normalise the points of every pillar with a ``BatchNorm1d``
on a ``(pillars, channels, points)`` tensor. Batch norm of a 3-d input takes its statistics over
dimensions 0 and 2, which is exactly batch norm of the ``(pillars * points, channels)`` matrix of
the same values; but on a CPU torch's kernel for a short last dimension (8-32 points) is slow,
forward and backward (``benchmarks/bench_flat_batch_norm.py``). This subclass computes the same
function on the matrix, with column sums and an analytic backward: a drop-in ``norm_cfg``::

    pts_voxel_encoder=dict(type='PillarFeatureNet', ...,
                           norm_cfg=dict(type='bev_losses.FlatBatchNorm1d', eps=1e-3,
                                         momentum=0.01))

Same parameters, buffers and state-dict keys as ``nn.BatchNorm1d`` (checkpoints load either
way); the same statistics, running averages and gradients, up to the order of floating-point
summation (tests/test_flat_batch_norm.py). 2-d inputs ``(N, C)`` go to ``nn.BatchNorm1d``
unchanged. Measured on CPUs only: on a GPU cuDNN's kernel for the 3-d input is not slow, and
the flattening adds a copy there (keep ``BN1d`` on a GPU unless you measure otherwise).
"""
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from bev_losses.registry import MODELS

__all__ = ['FlatBatchNorm1d', 'flat_batch_norm_train']


class _FlatBatchNorm(torch.autograd.Function):
    """Training-mode batch norm of a ``(M, C)`` matrix over its rows, with the analytic backward.

    Statistics in two passes (the mean, then the mean of the squared deviations: no
    cancellation), each a plain ``sum`` over dimension 0, which torch computes blockwise
    (cascade summation: relative error about 2e-7 over 1e5 float32 rows). torch's own CPU kernel
    for a 2-d input is as fast but accumulates its statistics less accurately (tens of times the
    error of its 3-d kernel against float64: ``benchmarks/bench_flat_batch_norm.py`` prints
    both), ``var_mean`` is accurate but about ten times slower.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Optional[Tensor], bias: Optional[Tensor],
                eps: float) -> Tuple[Tensor, Tensor, Tensor]:
        m = x.shape[0]
        mean = x.sum(0) / m
        centred = x - mean
        var = (centred * centred).sum(0) / m
        invstd = torch.rsqrt(var + eps)
        scale = invstd if weight is None else invstd * weight
        out = centred * scale if bias is None else torch.addcmul(bias, centred, scale)
        ctx.save_for_backward(centred, invstd, weight)
        ctx.has_bias = bias is not None
        ctx.mark_non_differentiable(mean, var)
        return out, mean, var

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor, _gm, _gv):
        centred, invstd, weight = ctx.saved_tensors
        m = centred.shape[0]
        xhat = centred * invstd
        sum_g = grad.sum(0)
        sum_gx = (grad * xhat).sum(0)
        scale = invstd if weight is None else invstd * weight
        grad_x = (grad - sum_g / m - xhat * (sum_gx / m)) * scale
        grad_w = sum_gx if weight is not None and ctx.needs_input_grad[1] else None
        grad_b = sum_g if ctx.has_bias and ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b, None


def flat_batch_norm_train(x: Tensor, weight: Optional[Tensor], bias: Optional[Tensor],
                          eps: float) -> Tuple[Tensor, Tensor, Tensor]:
    """Batch norm of ``x`` ``(M, C)`` with the statistics of its rows (training mode).

    Returns ``(out (M, C), mean (C,), biased variance (C,))``; ``out`` is differentiable with
    respect to ``x``, ``weight`` and ``bias`` (``(C,)`` or ``None``). float16 / bfloat16 inputs
    are normalised in float32 and returned in their dtype.
    """
    if x.dim() != 2:
        raise ValueError(f'flat_batch_norm_train: x must be (M, C), got {tuple(x.shape)}')
    low = x.dtype in (torch.float16, torch.bfloat16)
    xf = x.float() if low else x
    w = None if weight is None else weight.to(xf.dtype)
    b = None if bias is None else bias.to(xf.dtype)
    out, mean, var = _FlatBatchNorm.apply(xf, w, b, eps)
    return (out.to(x.dtype) if low else out), mean, var


@MODELS.register_module()
class FlatBatchNorm1d(nn.BatchNorm1d):
    """``nn.BatchNorm1d`` whose ``(N, C, L)`` input is normalised as the ``(N * L, C)`` matrix.

    Args: those of ``nn.BatchNorm1d`` (``num_features``, ``eps``, ``momentum``, ``affine``,
    ``track_running_stats``).

    Shapes:
        input: ``(N, C)`` or ``(N, C, L)``; output: the input's shape.

    Training mode (or no running statistics) normalises with the batch's statistics and updates
    the running averages as ``nn.BatchNorm1d`` does (``momentum``, or the cumulative average
    when it is ``None``; the unbiased variance); evaluation mode uses the running statistics
    through ``F.batch_norm``.
    """

    _abbr_ = 'bn'  # mmcv's build_norm_layer names the layer ``bn`` as for BatchNorm1d

    def forward(self, input: Tensor) -> Tensor:
        if input.dim() != 3:
            return super().forward(input)  # (N, C) or a wrong rank: nn.BatchNorm1d's own checks
        n, c, length = input.shape
        if c != self.num_features:
            raise ValueError(f'FlatBatchNorm1d: input of shape {tuple(input.shape)} has {c} '
                             f'channels in dimension 1, expected num_features = '
                             f'{self.num_features}')
        flat = input.transpose(1, 2).reshape(n * length, c)
        use_batch_stats = self.training or (self.running_mean is None
                                            and self.running_var is None)
        if not use_batch_stats:
            out = nn.functional.batch_norm(flat, self.running_mean, self.running_var,
                                           self.weight, self.bias, False, 0.0, self.eps)
        else:
            if flat.shape[0] < 2:
                raise ValueError(f'FlatBatchNorm1d: expected more than 1 value per channel '
                                 f'when training, got input of shape {tuple(input.shape)}')
            out, mean, var = flat_batch_norm_train(flat, self.weight, self.bias, self.eps)
            if self.training and self.track_running_stats and self.running_mean is not None:
                with torch.no_grad():
                    self.num_batches_tracked.add_(1)
                    if self.momentum is None:  # cumulative moving average (a tensor: no sync)
                        factor = 1.0 / self.num_batches_tracked.to(self.running_mean.dtype)
                    else:
                        factor = self.momentum
                    m = flat.shape[0]
                    unbiased = (var * (m / (m - 1))).to(self.running_var.dtype)
                    self.running_mean.mul_(1 - factor).add_(mean.to(self.running_mean.dtype)
                                                            * factor)
                    self.running_var.mul_(1 - factor).add_(unbiased * factor)
        return out.reshape(n, length, c).transpose(1, 2)
