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
import copy
import json
import os.path as osp
import statistics
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _model_bench import interleaved_ms, loadavg, parser, train_batches, train_step  # noqa: E402


def main(argv=None) -> None:
    args = parser(__doc__, frames=30, rounds=5).parse_args(argv)

    import torch
    torch.set_num_threads(args.threads)
    from mmdet3d.models.dense_heads import CenterHead as MMDet3DCenterHead
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    import bev_losses  # noqa: F401
    cfg = Config.fromfile(args.config)
    if cfg.model.pts_bbox_head.type != 'bev_losses.CenterHead':
        raise SystemExit(f'{args.config}: the head must be bev_losses.CenterHead')
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        from mmdet3d.registry import MODELS
        batches = train_batches(cfg, args.frames)
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

        for name, fn_ref, fn_ours, items in (
                ('get_targets', targets_ref, targets_ours, gts),
                ('train_iteration', train_step(ref), train_step(ours), data)):
            r, o = interleaved_ms(fn_ref, fn_ours, items, args.rounds)
            print(json.dumps(dict(kind=name, frames=len(items), boxes_per_frame=num_boxes,
                                  threads=args.threads, mmdet3d_ms=round(r, 2),
                                  bev_losses_ms=round(o, 2), ratio=round(r / o, 2),
                                  load=loadavg())), flush=True)


if __name__ == '__main__':
    main()
