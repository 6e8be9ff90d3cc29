"""Command line of the loss comparison (``tools/compare_losses.py`` calls ``main``)."""
from __future__ import annotations

import argparse
import math
import os
import os.path as osp
import sys
import time
import traceback
from typing import List, Optional

from . import runs as R


def parse_args(argv=None):
    from mmengine.config import DictAction

    cpus = R.available_cpus()
    parser = argparse.ArgumentParser(
        prog='compare_losses.py',
        description='Train a small BEV detector with each loss config and compare them: '
        'paired differences to the baseline over seeds and validation frames, a verdict '
        'per row.')
    parser.add_argument('configs', nargs='*',
                        help='configs to compare, the baseline first (default: '
                        'configs/compare/*.py, in order)')
    parser.add_argument('--work-dir', default='work_dirs/compare',
                        help='output folder (default: work_dirs/compare)')
    parser.add_argument('--max-iters', type=int, default=None,
                        help='training iterations of every run (the schedule is rescaled); '
                        'default: each config\'s own')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2],
                        help='seeds; every config is trained once per seed (default: 0 1 2)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default=None,
                        help='overrides applied to every config, key=value')
    parser.add_argument('--jobs', type=int, default=None,
                        help=f'runs trained side by side (default: the CPU count, {cpus})')
    parser.add_argument('--threads', type=int, default=None,
                        help='intra-op threads of each run (default: CPUs / jobs)')
    parser.add_argument('--bootstrap', type=int, default=1000,
                        help='resamples of the validation frames (default: 1000; 0: none, '
                        'the verdict then uses the interval over seeds alone)')
    parser.add_argument('--bootstrap-seed', type=int, default=0,
                        help='seed of the frame resamples (default: 0)')
    parser.add_argument('--level', type=float, default=0.95,
                        help='confidence level of the intervals (default: 0.95)')
    parser.add_argument('--baseline', default=None,
                        help='config name of the baseline (default: the first config)')
    parser.add_argument('--scene-index', type=int, default=0,
                        help='validation sample drawn in bev_scenes.png (default: 0)')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='score threshold of the predictions drawn (default: 0.3)')
    args = parser.parse_args(argv)
    if args.max_iters is not None and args.max_iters < 1:
        parser.error(f'--max-iters must be >= 1, got {args.max_iters}')
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(f'--seeds must be distinct, got {args.seeds}')
    if not 0 < args.level < 1:
        parser.error(f'--level must be in (0, 1), got {args.level}')
    if args.bootstrap < 0:
        parser.error(f'--bootstrap must be >= 0, got {args.bootstrap}')
    if args.jobs is not None and args.jobs < 1:
        parser.error(f'--jobs must be >= 1, got {args.jobs}')
    if args.threads is not None and args.threads < 1:
        parser.error(f'--threads must be >= 1, got {args.threads}')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    configs = [osp.abspath(c) for c in args.configs] or R.default_configs()
    if not configs:
        print('compare_losses: no configs given and none in configs/compare/', file=sys.stderr)
        return 2
    missing = [c for c in configs if not osp.isfile(c)]
    if missing:
        print(f'compare_losses: config file(s) not found: {missing}', file=sys.stderr)
        return 2
    names = [R.config_name(c) for c in configs]
    if len(set(names)) != len(names):
        print(f'compare_losses: config names must be unique, got {names}', file=sys.stderr)
        return 2
    if args.baseline is not None and args.baseline not in names:
        print(f'compare_losses: --baseline {args.baseline!r} is not among {names}',
              file=sys.stderr)
        return 2
    start = time.time()
    _terminate_on_sigterm()
    work_dir = osp.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    cpus = R.available_cpus()
    plans = R.plan_runs(configs, args.seeds, work_dir, args.max_iters, args.cfg_options)
    todo = [p for p in plans if not p.done and p.error is None]
    jobs = max(1, min(args.jobs or cpus, len(todo) or 1))
    threads = args.threads or max(1, cpus // jobs)
    print(f'compare: {len(configs)} configs x {len(args.seeds)} seeds = {len(plans)} runs '
          f'({len(plans) - len(todo)} done or failed to load); {jobs} side by side, '
          f'{threads} thread{"s" if threads != 1 else ""} each; work dir {work_dir}',
          flush=True)

    # what every run shares, once: the data sets (all cores), the validation batches
    R.prepare_shared_data(plans, workers=cpus)
    import torch
    torch.set_num_threads(threads)  # the evaluations run here, beside the trainings
    from .evaluate import ValCache, evaluate_run
    from .report import training_summary
    cache = ValCache()
    import json

    def evaluate(plan: R.RunPlan, train_info: dict) -> dict:
        ckpt = R.final_checkpoint(plan.run_dir)
        if ckpt is None:
            raise FileNotFoundError(f'no final checkpoint in {plan.run_dir}')
        t0 = time.time()
        try:
            ev = evaluate_run(plan.cfg, ckpt, cache, plan.run_dir, args.scene_index,
                              args.bootstrap, args.bootstrap_seed)
        except Exception:
            with open(osp.join(plan.run_dir, 'eval_error.txt'), 'w') as f:
                f.write(traceback.format_exc())
            raise
        result = dict(status='ok', checkpoint=osp.basename(ckpt),
                      train_seconds=train_info.get('seconds', math.nan),
                      eval_seconds=time.time() - t0,
                      **ev, **training_summary(plan.run_dir))
        with open(plan.results_path, 'w') as f:
            json.dump(result, f, indent=1)
        return result

    total_iters = sum(p.iters for p in todo)
    progress = R.Progress(total_iters, len(todo), jobs)
    rows = R.run_all(plans, jobs, threads, evaluate, progress,
                     log=lambda s: print(s, flush=True))
    wall = R.fmt_seconds(time.time() - start)
    write_report(work_dir, rows, args, wall)
    n_ok = sum(r.get('status') == 'ok' for r in rows)
    print(f'compare_losses: {n_ok}/{len(rows)} runs ok in {wall}; wrote '
          f'{osp.join(work_dir, "comparison.md")}, comparison.csv and the plots', flush=True)
    return 0 if n_ok == len(rows) else 1


def _terminate_on_sigterm() -> None:
    """SIGTERM (a killed job) stops the training subprocesses too, as Ctrl-C does."""
    import signal

    def handler(signum, frame):
        raise SystemExit(128 + signum)
    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # pragma: no cover - not the main thread
        pass


def write_report(work_dir: str, rows: List[dict], args, wall_time: Optional[str] = None
                 ) -> None:
    """comparison.csv, the plots and comparison.md from the runs' rows."""
    from . import report as P
    from .evaluate import class_names_of
    classes = class_names_of(rows)
    P.write_csv(osp.join(work_dir, 'comparison.csv'), rows, classes)
    boots = P.load_bootstraps(rows, args.bootstrap, args.bootstrap_seed)
    comparisons = P.compare_rows(rows, boots, args.baseline, args.level)
    frames = sorted({r.get('num_val_frames') for r in rows if r.get('num_val_frames')})
    plots = []
    for fname, fn in (('loss_curves.png', lambda p: P.plot_loss_curves(p, rows)),
                      ('metrics.png', lambda p: P.plot_differences(p, comparisons, args.level)),
                      ('bev_scenes.png', lambda p: P.plot_scenes(p, rows, args.score_thr))):
        try:
            if fn(osp.join(work_dir, fname)):
                plots.append(fname)
        except Exception as exc:  # a plot must not lose the table
            print(f'compare_losses: could not draw {fname}: {exc}', file=sys.stderr)
    P.write_markdown(osp.join(work_dir, 'comparison.md'), rows, comparisons, classes,
                     args.seeds, plots, num_frames=frames[0] if len(frames) == 1 else None,
                     num_resamples=args.bootstrap, level=args.level, wall_time=wall_time)
