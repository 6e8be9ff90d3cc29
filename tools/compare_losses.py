"""Train the same small BEV detector with different losses and compare them: the main job.

    python tools/compare_losses.py [CONFIG ...] [--work-dir DIR] [--max-iters N] [--seeds S ...]
                                   [--cfg-options key=value ...]

Without CONFIG it runs the default matrix, ``configs/compare/*.py`` in file-name order (the mmdet
baseline first). Every config and seed is trained by ``tools/train.py`` in a subprocess (a run
that fails is reported as failed and the tool goes on), on the same data (each config's data set
section; the synthetic data set is generated once, on first use), then evaluated on the
validation split here. Writes, under DIR (default ``work_dirs/compare``):

* ``comparison.md``: one row per config: losses, mAP and NDS as mean ± std over seeds, per-class
  AP, the true-positive errors, final training loss, seconds per iteration;
* ``comparison.csv``: one row per config and seed;
* ``loss_curves.png``, ``metrics.png`` (mAP / NDS per config, std bars and each seed's value) and
  ``bev_scenes.png`` (one validation scene per config: points, ground truth, predictions);
* ``<config>/seed<S>/``: the exact config trained (``config.py``), its log, checkpoints,
  ``vis_data/scalars.json``, and ``results.json`` once evaluated.

An interrupted comparison continues where it stopped: runs with a ``results.json`` are skipped,
an unfinished training resumes from its last checkpoint (``tools/train.py --resume``). A run
whose config changed since (an edited config file, other ``--max-iters`` / ``--cfg-options``) is
discarded and trained again.
"""
import argparse
import csv
import glob
import hashlib
import json
import math
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import time
import traceback
from typing import Dict, List, Optional, Sequence

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)
TRAIN_PY = osp.join(REPO_ROOT, 'tools', 'train.py')
DEFAULT_MATRIX = osp.join(REPO_ROOT, 'configs', 'compare')
SCHEDULE_KEYS = ('begin', 'end', 'T_max', 'total_steps')
_ITER_RE = re.compile(r'Iter\(train\)\s*\[\s*(\d+)/(\d+)\]')
_TIME_RE = re.compile(r'\stime: ([0-9.]+)')


# ----------------------------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------------------------
def parse_args(argv=None):
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(
        description='Train a small BEV detector with each loss config and compare them.')
    parser.add_argument('configs', nargs='*',
                        help='configs to compare (default: configs/compare/*.py, in order)')
    parser.add_argument('--work-dir', default='work_dirs/compare',
                        help='output folder (default: work_dirs/compare)')
    parser.add_argument('--max-iters', type=int, default=None,
                        help='training iterations of every run (the schedule is rescaled); '
                        'default: each config\'s own')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0],
                        help='seeds; every config is trained once per seed (default: 0)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default=None,
                        help='overrides applied to every config, key=value')
    parser.add_argument('--scene-index', type=int, default=0,
                        help='validation sample drawn in bev_scenes.png (default: 0)')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='score threshold of the predictions drawn (default: 0.3)')
    args = parser.parse_args(argv)
    if args.max_iters is not None and args.max_iters < 1:
        parser.error(f'--max-iters must be >= 1, got {args.max_iters}')
    return args


def default_configs() -> List[str]:
    """``configs/compare/*.py`` sorted by file name, files starting with ``_`` excluded."""
    files = sorted(glob.glob(osp.join(DEFAULT_MATRIX, '*.py')))
    return [f for f in files if not osp.basename(f).startswith('_')]


def config_name(path: str) -> str:
    return osp.splitext(osp.basename(path))[0]


# ----------------------------------------------------------------------------------------------
# run configs
# ----------------------------------------------------------------------------------------------
def rescale_schedule(cfg, max_iters: int) -> None:
    """Set ``train_cfg.max_iters`` and stretch the iteration-based schedulers with it."""
    old = cfg.train_cfg.get('max_iters')
    cfg.train_cfg.max_iters = max_iters
    if cfg.train_cfg.get('val_interval') is not None:
        cfg.train_cfg.val_interval = max_iters
    if not old:
        return
    ratio = max_iters / old
    schedulers = cfg.get('param_scheduler') or []
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
    for sched in schedulers:
        if sched.get('by_epoch', True):  # MMEngine's default; counted in epochs, left alone
            continue
        for key in SCHEDULE_KEYS:
            value = sched.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                if value >= old:
                    sched[key] = max_iters
                else:
                    sched[key] = max(1, int(round(value * ratio)))
    ckpt = cfg.get('default_hooks', {}).get('checkpoint')
    if ckpt is not None and ckpt.get('interval', 0) > max_iters:
        ckpt.interval = max_iters


def describe_loss(loss_cfg) -> str:
    """``'bev_losses.FocalLoss(use_sigmoid=False)'``: the type and its non-default-looking args."""
    if not loss_cfg:
        return '-'
    t = loss_cfg.get('type', '?')
    t = t if isinstance(t, str) else getattr(t, '__name__', str(t))
    skip = {'type', 'reduction', 'loss_weight'}
    args = [f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v!r}'
            for k, v in loss_cfg.items() if k not in skip]
    if loss_cfg.get('loss_weight', 1.0) != 1.0:
        args.append(f"w={loss_cfg['loss_weight']:g}")
    return f"{t}({', '.join(args)})" if args else t


def loss_roles(cfg) -> Dict[str, str]:
    """The classification, regression and other loss terms of the detector's head."""
    model = cfg.get('model', {})
    head = model.get('pts_bbox_head') or model.get('bbox_head') or {}
    others = []
    for key in ('loss_iou', 'loss_dir'):
        if head.get(key):
            others.append(f'{key[5:]}: {describe_loss(head.get(key))}')
    head_type = head.get('type', '?')
    return dict(head=head_type if isinstance(head_type, str) else str(head_type),
                cls=describe_loss(head.get('loss_cls')),
                reg=describe_loss(head.get('loss_bbox')),
                other='; '.join(others) or '-')


def write_run_config(src: str, run_dir: str, seed: int, max_iters: Optional[int],
                     cfg_options: Optional[dict]):
    """Load ``src``, apply seed / iterations / overrides, turn validation off (the comparison
    evaluates after training), dump to ``run_dir/config.py``; return the config."""
    from mmengine.config import Config

    cfg = Config.fromfile(src)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.randomness = dict(cfg.get('randomness') or {}, seed=seed)
    if max_iters is not None:
        rescale_schedule(cfg, max_iters)
    cfg.work_dir = run_dir
    # keep the val settings for our evaluation, but not in the training loop
    cfg.compare_val_dataloader = cfg.get('val_dataloader')
    cfg.compare_val_evaluator = cfg.get('val_evaluator')
    cfg.val_cfg = None
    cfg.val_dataloader = None
    cfg.val_evaluator = None
    text = cfg.dump()
    digest = hashlib.sha256(text.encode()).hexdigest()
    # (the Runner of tools/train.py rewrites config.py in its work dir, so the fingerprint of
    # what this tool asked for is kept beside it)
    digest_path = osp.join(run_dir, 'config.sha256')
    if osp.isdir(run_dir) and os.listdir(run_dir):
        old = open(digest_path).read().strip() if osp.isfile(digest_path) else None
        if old != digest:  # a run of another config (edited, other options): start over
            print(f'compare_losses: the config of {run_dir} changed; its previous run is '
                  'discarded', flush=True)
            shutil.rmtree(run_dir)
    os.makedirs(run_dir, exist_ok=True)
    with open(osp.join(run_dir, 'config.py'), 'w') as f:
        f.write(text)
    with open(digest_path, 'w') as f:
        f.write(digest + '\n')
    return cfg


# ----------------------------------------------------------------------------------------------
# training (subprocess) and progress
# ----------------------------------------------------------------------------------------------
class Progress:
    """Iterations done / to do over the whole comparison, for an ETA."""

    def __init__(self, total_iters: int, total_runs: int) -> None:
        self.total = max(total_iters, 1)
        self.done = 0
        self.runs_left = total_runs
        self.sec_per_iter: Optional[float] = None
        self.overheads: List[float] = []  # seconds per run outside the iterations
        self.start = time.time()

    def run_finished(self, iters: int, seconds: float) -> None:
        self.done += iters
        self.runs_left = max(self.runs_left - 1, 0)
        if self.sec_per_iter is not None:
            self.overheads.append(max(seconds - iters * self.sec_per_iter, 0.0))

    def eta(self, extra_done: int = 0) -> str:
        """Iterations left x seconds per iteration + start-up/evaluation time of the runs left."""
        left = max(self.total - self.done - extra_done, 0)
        if self.sec_per_iter is None:
            return '?'
        overhead = (sum(self.overheads) / len(self.overheads)) if self.overheads else 20.0
        return _fmt_seconds(left * self.sec_per_iter + self.runs_left * overhead)


def _fmt_seconds(s: float) -> str:
    s = int(round(s))
    return f'{s // 3600}h{s % 3600 // 60:02d}m' if s >= 3600 else f'{s // 60}m{s % 60:02d}s'


def train_run(run_dir: str, label: str, max_iters: int, progress: Progress) -> Dict:
    """Train ``run_dir/config.py`` with tools/train.py; resume when a checkpoint is there."""
    cmd = [sys.executable, TRAIN_PY, osp.join(run_dir, 'config.py'), '--work-dir', run_dir]
    resumed = osp.isfile(osp.join(run_dir, 'last_checkpoint'))
    if resumed:
        cmd.append('--resume')
    log_path = osp.join(run_dir, 'train.log')
    env = dict(os.environ)
    env['PYTHONPATH'] = REPO_ROOT + (os.pathsep + env['PYTHONPATH']
                                     if env.get('PYTHONPATH') else '')
    env.setdefault('PYTHONUNBUFFERED', '1')
    tail: List[str] = []
    t0 = time.time()
    last_iter = 0
    with open(log_path, 'a') as log:
        log.write(f'\n$ {" ".join(cmd)}\n')
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                cwd=os.getcwd(), env=env, text=True, bufsize=1)
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                log.write(line)
                tail.append(line.rstrip('\n'))
                del tail[:-40]
                m = _ITER_RE.search(line)
                if m:
                    it, total = int(m.group(1)), int(m.group(2))
                    t = _TIME_RE.search(line)
                    if t:
                        progress.sec_per_iter = float(t.group(1))
                    last_iter = it
                    print(f'  {label}: iter {it}/{total}'
                          + (f', {float(t.group(1)):.2f} s/it' if t else '')
                          + f', run ETA {_fmt_seconds((total - it) * (progress.sec_per_iter or 0))}'
                          + f', comparison ETA {progress.eta(extra_done=it)}', flush=True)
            rc = proc.wait()
        except BaseException:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
    return dict(returncode=rc, seconds=time.time() - t0, resumed=resumed, tail=tail,
                last_iter=last_iter)


def _error_message(tail: Sequence[str]) -> str:
    """The most telling line of a failed run's output (our config errors, or the exception)."""
    for i, line in enumerate(tail):
        if 'invalid config' in line:
            return ' '.join(s.strip() for s in tail[i:i + 4])
    for line in reversed(tail):
        if re.match(r'^\w+(Error|Exception)\b', line.strip()):
            return line.strip()
    return tail[-1].strip() if tail else 'no output'


# ----------------------------------------------------------------------------------------------
# evaluation (in this process)
# ----------------------------------------------------------------------------------------------
def final_checkpoint(run_dir: str) -> Optional[str]:
    path = osp.join(run_dir, 'last_checkpoint')
    if not osp.isfile(path):
        return None
    with open(path) as f:
        ckpt = f.read().strip()
    if not osp.isabs(ckpt):
        ckpt = osp.join(run_dir, ckpt)
    return ckpt if osp.isfile(ckpt) else None


def evaluate_run(cfg, ckpt: str, scene_index: int, out_npz: str) -> Dict[str, float]:
    """Metrics of ``ckpt`` on the config's validation split; saves one scene for the picture."""
    import numpy as np
    import torch
    from mmengine.dataset import pseudo_collate
    from mmengine.evaluator import Evaluator
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    from mmengine.utils import import_modules_from_strings

    from mmdet3d.registry import MODELS

    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    scope = cfg.get('default_scope', 'mmdet3d') or 'mmdet3d'
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model)
        # our own checkpoint: MMEngine stores non-tensor state next to the weights
        state = torch.load(ckpt, map_location='cpu', weights_only=False)
        model.load_state_dict(state.get('state_dict', state))
        model.eval()
        dataloader = Runner.build_dataloader(cfg.compare_val_dataloader)
        dataset = dataloader.dataset
        evaluator = Evaluator(cfg.compare_val_evaluator)
        evaluator.dataset_meta = dataset.metainfo
        with torch.no_grad():
            for batch in dataloader:
                outputs = model.test_step(batch)
                evaluator.process(data_samples=outputs, data_batch=batch)
            metrics = evaluator.evaluate(len(dataset))
            # the scene of the picture
            idx = min(max(scene_index, 0), len(dataset) - 1)
            item = dataset[idx]
            out = model.test_step(pseudo_collate([item]))[0]
        points = item['inputs']['points']
        points = (points.tensor if hasattr(points, 'tensor') else points).numpy()
        if len(points) > 20000:
            points = points[np.random.default_rng(0).choice(len(points), 20000, replace=False)]
        gt = out.get('eval_ann_info') or {}
        gt_boxes = gt.get('gt_bboxes_3d')
        gt_boxes = (gt_boxes.tensor.numpy() if hasattr(gt_boxes, 'tensor') else
                    np.asarray(gt_boxes if gt_boxes is not None else np.zeros((0, 7))))
        gt_labels = np.asarray(gt.get('gt_labels_3d', np.zeros(0, dtype=np.int64)))
        pred = out.pred_instances_3d
        np.savez_compressed(
            out_npz, points=points[:, :3].astype(np.float32),
            gt_boxes=gt_boxes[:, :7].astype(np.float32), gt_labels=gt_labels,
            pred_boxes=pred.bboxes_3d.tensor[:, :7].numpy().astype(np.float32),
            pred_scores=pred.scores_3d.numpy(), pred_labels=pred.labels_3d.numpy(),
            classes=np.array(list(dataset.metainfo.get('classes', []))))
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}


def read_scalars(run_dir: str) -> List[dict]:
    """Every training record of the run's ``vis_data/scalars.json`` files, by step (a resumed
    run has one file per session; the later session wins for a repeated step)."""
    records: Dict[int, dict] = {}
    for path in sorted(glob.glob(osp.join(run_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if 'loss' in rec and 'step' in rec:
                    records[int(rec['step'])] = rec
    return [records[k] for k in sorted(records)]


def training_summary(run_dir: str) -> Dict[str, float]:
    recs = read_scalars(run_dir)
    if not recs:
        return dict(final_loss=float('nan'), sec_per_iter=float('nan'))
    times = [r['time'] for r in recs if 'time' in r]
    times = sorted(times[1:] if len(times) > 1 else times)  # the first window holds start-up
    last = recs[-max(1, min(3, len(recs))):]
    return dict(final_loss=sum(r['loss'] for r in last) / len(last),
                sec_per_iter=times[len(times) // 2] if times else float('nan'))


# ----------------------------------------------------------------------------------------------
# the report
# ----------------------------------------------------------------------------------------------
def _mean_std(values: Sequence[float]) -> str:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return '-'
    mean = sum(vals) / len(vals)
    if len(vals) == 1:
        return f'{mean:.3f}'
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
    return f'{mean:.3f} ± {std:.3f}'


def _mean(values: Sequence[float]) -> float:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return sum(vals) / len(vals) if vals else float('nan')


def _fmt(v: float, digits: int = 3) -> str:
    return '-' if v is None or (isinstance(v, float) and math.isnan(v)) else f'{v:.{digits}f}'


def class_names_of(rows: Sequence[dict]) -> List[str]:
    names: List[str] = []
    for r in rows:
        for k in r.get('metrics', {}):
            if k.startswith('bev/AP_') and k[7:] not in names:
                names.append(k[7:])
    return names


def write_csv(path: str, rows: Sequence[dict], classes: Sequence[str]) -> None:
    fields = ['config', 'seed', 'status', 'head', 'cls_loss', 'reg_loss', 'other_losses',
              'mAP', 'NDS', 'mATE', 'mASE', 'mAOE', 'mAVE'] + [f'AP_{c}' for c in classes] + [
              'final_train_loss', 'sec_per_iter', 'iters', 'train_seconds', 'error']
    with open(path, 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            m = r.get('metrics', {})
            row = dict(config=r['config'], seed=r['seed'], status=r['status'],
                       head=r['roles'].get('head'), cls_loss=r['roles'].get('cls'),
                       reg_loss=r['roles'].get('reg'), other_losses=r['roles'].get('other'),
                       final_train_loss=_fmt(r.get('final_loss', float('nan')), 5),
                       sec_per_iter=_fmt(r.get('sec_per_iter', float('nan')), 4),
                       iters=r.get('iters', ''), train_seconds=_fmt(r.get('train_seconds',
                                                                           float('nan')), 1),
                       error=r.get('error', ''))
            for key in ('mAP', 'NDS', 'mATE', 'mASE', 'mAOE', 'mAVE'):
                row[key] = _fmt(m.get(f'bev/{key}', float('nan')), 4)
            for c in classes:
                row[f'AP_{c}'] = _fmt(m.get(f'bev/AP_{c}', float('nan')), 4)
            w.writerow(row)


def group_rows(rows: Sequence[dict]) -> List[dict]:
    groups: Dict[str, dict] = {}
    for r in rows:
        g = groups.setdefault(r['config'], dict(config=r['config'], roles=r['roles'],
                                                runs=[], label=r.get('label', '')))
        g['runs'].append(r)
    return list(groups.values())


def write_markdown(path: str, rows: Sequence[dict], classes: Sequence[str],
                   seeds: Sequence[int], plots: Sequence[str]) -> None:
    lines = ['# Loss comparison', '',
             f'Seeds: {", ".join(map(str, seeds))}. mAP / NDS: mean ± std over the seeds that '
             'finished (nuScenes-style centre-distance mAP over 0.5/1/2/4 m, on the validation '
             'split). Errors: mean translation / scale / orientation / velocity error of the true '
             'positives. Final loss: training loss (sum of the terms) over the last logged '
             'iterations; s/it: median seconds per training iteration.', '']
    header = ['config', 'classification loss', 'regression loss', 'other terms', 'mAP', 'NDS'] \
        + [f'AP {c}' for c in classes] + ['mATE', 'mASE', 'mAOE', 'mAVE', 'final loss', 's/it',
                                          'status']
    lines.append('| ' + ' | '.join(header) + ' |')
    lines.append('|' + '---|' * len(header))
    for g in group_rows(rows):
        ok = [r for r in g['runs'] if r['status'] == 'ok']
        failed = [r for r in g['runs'] if r['status'] != 'ok']

        def vals(key):
            return [r['metrics'].get(key, float('nan')) for r in ok]

        status = f'{len(ok)}/{len(g["runs"])} ok'
        if failed:
            status += '; failed: ' + '; '.join(
                f'seed {r["seed"]}: {r.get("error", "")}'.replace('|', '/')[:300] for r in failed)
        cells = [g['config'], g['roles']['cls'], g['roles']['reg'], g['roles']['other'],
                 _mean_std(vals('bev/mAP')), _mean_std(vals('bev/NDS'))]
        cells += [_fmt(_mean(vals(f'bev/AP_{c}'))) for c in classes]
        cells += [_fmt(_mean(vals(f'bev/{k}'))) for k in ('mATE', 'mASE', 'mAOE', 'mAVE')]
        cells += [_fmt(_mean([r.get('final_loss', float('nan')) for r in ok]), 4),
                  _fmt(_mean([r.get('sec_per_iter', float('nan')) for r in ok]), 3), status]
        lines.append('| ' + ' | '.join(str(c).replace('|', '/') for c in cells) + ' |')
    lines.append('')
    for g in group_rows(rows):
        if g.get('label'):
            lines.append(f'- **{g["config"]}**: {g["label"]}')
    lines.append('')
    for p in plots:
        lines.append(f'![{osp.splitext(p)[0]}]({p})')
    lines.append('')
    with open(path, 'w') as f:
        f.write('\n'.join(lines))


def plot_loss_curves(path: str, rows: Sequence[dict]) -> bool:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5))
    drawn = False
    cmap = plt.get_cmap('tab10')
    for i, g in enumerate(group_rows(rows)):
        for j, r in enumerate(g['runs']):
            recs = read_scalars(r['run_dir'])
            if not recs:
                continue
            steps = [rec['step'] for rec in recs]
            losses = [rec['loss'] for rec in recs]
            ax.plot(steps, losses, color=cmap(i % 10), alpha=0.9 if j == 0 else 0.5,
                    lw=1.5 if j == 0 else 0.8, label=g['config'] if j == 0 else None)
            drawn = True
    if not drawn:
        plt.close(fig)
        return False
    ax.set_yscale('log')
    ax.set_xlabel('iteration')
    ax.set_ylabel('training loss (sum of terms, log scale)')
    ax.set_title('Training loss')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc='upper right')
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_metrics(path: str, rows: Sequence[dict]) -> bool:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np

    groups = group_rows(rows)
    names = [g['config'] for g in groups]
    fig, axes = plt.subplots(1, 2, figsize=(max(8, 1.2 * len(names) + 4), 5), sharey=False)
    for ax, key in zip(axes, ('bev/mAP', 'bev/NDS')):
        x = np.arange(len(groups))
        for i, g in enumerate(groups):
            vals = [r['metrics'][key] for r in g['runs']
                    if r['status'] == 'ok' and key in r['metrics']]
            if vals:
                mean = float(np.mean(vals))
                std = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
                ax.bar(i, mean, yerr=std, capsize=4, color='tab:blue', alpha=0.6)
                ax.scatter([i] * len(vals), vals, color='k', s=12, zorder=3)
            else:
                ax.text(i, 0.01, 'failed', rotation=90, ha='center', va='bottom',
                        color='tab:red')
        ax.set_xticks(x)
        ax.set_xticklabels(names, rotation=45, ha='right', fontsize=7)
        ax.set_ylim(0, 1)
        ax.set_title(key.split('/')[-1] + ' (bar: mean, line: std, dots: seeds)')
        ax.grid(axis='y', alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _box_corners(box):
    """Closed BEV outline ``(5, 2)`` of a box ``(x, y, z, dx, dy, dz, yaw, ...)``."""
    import numpy as np
    x, y, _, dx, dy, _, yaw = box[:7]
    c, s = np.cos(yaw), np.sin(yaw)
    local = np.array([[dx, dy], [dx, -dy], [-dx, -dy], [-dx, dy], [dx, dy]]) / 2
    return local @ np.array([[c, s], [-s, c]]) + np.array([x, y])


def draw_scene(ax, npz_path: str, title: str, score_thr: float) -> None:
    import numpy as np
    d = np.load(npz_path, allow_pickle=False)
    pts = d['points']
    ax.scatter(pts[:, 0], pts[:, 1], s=0.2, c='0.6', linewidths=0)
    for box in d['gt_boxes']:
        c = _box_corners(box)
        ax.plot(c[:, 0], c[:, 1], color='tab:green', lw=1.2)
    keep = d['pred_scores'] >= score_thr
    for box, score in zip(d['pred_boxes'][keep], d['pred_scores'][keep]):
        c = _box_corners(box)
        ax.plot(c[:, 0], c[:, 1], color='tab:red', lw=0.9, alpha=float(min(1.0, 0.3 + score)))
        # heading: centre to the front edge
        ax.plot([box[0], (c[0, 0] + c[1, 0]) / 2], [box[1], (c[0, 1] + c[1, 1]) / 2],
                color='tab:red', lw=0.6)
    ax.set_aspect('equal')
    ax.set_title(title, fontsize=8)
    ax.tick_params(labelsize=6)


def plot_scenes(path: str, rows: Sequence[dict], score_thr: float) -> bool:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    panels = []
    for g in group_rows(rows):
        for r in g['runs']:
            npz = osp.join(r['run_dir'], 'scene.npz')
            if r['status'] == 'ok' and osp.isfile(npz):
                panels.append((g['config'], r['seed'], npz))
                break  # one scene per config (its first finished seed)
    if not panels:
        return False
    cols = min(4, len(panels))
    rows_n = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows_n, cols, figsize=(4 * cols, 4 * rows_n), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis('off')
    for ax, (name, seed, npz) in zip(axes.flat, panels):
        draw_scene(ax, npz, f'{name} (seed {seed})', score_thr)
    fig.suptitle(f'One validation scene: points (grey), ground truth (green), predictions with '
                 f'score >= {score_thr} (red)', fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# ----------------------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    args = parse_args(argv)
    configs = [osp.abspath(c) for c in args.configs] or default_configs()
    if not configs:
        print('compare_losses: no configs given and none in configs/compare/', file=sys.stderr)
        return 2
    missing = [c for c in configs if not osp.isfile(c)]
    if missing:
        print(f'compare_losses: config file(s) not found: {missing}', file=sys.stderr)
        return 2
    names = [config_name(c) for c in configs]
    if len(set(names)) != len(names):
        print(f'compare_losses: config names must be unique, got {names}', file=sys.stderr)
        return 2
    work_dir = osp.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)

    # prepare every run (config files, iteration counts) first, for the ETA
    plans = []
    total_iters = 0
    for src, name in zip(configs, names):
        for seed in args.seeds:
            run_dir = osp.join(work_dir, name, f'seed{seed}')
            plan = dict(config=name, src=src, seed=seed, run_dir=run_dir, roles={}, label='')
            try:
                cfg = write_run_config(src, run_dir, seed, args.max_iters, args.cfg_options)
                plan['cfg'] = cfg
                plan['roles'] = loss_roles(cfg)
                plan['label'] = cfg.get('compare_label', '')
                plan['iters'] = int(cfg.train_cfg.get('max_iters', 0))
            except Exception as exc:
                plan['error'] = f'config cannot be loaded: {type(exc).__name__}: {exc}'
                plan['iters'] = 0
            if not osp.isfile(osp.join(run_dir, 'results.json')):
                total_iters += plan['iters']
            plans.append(plan)

    progress = Progress(total_iters, sum(
        1 for p in plans if not osp.isfile(osp.join(p['run_dir'], 'results.json'))))
    rows = []
    n = len(plans)
    for k, plan in enumerate(plans, 1):
        label = f'[{k}/{n}] {plan["config"]} seed {plan["seed"]}'
        run_dir = plan['run_dir']
        result_path = osp.join(run_dir, 'results.json')
        row = dict(config=plan['config'], seed=plan['seed'], run_dir=run_dir,
                   roles=plan['roles'], label=plan['label'], iters=plan['iters'])
        if osp.isfile(result_path):
            with open(result_path) as f:
                row.update(json.load(f))
            print(f'{label}: done before, skipped (mAP {row["metrics"].get("bev/mAP", 0):.3f})',
                  flush=True)
            rows.append(row)
            continue
        if 'error' in plan:
            row.update(status='failed', error=plan['error'], metrics={})
            print(f'{label}: FAILED: {plan["error"]}', flush=True)
            rows.append(row)
            continue
        print(f'{label}: training {plan["iters"]} iterations -> {run_dir}', flush=True)
        run_start = time.time()
        done_flag = osp.join(run_dir, 'train_done.json')
        if osp.isfile(done_flag) and final_checkpoint(run_dir):
            train = json.load(open(done_flag))
        else:
            train = train_run(run_dir, label, plan['iters'], progress)
            if train['returncode'] != 0:
                err = _error_message(train['tail'])
                row.update(status='failed', error=f'training exited with '
                           f'{train["returncode"]}: {err}', metrics={})
                print(f'{label}: FAILED ({err}); see {osp.join(run_dir, "train.log")}',
                      flush=True)
                progress.run_finished(plan['iters'], time.time() - run_start)
                rows.append(row)
                continue
            train = dict(seconds=train['seconds'], resumed=train['resumed'])
            with open(done_flag, 'w') as f:
                json.dump(train, f)
        ckpt = final_checkpoint(run_dir)
        try:
            if ckpt is None:
                raise FileNotFoundError(f'no final checkpoint in {run_dir}')
            print(f'{label}: evaluating {osp.basename(ckpt)} on the validation split',
                  flush=True)
            metrics = evaluate_run(plan['cfg'], ckpt, args.scene_index,
                                   osp.join(run_dir, 'scene.npz'))
        except Exception as exc:
            row.update(status='failed', metrics={},
                       error=f'evaluation failed: {type(exc).__name__}: {exc}')
            with open(osp.join(run_dir, 'eval_error.txt'), 'w') as f:
                f.write(traceback.format_exc())
            print(f'{label}: FAILED evaluation: {str(exc).splitlines()[0]}', flush=True)
            progress.run_finished(plan['iters'], time.time() - run_start)
            rows.append(row)
            continue
        summary = training_summary(run_dir)
        result = dict(status='ok', metrics=metrics, checkpoint=osp.basename(ckpt),
                      train_seconds=train.get('seconds', float('nan')), **summary)
        with open(result_path, 'w') as f:
            json.dump(result, f, indent=1)
        row.update(result)
        print(f'{label}: mAP {metrics.get("bev/mAP", float("nan")):.3f}  NDS '
              f'{metrics.get("bev/NDS", float("nan")):.3f}  final loss '
              f'{summary["final_loss"]:.4f}  {summary["sec_per_iter"]:.3f} s/it', flush=True)
        progress.run_finished(plan['iters'], time.time() - run_start)
        rows.append(row)

    # report
    classes = class_names_of(rows)
    write_csv(osp.join(work_dir, 'comparison.csv'), rows, classes)
    plots = []
    for fname, fn in (('loss_curves.png', lambda p: plot_loss_curves(p, rows)),
                      ('metrics.png', lambda p: plot_metrics(p, rows)),
                      ('bev_scenes.png', lambda p: plot_scenes(p, rows, args.score_thr))):
        try:
            if fn(osp.join(work_dir, fname)):
                plots.append(fname)
        except Exception as exc:  # a plot must not lose the table
            print(f'compare_losses: could not draw {fname}: {exc}', file=sys.stderr)
    write_markdown(osp.join(work_dir, 'comparison.md'), rows, classes, args.seeds, plots)
    n_ok = sum(r['status'] == 'ok' for r in rows)
    print(f'compare_losses: {n_ok}/{len(rows)} runs ok in {_fmt_seconds(time.time() - progress.start)}; '
          f'wrote {osp.join(work_dir, "comparison.md")}, comparison.csv, {", ".join(plots)}',
          flush=True)
    return 0 if n_ok == len(rows) else 1


if __name__ == '__main__':
    sys.exit(main())
