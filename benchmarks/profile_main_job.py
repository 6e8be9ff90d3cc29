"""Where the time of the main job goes (docs/main_job.md#where-the-time-goes-and-the-decision).

    python benchmarks/profile_main_job.py [--config configs/compare/00_mmdet_baseline.py]
                                          [--iters 60] [--skip-side-by-side] [--skip-overhead]

Measures, on this machine, with the config's own data (generated first if missing):

1. one training iteration, split into data loading, voxelisation, forward + loss, backward and
   optimizer step, with 1 and with 2 intra-op threads (one process);
2. the same iteration in two single-threaded processes side by side (what the comparison does
   on a 2-core machine): the per-process time and the throughput against one two-threaded
   process;
3. a run's fixed cost: ``tools/train.py`` from process start to the first iteration, each
   checkpoint, the wall time beyond the iterations; and the comparison's evaluation of a run:
   building the shared validation cache (once per comparison), the model on the cached frames,
   the matching, 1000 frame resamples.

Prints one JSON line per measurement. The numbers depend on what else runs on the machine:
quote them with the load (``/proc/loadavg`` is printed with each).
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)


def _load():
    with open('/proc/loadavg') as f:
        return f.read().split()[0]


def _print(kind, **kw):
    print(json.dumps(dict(kind=kind, load=_load(), **kw)), flush=True)


def iteration_profile(config: str, threads: int, iters: int, warmup: int = 10) -> dict:
    """Median phase times (ms) of ``iters`` training iterations in this process."""
    import numpy as np
    import torch
    torch.set_num_threads(threads)
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    import bev_losses  # noqa: F401
    cfg = Config.fromfile(config)
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        from mmdet3d.registry import MODELS
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
        model.init_weights()
        model.train()
        cfg.train_dataloader.batch_size = 1
        loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
        phases = {k: [] for k in ('data', 'voxelise', 'forward_loss', 'backward', 'step')}
        it = iter(loader)
        for i in range(iters + warmup):
            t0 = time.perf_counter()
            batch = next(it)
            t1 = time.perf_counter()
            data = model.data_preprocessor(batch, True)
            t2 = time.perf_counter()
            losses = model(**data, mode='loss')
            loss, _ = model.parse_losses(losses)
            t3 = time.perf_counter()
            optim.zero_grad()
            loss.backward()
            t4 = time.perf_counter()
            optim.step()
            t5 = time.perf_counter()
            if i >= warmup:
                for k, a, b in zip(phases, (t0, t1, t2, t3, t4), (t1, t2, t3, t4, t5)):
                    phases[k].append(1000 * (b - a))
    out = {k: round(float(np.median(v)), 1) for k, v in phases.items()}
    out['total'] = round(float(np.median(np.sum([phases[k] for k in phases], axis=0))), 1)
    return out


def side_by_side(config: str, iters: int) -> list:
    """Two single-threaded processes of ``iteration_profile`` at once."""
    cmd = [sys.executable, __file__, '--config', config, '--iters', str(iters), '--_worker']
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO)
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    return [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]


def run_overhead(config: str, iters: int = 40) -> dict:
    """``tools/train.py`` on ``iters`` iterations, a checkpoint every quarter."""
    import glob
    work = tempfile.mkdtemp(prefix='profile_main_job_')
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO)
    q = max(iters // 4, 1)
    cmd = [sys.executable, osp.join(REPO, 'tools', 'train.py'), config, '--work-dir', work,
           '--cfg-options', f'train_cfg.max_iters={iters}',
           f'param_scheduler.0.total_steps={iters}', f'param_scheduler.0.end={iters}',
           'default_hooks.logger.interval=1',
           f'default_hooks.checkpoint.interval={q}', 'val_cfg=None', 'val_dataloader=None',
           'val_evaluator=None']
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    first, marks = None, []
    for line in proc.stdout:
        now = time.time() - t0
        if 'Iter(train) [' in line:
            first = now if first is None else first
            marks.append(('it', now))
        elif 'Saving checkpoint' in line:
            marks.append(('ckpt', now))
    proc.wait()
    wall = time.time() - t0
    recs = [json.loads(x) for f in glob.glob(osp.join(work, '*', 'vis_data', 'scalars.json'))
            for x in open(f) if x.strip()]
    times = [r['time'] for r in recs if 'time' in r]
    med = sorted(times)[len(times) // 2] if times else float('nan')
    ckpt = [marks[i + 1][1] - t - med for i, (k, t) in enumerate(marks)
            if k == 'ckpt' and i + 1 < len(marks)]
    return dict(iters=iters, wall_s=round(wall, 2), to_first_iteration_s=round(first or -1, 2),
                iterations_s=round(sum(times), 2), beyond_iterations_s=round(wall - sum(times), 2),
                checkpoint_s=[round(c, 2) for c in ckpt], work_dir=work, returncode=proc.returncode)


def evaluation_profile(config: str, ckpt_dir: str) -> dict:
    """The comparison's evaluation of one run (needs ``ckpt_dir`` from ``run_overhead``)."""
    import torch
    torch.set_num_threads(1)
    from bev_losses.compare.evaluate import (ValCache, bootstrap_metrics, evaluate_run,
                                             load_predictions)
    from bev_losses.compare.runs import final_checkpoint, write_run_config
    from bev_losses.evaluation import match_bev_detections
    run = tempfile.mkdtemp(prefix='profile_eval_')
    cfg = write_run_config(config, run, 0, None, None)
    cache = ValCache()
    t0 = time.time()
    cache.get(cfg)
    t1 = time.time()
    ev = evaluate_run(cfg, final_checkpoint(ckpt_dir), cache, run, 0, 0)
    t2 = time.time()
    preds, gts = load_predictions(osp.join(run, 'predictions.npz'))
    t3 = time.time()
    matches = match_bev_detections(preds, gts, ev['class_names'], **ev['metric_options'])
    t4 = time.time()
    bootstrap_metrics(matches, 1000, 0)
    t5 = time.time()
    return dict(val_cache_once_s=round(t1 - t0, 2),
                model_match_and_metrics_s=round(t2 - t1, 2), matching_alone_s=round(t4 - t3, 2),
                bootstrap_1000_s=round(t5 - t4, 2))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=osp.join(REPO, 'configs', 'compare',
                                                     '00_mmdet_baseline.py'))
    parser.add_argument('--iters', type=int, default=60)
    parser.add_argument('--skip-side-by-side', action='store_true')
    parser.add_argument('--skip-overhead', action='store_true')
    parser.add_argument('--_worker', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._worker:
        print(json.dumps(iteration_profile(args.config, 1, args.iters)), flush=True)
        return 0
    from bev_losses.compare.runs import available_cpus, plan_runs, prepare_shared_data
    prepare_shared_data(plan_runs([args.config], [0], tempfile.mkdtemp(prefix='profile_plan_')),
                        available_cpus())
    for threads in (1, 2):
        _print('iteration', threads=threads, processes=1,
               ms=iteration_profile(args.config, threads, args.iters))
    if not args.skip_side_by_side:
        res = side_by_side(args.config, args.iters)
        _print('iteration', threads=1, processes=2, ms=res,
               iterations_per_s=round(sum(1000.0 / r['total'] for r in res), 2))
    if not args.skip_overhead:
        ov = run_overhead(args.config)
        _print('run_overhead', **ov)
        _print('evaluation', **evaluation_profile(args.config, ov['work_dir']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
