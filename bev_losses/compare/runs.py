"""The runs of a loss comparison: their configs, their training subprocesses, side by side.

Every config and seed is one run with its own folder ``<work_dir>/<config>/seed<S>/``. A run is
trained by ``tools/train.py`` in a subprocess (a failing config is reported and the others go
on), ``jobs`` of them at a time, each limited to ``threads`` intra-op threads
(``OMP_NUM_THREADS``; on the 2-core machine of the profile two single-threaded runs side by
side do 1.65x the iterations of one two-threaded run: docs/main_job.md).

Interrupt safety: a run whose folder holds ``results.json`` is done; one with a checkpoint
resumes (``tools/train.py --resume``); a finished training (``train_done.json``) that was not
evaluated is only evaluated. A run whose config changed (edited file, other ``--max-iters`` or
``--cfg-options``) is discarded and trained again (``config.sha256``).

Imports MMEngine inside the functions that need it only.
"""
from __future__ import annotations

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
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

SCHEDULE_KEYS = ('begin', 'end', 'T_max', 'total_steps')
_ITER_RE = re.compile(r'Iter\(train\)\s*\[\s*(\d+)/(\d+)\]')
_TIME_RE = re.compile(r'\stime: ([0-9.]+)')
RESULTS = 'results.json'
TRAIN_DONE = 'train_done.json'


def repo_root() -> str:
    """The checkout holding ``tools/`` and ``configs/`` (this package's parent folder)."""
    return osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def default_configs(matrix_dir: Optional[str] = None) -> List[str]:
    """``configs/compare/*.py`` sorted by file name, files starting with ``_`` excluded."""
    matrix_dir = matrix_dir or osp.join(repo_root(), 'configs', 'compare')
    files = sorted(glob.glob(osp.join(matrix_dir, '*.py')))
    return [f for f in files if not osp.basename(f).startswith('_')]


def config_name(path: str) -> str:
    return osp.splitext(osp.basename(path))[0]


def available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


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
    evaluates after training), dump to ``run_dir/config.py``; return the config.

    A folder holding a run of another config (its ``config.sha256`` differs) is emptied first.
    """
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
            print(f'compare: the config of {run_dir} changed; its previous run is '
                  'discarded', flush=True)
            shutil.rmtree(run_dir)
    os.makedirs(run_dir, exist_ok=True)
    with open(osp.join(run_dir, 'config.py'), 'w') as f:
        f.write(text)
    with open(digest_path, 'w') as f:
        f.write(digest + '\n')
    return cfg


@dataclass
class RunPlan:
    """One config and seed of the comparison."""
    config: str
    src: str
    seed: int
    run_dir: str
    cfg: Any = None
    roles: Dict[str, str] = field(default_factory=dict)
    label: str = ''
    iters: int = 0
    error: Optional[str] = None

    @property
    def results_path(self) -> str:
        return osp.join(self.run_dir, RESULTS)

    @property
    def done(self) -> bool:
        return osp.isfile(self.results_path)

    def tag(self, k: int, n: int) -> str:
        return f'[{k}/{n}] {self.config} seed {self.seed}'


def plan_runs(configs: Sequence[str], seeds: Sequence[int], work_dir: str,
              max_iters: Optional[int] = None, cfg_options: Optional[dict] = None
              ) -> List[RunPlan]:
    """One plan per config and seed, in config order then seed order; writes each run's
    config (a config that cannot be loaded gives a plan with ``error``)."""
    plans = []
    for src in configs:
        name = config_name(src)
        for seed in seeds:
            plan = RunPlan(config=name, src=src, seed=int(seed),
                           run_dir=osp.join(work_dir, name, f'seed{seed}'))
            try:
                cfg = write_run_config(src, plan.run_dir, seed, max_iters, cfg_options)
                plan.cfg = cfg
                plan.roles = loss_roles(cfg)
                plan.label = cfg.get('compare_label', '')
                plan.iters = int(cfg.train_cfg.get('max_iters', 0))
            except Exception as exc:
                plan.error = f'config cannot be loaded: {type(exc).__name__}: {exc}'
            plans.append(plan)
    return plans


def _synthetic_datasets(cfg) -> List[tuple]:
    """``(data_root, generate_kwargs)`` of every auto-generated synthetic data set of a run."""
    out = []
    for key in ('train_dataloader', 'compare_val_dataloader'):
        ds = (cfg.get(key) or {}).get('dataset') or {}
        while isinstance(ds, dict) and 'dataset' in ds and 'data_root' not in ds:
            ds = ds['dataset']  # wrappers (RepeatDataset, CBGSDataset)
        if (isinstance(ds, dict) and 'SyntheticBEVDataset' in str(ds.get('type', ''))
                and ds.get('auto_generate') and ds.get('data_root')):
            out.append((ds['data_root'], dict(ds.get('generate_kwargs') or {})))
    return out


def prepare_shared_data(plans: Sequence[RunPlan], workers: int) -> None:
    """Generate every synthetic data set the runs read, once, with ``workers`` processes,
    before any training starts (a run's own check then finds it in place)."""
    from ..datasets.synthetic import ensure_synthetic_dataset
    seen = set()
    for plan in plans:
        if plan.cfg is None or plan.done:
            continue
        for root, kwargs in _synthetic_datasets(plan.cfg):
            key = (osp.abspath(root), json.dumps(kwargs, sort_keys=True))
            if key in seen:
                continue
            seen.add(key)
            start = time.time()
            if ensure_synthetic_dataset(root, verbose=True, workers=workers, **kwargs):
                print(f'compare: synthetic data set {root} generated in '
                      f'{time.time() - start:.1f} s ({workers} processes)', flush=True)


# ----------------------------------------------------------------------------------------------
# progress
# ----------------------------------------------------------------------------------------------
def fmt_seconds(s: float) -> str:
    s = int(round(s))
    return f'{s // 3600}h{s % 3600 // 60:02d}m' if s >= 3600 else f'{s // 60}m{s % 60:02d}s'


class Progress:
    """Iterations done / to do over the whole comparison, for an ETA with runs side by side."""

    def __init__(self, total_iters: int, total_runs: int, jobs: int) -> None:
        self.total = max(total_iters, 1)
        self.done = 0
        self.in_flight: Dict[str, int] = {}
        self.runs_left = total_runs
        self.jobs = max(1, jobs)
        self.sec_per_iter: Optional[float] = None  # of one run, as its log says
        self.overheads: List[float] = []  # seconds per run outside the iterations
        self.start = time.time()
        self.lock = threading.Lock()

    def update(self, key: str, it: int, sec_per_iter: Optional[float]) -> None:
        with self.lock:
            self.in_flight[key] = it
            if sec_per_iter is not None:
                self.sec_per_iter = sec_per_iter

    def run_finished(self, key: str, iters: int, seconds: float) -> None:
        with self.lock:
            self.in_flight.pop(key, None)
            self.done += iters
            self.runs_left = max(self.runs_left - 1, 0)
            if self.sec_per_iter is not None:
                self.overheads.append(max(seconds - iters * self.sec_per_iter, 0.0))

    def eta(self) -> str:
        """(Iterations left x seconds per iteration + overhead of the runs left) / jobs."""
        with self.lock:
            if self.sec_per_iter is None:
                return '?'
            left = max(self.total - self.done - sum(self.in_flight.values()), 0)
            overhead = (sum(self.overheads) / len(self.overheads)) if self.overheads else 15.0
            return fmt_seconds((left * self.sec_per_iter + self.runs_left * overhead)
                               / self.jobs)


# ----------------------------------------------------------------------------------------------
# training subprocesses
# ----------------------------------------------------------------------------------------------
class TrainJob:
    """``tools/train.py`` on a run's config in a subprocess; a thread copies its output to
    ``train.log`` and prints the progress lines."""

    def __init__(self, plan: RunPlan, tag: str, progress: Progress, threads: int,
                 train_py: Optional[str] = None) -> None:
        self.plan = plan
        self.tag = tag
        self.progress = progress
        run_dir = plan.run_dir
        cmd = [sys.executable, train_py or osp.join(repo_root(), 'tools', 'train.py'),
               osp.join(run_dir, 'config.py'), '--work-dir', run_dir]
        self.resumed = osp.isfile(osp.join(run_dir, 'last_checkpoint'))
        if self.resumed:
            cmd.append('--resume')
        env = dict(os.environ)
        root = repo_root()
        env['PYTHONPATH'] = root + (os.pathsep + env['PYTHONPATH']
                                    if env.get('PYTHONPATH') else '')
        env.setdefault('PYTHONUNBUFFERED', '1')
        for var in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
            env[var] = str(threads)
        self.tail: List[str] = []
        self.start = time.time()
        self.log = open(osp.join(run_dir, 'train.log'), 'a')
        self.log.write(f'\n$ OMP_NUM_THREADS={threads} {" ".join(cmd)}\n')
        self.log.flush()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     cwd=os.getcwd(), env=env, text=True, bufsize=1)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        key = self.plan.run_dir
        for line in self.proc.stdout:
            self.log.write(line)
            self.tail.append(line.rstrip('\n'))
            del self.tail[:-40]
            m = _ITER_RE.search(line)
            if m:
                it, total = int(m.group(1)), int(m.group(2))
                t = _TIME_RE.search(line)
                spi = float(t.group(1)) if t else None
                self.progress.update(key, it, spi)
                run_eta = fmt_seconds((total - it) * (spi or self.progress.sec_per_iter or 0))
                print(f'  {self.tag}: iter {it}/{total}'
                      + (f', {spi:.2f} s/it' if spi else '')
                      + f', run ETA {run_eta}, comparison ETA {self.progress.eta()}',
                      flush=True)
        self.log.flush()

    def poll(self) -> Optional[int]:
        rc = self.proc.poll()
        if rc is not None:
            self.reader.join()
            self.log.close()
        return rc

    def stop(self) -> None:
        """Terminate the subprocess (the comparison was interrupted)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.reader.join(timeout=5)
        if not self.log.closed:
            self.log.close()

    @property
    def seconds(self) -> float:
        return time.time() - self.start


def error_message(tail: Sequence[str]) -> str:
    """The most telling line of a failed run's output (our config errors, or the exception)."""
    for i, line in enumerate(tail):
        if 'invalid config' in line:
            return ' '.join(s.strip() for s in tail[i:i + 4])
    for line in reversed(tail):
        if re.match(r'^\w+(Error|Exception)\b', line.strip()):
            return line.strip()
    return tail[-1].strip() if tail else 'no output'


def final_checkpoint(run_dir: str) -> Optional[str]:
    path = osp.join(run_dir, 'last_checkpoint')
    if not osp.isfile(path):
        return None
    with open(path) as f:
        ckpt = f.read().strip()
    if not osp.isabs(ckpt):
        ckpt = osp.join(run_dir, ckpt)
    return ckpt if osp.isfile(ckpt) else None


def run_all(plans: Sequence[RunPlan], jobs: int, threads: int,
            evaluate: Callable[[RunPlan, dict], dict], progress: Progress,
            log: Callable[[str], None] = print) -> List[dict]:
    """Train every plan that is not done (``jobs`` at a time) and evaluate each as soon as its
    training ends, while the others train.

    ``evaluate(plan, train_info)`` returns the run's result dict (written to ``results.json``
    by the caller's function) or raises. Returns one row per plan, in plan order: the plan's
    fields plus ``status`` (``ok`` / ``failed``), ``error`` and the result.
    """
    n = len(plans)
    rows: List[Optional[dict]] = [None] * n
    pending: List[int] = []
    to_evaluate: List[tuple] = []
    for k, plan in enumerate(plans):
        tag = plan.tag(k + 1, n)
        base = dict(config=plan.config, seed=plan.seed, run_dir=plan.run_dir,
                    roles=plan.roles, label=plan.label, iters=plan.iters)
        if plan.done:
            with open(plan.results_path) as f:
                row = dict(base, **json.load(f))
            mean_ap = row.get('metrics', {}).get('bev/mAP', math.nan)
            log(f'{tag}: done before, skipped (mAP {mean_ap:.3f})')
            rows[k] = row
        elif plan.error is not None:
            rows[k] = dict(base, status='failed', error=plan.error, metrics={})
            log(f'{tag}: FAILED: {plan.error}')
        else:
            done_flag = osp.join(plan.run_dir, TRAIN_DONE)
            if osp.isfile(done_flag) and final_checkpoint(plan.run_dir):
                with open(done_flag) as f:
                    to_evaluate.append((k, json.load(f)))
                log(f'{tag}: trained before, to be evaluated')
            else:
                pending.append(k)
            rows[k] = base

    running: Dict[int, TrainJob] = {}
    try:
        while pending or running or to_evaluate:
            while pending and len(running) < jobs:
                k = pending.pop(0)
                plan = plans[k]
                tag = plan.tag(k + 1, n)
                log(f'{tag}: training {plan.iters} iterations -> {plan.run_dir}')
                running[k] = TrainJob(plan, tag, progress, threads)
            finished = [(k, job) for k, job in running.items() if job.poll() is not None]
            for k, job in finished:
                del running[k]
                plan = plans[k]
                tag = plan.tag(k + 1, n)
                rc = job.proc.returncode
                if rc != 0:
                    err = error_message(job.tail)
                    rows[k] = dict(rows[k], status='failed',
                                   error=f'training exited with {rc}: {err}', metrics={})
                    log(f'{tag}: FAILED ({err}); see {osp.join(plan.run_dir, "train.log")}')
                    progress.run_finished(plan.run_dir, plan.iters, job.seconds)
                    continue
                info = dict(seconds=job.seconds, resumed=job.resumed)
                with open(osp.join(plan.run_dir, TRAIN_DONE), 'w') as f:
                    json.dump(info, f)
                progress.run_finished(plan.run_dir, plan.iters, job.seconds)
                to_evaluate.append((k, info))
            if to_evaluate:
                # start the next trainings before evaluating, so the cores stay busy
                if pending and len(running) < jobs:
                    continue
                k, info = to_evaluate.pop(0)
                plan = plans[k]
                tag = plan.tag(k + 1, n)
                try:
                    result = evaluate(plan, info)
                    rows[k] = dict(rows[k], **result)
                    m = result.get('metrics', {})
                    log(f'{tag}: mAP {m.get("bev/mAP", float("nan")):.3f}  NDS '
                        f'{m.get("bev/NDS", float("nan")):.3f}  mAOE '
                        f'{m.get("bev/mAOE", float("nan")):.3f}  mAVE '
                        f'{m.get("bev/mAVE", float("nan")):.3f}  final loss '
                        f'{result.get("final_loss", float("nan")):.4f}  '
                        f'{result.get("sec_per_iter", float("nan")):.3f} s/it')
                except Exception as exc:
                    rows[k] = dict(rows[k], status='failed', metrics={},
                                   error=f'evaluation failed: {type(exc).__name__}: {exc}')
                    first = str(exc).splitlines()[0] if str(exc) else repr(exc)
                    log(f'{tag}: FAILED evaluation: {first}')
                continue
            if running:
                time.sleep(0.2)
    except BaseException:
        for job in running.values():
            job.stop()
        raise
    return [r for r in rows if r is not None]
