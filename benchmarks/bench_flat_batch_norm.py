"""``bev_losses.FlatBatchNorm1d`` against ``BN1d`` (nn.BatchNorm1d) in mmdet3d's pillar encoder.

    python benchmarks/bench_flat_batch_norm.py \
        [--config configs/compare/01_bev_gaussian_focal_l1.py] [--frames 20] [--rounds 3] \
        [--threads 1]

On the config's own training frames (the synthetic data set is generated first if missing), the
detector built twice from the config, once with the pillar encoder's ``norm_cfg`` of type
``BN1d`` and once ``bev_losses.FlatBatchNorm1d`` (the same weights), interleaved frame by frame
so that both see the same machine:

1. ``PillarFeatureNet`` forward + backward alone on the frame's voxels (outputs checked equal
   first);
2. a whole training iteration (forward, loss, backward) on the same batch.

Prints one JSON line per measurement: the median milliseconds per frame of each and their ratio
(``BN1d`` / ``FlatBatchNorm1d``), with ``/proc/loadavg``. A last line gives the accuracy of the
normalisation on the first frame's pillar features (the linear layer's output), float32 against
float64: the largest error of the output, of the input gradient and of the running variance for
``BN1d``'s 3-d kernel, for torch's kernel on the ``(N * L, C)`` matrix (plain ``BatchNorm1d``
on the flattened features: as fast as ours, less accurate) and for ``FlatBatchNorm1d``.
"""
import copy
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _model_bench import interleaved_ms, loadavg, parser, train_batches, train_step  # noqa: E402


def main(argv=None) -> None:
    args = parser(__doc__, frames=20, rounds=3).parse_args(argv)

    import torch
    torch.set_num_threads(args.threads)
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    import bev_losses  # noqa: F401
    from bev_losses.models import FlatBatchNorm1d
    cfg = Config.fromfile(args.config)
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        from mmdet3d.registry import MODELS
        batches = train_batches(cfg, args.frames)
        models = {}
        for name, norm in (('BN1d', 'BN1d'), ('FlatBatchNorm1d', 'bev_losses.FlatBatchNorm1d')):
            mcfg = copy.deepcopy(cfg.model)
            mcfg.pts_voxel_encoder.norm_cfg = dict(mcfg.pts_voxel_encoder.norm_cfg, type=norm)
            torch.manual_seed(0)
            models[name] = MODELS.build(mcfg)
            models[name].init_weights()
        ref, ours = models['BN1d'], models['FlatBatchNorm1d']
        ours.load_state_dict(ref.state_dict())
        assert any(isinstance(m, FlatBatchNorm1d) for m in ours.pts_voxel_encoder.modules())
        assert not any(isinstance(m, FlatBatchNorm1d) for m in ref.pts_voxel_encoder.modules())
        for model in (ref, ours):
            model.train()
        data = [ref.data_preprocessor(b, True) for b in batches]
        voxels = [d['inputs']['voxels'] for d in data]
        points = sum(v['voxels'].shape[0] for v in voxels) / len(voxels)
        for v in voxels:  # the same function, or the timing means nothing
            a = ref.pts_voxel_encoder(v['voxels'].clone(), v['num_points'], v['coors'])
            b = ours.pts_voxel_encoder(v['voxels'].clone(), v['num_points'], v['coors'])
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)

        def encoder(model):
            def run(v):
                out = model.pts_voxel_encoder(v['voxels'].clone(), v['num_points'], v['coors'])
                out.sum().backward()
            return run

        for kind, fn_ref, fn_ours, items in (
                ('pillar_encoder_fwd_bwd', encoder(ref), encoder(ours), voxels),
                ('train_iteration', train_step(ref), train_step(ours), data)):
            r, o = interleaved_ms(fn_ref, fn_ours, items, args.rounds)
            print(json.dumps(dict(kind=kind, frames=len(items), pillars_per_frame=points,
                                  threads=args.threads, bn1d_ms=round(r, 2),
                                  flat_batch_norm_ms=round(o, 2), ratio=round(r / o, 2),
                                  load=loadavg())), flush=True)

        layer = ref.pts_voxel_encoder.pfn_layers[0]
        enc = ref.pts_voxel_encoder
        with torch.no_grad():  # the features the norm sees: the encoder's input to its linear
            feats = _encoder_features(enc, voxels[0])
            lin = layer.linear(feats)  # (P, M, C)
        print(json.dumps(dict(kind='accuracy_vs_float64', shape=list(lin.shape),
                              **_accuracy(lin, layer.norm.eps))), flush=True)


def _encoder_features(enc, v):
    """PillarFeatureNet's decorated point features (P, M, C_in), as its forward builds them."""
    import torch
    captured = {}
    hook = enc.pfn_layers[0].register_forward_pre_hook(
        lambda mod, args: captured.setdefault('x', args[0].detach().clone()))
    enc(v['voxels'].clone(), v['num_points'], v['coors'])
    hook.remove()
    return captured['x'].to(torch.float32)


def _accuracy(lin, eps) -> dict:
    import torch
    from torch import nn

    from bev_losses.models import FlatBatchNorm1d
    c = lin.shape[-1]
    g = torch.randn_like(lin)
    x64 = lin.double().permute(0, 2, 1).contiguous().requires_grad_()
    ref64 = nn.BatchNorm1d(c, eps=eps).double()
    y64 = ref64(x64)
    y64.backward(g.double().permute(0, 2, 1))
    out = {}
    for name, norm, flat in (('BN1d_3d', nn.BatchNorm1d(c, eps=eps), False),
                             ('torch_2d_kernel', nn.BatchNorm1d(c, eps=eps), True),
                             ('FlatBatchNorm1d', FlatBatchNorm1d(c, eps=eps), False)):
        x = lin.permute(0, 2, 1).contiguous().requires_grad_()
        if flat:
            y = norm(x.transpose(1, 2).reshape(-1, c)).reshape(lin.shape).transpose(1, 2)
        else:
            y = norm(x)
        y.backward(g.permute(0, 2, 1))
        out[name] = dict(out=float((y.double() - y64).abs().max()),
                         grad=float((x.grad.double() - x64.grad).abs().max()),
                         running_var=float((norm.running_var.double() - ref64.running_var)
                                           .abs().max()))
    return out


if __name__ == '__main__':
    main()
