"""Helpers of the tool tests: a tiny synthetic data set and the command-line overrides using it."""
import json
import os
import os.path as osp
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / 'tools'
PY = sys.executable
CENTERPOINT_CFG = str(REPO / 'configs' / 'small_bev' / 'centerpoint_synthetic.py')
REAL_DATA = REPO.parent / 'shared' / 'data' / 'real'

TINY = dict(num_train=8, num_val=4, seed=0)


def make_tiny_dataset(root: str) -> str:
    """Generate (once) the tiny synthetic data set the tool tests share; returns its folder."""
    from bev_losses.datasets.synthetic import ensure_synthetic_dataset
    ensure_synthetic_dataset(root, verbose=False, **TINY)
    return root


def data_options(root: str) -> List[str]:
    """``--cfg-options`` pointing every split at the tiny data set (same generation args)."""
    opts = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts.append(f'{loader}.dataset.data_root={root.rstrip("/")}/')
        for k, v in TINY.items():
            opts.append(f'{loader}.dataset.generate_kwargs.{k}={v}')
    return opts


def fast_options(iters: int, ckpt_interval: Optional[int] = None) -> List[str]:
    """Train ``iters`` iterations (one-cycle schedule rescaled), log every iteration."""
    interval = ckpt_interval or iters
    return [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
            f'param_scheduler.0.total_steps={iters}', f'param_scheduler.0.end={iters}',
            'default_hooks.logger.interval=1',
            f'default_hooks.checkpoint.interval={interval}',
            'default_hooks.checkpoint.max_keep_ckpts=-1']


def tool_env() -> dict:
    env = dict(os.environ)
    env['PYTHONPATH'] = str(REPO) + (os.pathsep + env['PYTHONPATH']
                                     if env.get('PYTHONPATH') else '')
    return env


def run_tool(args: List[str], timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([PY] + args, cwd=str(REPO), env=tool_env(), capture_output=True,
                          text=True, timeout=timeout, **kw)


def read_scalars(work_dir: str) -> List[dict]:
    """Records of every ``vis_data/scalars.json`` under ``work_dir`` (sessions in time order)."""
    recs = []
    for path in sorted(Path(work_dir).glob('*/vis_data/scalars.json')):
        with open(path) as f:
            recs += [json.loads(line) for line in f if line.strip()]
    return recs


def train_losses(work_dir: str) -> dict:
    """``{step: loss}`` of the training records (a later session wins for a repeated step)."""
    return {r['step']: r['loss'] for r in read_scalars(work_dir) if 'loss' in r}


def load_state(path: str) -> dict:
    import torch
    return torch.load(path, map_location='cpu', weights_only=False)['state_dict']


def assert_ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, (
        f'exit {proc.returncode}\n--- stdout (tail)\n{proc.stdout[-3000:]}\n'
        f'--- stderr (tail)\n{proc.stderr[-3000:]}')


def abspath(*parts) -> str:
    return osp.abspath(osp.join(*parts))
