"""AdamW's step on the small BEV model's parameters: the per-tensor loop, ``foreach``, ``fused``.

    python benchmarks/bench_optimizer_step.py \
        [--config configs/compare/01_bev_gaussian_focal_l1.py] [--steps 60] [--threads 1]

The comparison's schedule (configs/_base_/schedules/iter_onecycle.py) builds AdamW with
``fused=True``: torch's fused kernel, on CPUs as on GPUs. This prints, for the config's model
(its parameters, random gradients, the schedule's betas and weight decay), the median
milliseconds of one step with each implementation, interleaved step by step, and how far the
parameters of the fused and the default implementation are apart after ``--steps`` steps from
the same start with the same gradients (float32 rounding, not a different update).
"""
import copy
import json
import os.path as osp
import statistics
import sys
import time

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _model_bench import parser  # noqa: E402


def main(argv=None) -> None:
    args = parser(__doc__, steps=60).parse_args(argv)

    import torch
    torch.set_num_threads(args.threads)
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    import bev_losses  # noqa: F401
    cfg = Config.fromfile(args.config)
    opt_cfg = dict(cfg.optim_wrapper.optimizer)
    opt_cfg.pop('type')
    opt_cfg.pop('fused', None)
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        from mmdet3d.registry import MODELS
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
    base = [p.detach().clone() for p in model.parameters()]
    gen = torch.Generator().manual_seed(1)
    grads = [[torch.randn(p.shape, generator=gen) * 1e-2 for p in base]
             for _ in range(args.steps)]
    variants = {'default': dict(), 'foreach': dict(foreach=True), 'fused': dict(fused=True)}
    params, opts = {}, {}
    for name, kw in variants.items():
        params[name] = [p.clone().requires_grad_() for p in base]
        opts[name] = torch.optim.AdamW(params[name], **opt_cfg, **kw)
    times = {name: [] for name in variants}
    for step in range(args.steps):
        for name in variants:
            for p, g in zip(params[name], grads[step]):
                p.grad = g.clone()
            t0 = time.perf_counter()
            opts[name].step()
            times[name].append(1000 * (time.perf_counter() - t0))
    ms = {name: round(statistics.median(t[5:]), 3) for name, t in times.items()}
    diff = max(float((a - b).abs().max()) for a, b in zip(params['fused'], params['default']))
    moved = max(float((a - b).abs().max()) for a, b in zip(params['default'], base))
    print(json.dumps(dict(kind='adamw_step', parameters=len(base),
                          elements=sum(p.numel() for p in base), threads=args.threads,
                          ms=ms, ratio_default_over_fused=round(ms['default'] / ms['fused'], 2),
                          steps=args.steps, max_abs_param_diff_fused_vs_default=diff,
                          max_abs_param_change=moved, optimizer=copy.deepcopy(opt_cfg))),
          flush=True)


if __name__ == '__main__':
    main()
