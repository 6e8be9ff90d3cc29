"""Train a detector from an mmdet3d-style config (the command line of mmdet3d's tools/train.py).

    python tools/train.py CONFIG [--work-dir DIR] [--amp] [--resume [CKPT]]
                          [--cfg-options key=value ...] [--launcher none|pytorch|slurm|mpi]

    # two CPU processes (gloo backend when there is no CUDA):
    torchrun --nproc_per_node=2 tools/train.py CONFIG --launcher pytorch

The config is checked before training starts (tools/config_check.py): an unknown loss type, a
loss argument of the wrong type or a missing data root stops the run with a message naming the
key and the bad value (exit status 2). Scalars land in ``<work_dir>/<timestamp>/vis_data/
scalars.json``; checkpoints and ``last_checkpoint`` in ``<work_dir>``. ``--resume`` without a
path continues from ``<work_dir>/last_checkpoint``.
"""
import argparse
import os
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:  # `python tools/train.py` from a checkout without pip install
    sys.path.insert(0, REPO_ROOT)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from config_check import ConfigCheckError, check_config  # noqa: E402


def parse_args(argv=None):
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(description='Train a 3D detector (bev-losses)')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models '
                        '(default: ./work_dirs/<config name>)')
    parser.add_argument('--amp', action='store_true', default=False,
                        help='enable automatic-mixed-precision training (needs CUDA)')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from the given checkpoint; without a path, from the '
                        'last checkpoint in the work dir')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, key=value (e.g. '
                        'randomness.seed=1 train_cfg.max_iters=100)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--no-validate-config', action='store_true',
                        help='skip the checks of the config before training')
    # torch.distributed.launch passes --local_rank / --local-rank; torchrun sets LOCAL_RANK
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def allow_mmengine_checkpoints() -> None:
    """Let MMEngine load (resume) its own checkpoints under torch >= 2.6.

    MMEngine 0.10 calls ``torch.load`` without ``weights_only``; torch >= 2.6 then defaults to
    ``weights_only=True``, which rejects what MMEngine itself saves next to the weights (its
    message hub: ``HistoryBuffer``, numpy arrays; the scheduler states), so ``--resume`` and
    ``load_from`` fail. torch's own switch, ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``, restores full
    unpickling for calls that do not choose: only resume or load checkpoints you trust. Left
    alone when the user set either torch variable.
    """
    if ('TORCH_FORCE_WEIGHTS_ONLY_LOAD' not in os.environ
            and 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in os.environ):
        os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] = '1'


def _cpu_dist_env(launcher: str) -> None:
    """Fill RANK / WORLD_SIZE / MASTER_* from the launcher's variables (slurm, mpi)."""
    if launcher == 'slurm':
        os.environ.setdefault('RANK', os.environ['SLURM_PROCID'])
        os.environ.setdefault('WORLD_SIZE', os.environ['SLURM_NTASKS'])
        os.environ.setdefault('LOCAL_RANK', os.environ.get('SLURM_LOCALID', '0'))
    elif launcher == 'mpi':
        os.environ.setdefault('RANK', os.environ['OMPI_COMM_WORLD_RANK'])
        os.environ.setdefault('WORLD_SIZE', os.environ['OMPI_COMM_WORLD_SIZE'])
        os.environ.setdefault('LOCAL_RANK', os.environ.get('OMPI_COMM_WORLD_LOCAL_RANK', '0'))
    os.environ.setdefault('MASTER_ADDR', '127.0.0.1')
    os.environ.setdefault('MASTER_PORT', '29500')


def setup_cpu_distributed(cfg, launcher: str) -> None:
    """Distributed training without CUDA: gloo backend, DDP without device ids.

    MMEngine's own initialisation calls ``torch.cuda.set_device`` and wraps the model with
    ``device_ids=[LOCAL_RANK]``; neither works on CPU, so the process group is created here
    (the Runner then finds it) and the wrapper gets ``device_ids=None``.
    """
    import torch.distributed as dist

    cfg.setdefault('env_cfg', {})
    cfg.env_cfg.setdefault('dist_cfg', {})
    cfg.env_cfg.dist_cfg['backend'] = 'gloo'
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None
    wrapper.setdefault('broadcast_buffers', False)
    wrapper.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
    cfg.model_wrapper_cfg = wrapper
    if not dist.is_initialized():
        _cpu_dist_env(launcher)
        timeout = cfg.env_cfg.dist_cfg.get('timeout')
        kwargs = {}
        if timeout is not None:
            import datetime
            kwargs['timeout'] = datetime.timedelta(seconds=timeout)
        dist.init_process_group(backend='gloo', rank=int(os.environ['RANK']),
                                world_size=int(os.environ['WORLD_SIZE']), **kwargs)


def build_cfg(args):
    """Load the config and apply the command line (work dir, amp, resume, launcher)."""
    import torch
    from mmengine.config import Config

    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])

    if args.amp:
        if not torch.cuda.is_available():
            raise ConfigCheckError([
                '--amp: automatic mixed precision needs a CUDA device (MMEngine\'s '
                'AmpOptimWrapper); this machine has none. Train without --amp.'])
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper == 'AmpOptimWrapper':
            print('AMP training is already enabled in your config.')
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise ConfigCheckError([f'--resume: checkpoint {args.resume!r} not found'])
        cfg.resume = True
        cfg.load_from = args.resume

    if args.launcher != 'none' and not torch.cuda.is_available():
        cfg.env_cfg.dist_cfg['backend'] = 'gloo'
    return cfg


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        cfg = build_cfg(args)
        if not args.no_validate_config:
            loaders = ['train_dataloader']
            if cfg.get('val_cfg') is not None:
                loaders.append('val_dataloader')
            check_config(cfg, loaders)
    except ConfigCheckError as exc:
        print(f'tools/train.py: {exc}', file=sys.stderr)
        return 2

    import torch
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    if args.launcher != 'none' and not torch.cuda.is_available():
        setup_cpu_distributed(cfg, args.launcher)
    allow_mmengine_checkpoints()

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    runner.train()
    return 0


if __name__ == '__main__':
    sys.exit(main())
