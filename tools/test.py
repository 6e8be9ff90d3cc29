"""Evaluate a checkpoint on the test split of a config (mmdet3d's tools/test.py command line).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options key=value ...]
                         [--out-metrics FILE.json] [--launcher none|pytorch|slurm|mpi]

The metrics (``test_evaluator``, e.g. ``bev_losses.BEVDetectionMetric``) are logged, and written
as JSON to ``--out-metrics`` when given. The config is checked first, as in tools/train.py.
"""
import argparse
import json
import os
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from config_check import ConfigCheckError, check_config  # noqa: E402


def parse_args(argv=None):
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(description='Test (evaluate) a 3D detector (bev-losses)')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs '
                        '(default: ./work_dirs/<config name>)')
    parser.add_argument('--out-metrics', help='write the metrics dict to this JSON file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, key=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch
    from mmengine.config import Config
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    try:
        if not osp.isfile(args.checkpoint):
            raise ConfigCheckError([f'checkpoint: file {args.checkpoint!r} not found'])
        check_config(cfg, ['test_dataloader'])
    except ConfigCheckError as exc:
        print(f'tools/test.py: {exc}', file=sys.stderr)
        return 2

    from train import allow_mmengine_checkpoints, setup_cpu_distributed
    if args.launcher != 'none' and not torch.cuda.is_available():
        setup_cpu_distributed(cfg, args.launcher)
    allow_mmengine_checkpoints()

    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    metrics = runner.test()
    if args.out_metrics and runner.rank == 0:
        os.makedirs(osp.dirname(osp.abspath(args.out_metrics)), exist_ok=True)
        with open(args.out_metrics, 'w') as f:
            json.dump({k: float(v) if isinstance(v, (int, float)) else v
                       for k, v in metrics.items()}, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
