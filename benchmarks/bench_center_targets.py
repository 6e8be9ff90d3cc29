"""bev_losses.CenterHead's vectorised target assignment against mmdet3d's per-box loop, in one run.

    python benchmarks/bench_center_targets.py [--config configs/compare/01_bev_gaussian_focal_l1.py]
                                              [--frames 30] [--rounds 5] [--threads 1]

On the config's own training frames (after its training pipeline; the synthetic data set is
generated first if missing), interleaved round by round so that both see the same machine:

1. ``get_targets`` alone: mmdet3d 1.4's ``CenterHead`` against ``bev_losses.CenterHead`` built
   from the same config, on the same ground truth (the targets checked equal first);
2. a whole training iteration on the same batch and weights (forward, loss, backward), the
   detector built with ``bev_losses.CenterHead`` against the same detector with mmdet3d's
   ``CenterHead`` and the same losses.

Each frame is timed with one, then with the other, ``rounds`` times. Prints one JSON line per
measurement: the median milliseconds per frame of each and their ratio (mmdet3d / ours), with
``/proc/loadavg``.
"""
import argparse
import copy
import json
import os.path as osp
import statistics
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)


def _load() -> str:
    with open('/proc/loadavg') as f:
        return f.read().split()[0]


def _time(fn, items) -> float:
    t0 = time.perf_counter()
    for item in items:
        fn(item)
    return 1000 * (time.perf_counter() - t0) / len(items)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=osp.join(REPO, 'configs', 'compare',
                                                     '01_bev_gaussian_focal_l1.py'))
    parser.add_argument('--frames', type=int, default=30)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--threads', type=int, default=1)
    args = parser.parse_args(argv)

    import torch
    torch.set_num_threads(args.threads)
    from mmdet3d.models.dense_heads import CenterHead as MMDet3DCenterHead
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    import bev_losses  # noqa: F401
    cfg = Config.fromfile(args.config)
    if cfg.model.pts_bbox_head.type != 'bev_losses.CenterHead':
        raise SystemExit(f'{args.config}: the head must be bev_losses.CenterHead')
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        from mmdet3d.registry import MODELS
        cfg.train_dataloader.batch_size = 1
        loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
        batches = []
        for batch in loader:
            batches.append(batch)
            if len(batches) == args.frames:
                break
        torch.manual_seed(0)
        ours = MODELS.build(cfg.model)
        ours.init_weights()
        ref_cfg = copy.deepcopy(cfg.model)
        ref_cfg.pts_bbox_head.type = 'CenterHead'  # mmdet3d's, same losses
        ref = MODELS.build(ref_cfg)
        ref.load_state_dict(ours.state_dict())
        for model in (ours, ref):
            model.train()
        assert type(ref.pts_bbox_head) is MMDet3DCenterHead

        data = [ours.data_preprocessor(b, True) for b in batches]
        gts = [[s.gt_instances_3d for s in d['data_samples']] for d in data]
        head, ref_head = ours.pts_bbox_head, ref.pts_bbox_head
        for gt in gts:  # the same targets, or the timing means nothing
            for a, b in zip(ref_head.get_targets(gt), head.get_targets(gt)):
                for x, y in zip(a, b):
                    torch.testing.assert_close(x, y, rtol=2 * torch.finfo(torch.float32).eps,
                                               atol=0)
        num_boxes = statistics.mean(len(g[0]) for g in gts)

        def targets_ref(gt):  # (an instance of mmdet3d's class: its own get_targets_single)
            ref_head.get_targets(gt)

        def targets_ours(gt):
            head.get_targets(gt)

        def step(model):
            def run(d):
                losses = model(**d, mode='loss')
                loss, _ = model.parse_losses(losses)
                model.zero_grad(set_to_none=True)
                loss.backward()
            return run

        for name, fn_ref, fn_ours, items in (
                ('get_targets', targets_ref, targets_ours, gts),
                ('train_iteration', step(ref), step(ours), data)):
            _time(fn_ref, items[:3])
            _time(fn_ours, items[:3])
            t_ref, t_ours = [], []
            for _ in range(args.rounds):  # frame by frame, one then the other
                for item in items:
                    t_ref.append(_time(fn_ref, [item]))
                    t_ours.append(_time(fn_ours, [item]))
            r, o = statistics.median(t_ref), statistics.median(t_ours)
            print(json.dumps(dict(kind=name, frames=len(items), boxes_per_frame=num_boxes,
                                  threads=args.threads, mmdet3d_ms=round(r, 2),
                                  bev_losses_ms=round(o, 2), ratio=round(r / o, 2),
                                  load=_load())), flush=True)


if __name__ == '__main__':
    main()
