"""Shared scaffolding of the benchmarks that time the main job's model (``bench_center_targets``,
``bench_flat_batch_norm``, ``bench_optimizer_step``): arguments, training frames, a training
step, and timing two variants frame by frame in turn."""
import argparse
import os.path as osp
import statistics
import sys
import time
from typing import Callable, List, Sequence, Tuple

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

DEFAULT_CONFIG = osp.join(REPO, 'configs', 'compare', '01_bev_gaussian_focal_l1.py')


def loadavg() -> str:
    """The 1-minute load average (``/proc/loadavg``), printed with every measurement."""
    with open('/proc/loadavg') as f:
        return f.read().split()[0]


def parser(doc: str, **counts: int) -> argparse.ArgumentParser:
    """``--config`` (default: row 01 of the default matrix), ``--threads`` and one integer
    option per keyword (``frames=20`` gives ``--frames`` with default 20)."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument('--config', default=DEFAULT_CONFIG)
    for name, default in counts.items():
        p.add_argument(f'--{name}', type=int, default=default)
    p.add_argument('--threads', type=int, default=1)
    return p


def train_batches(cfg, frames: int) -> list:
    """The first ``frames`` batches (batch size 1) of ``cfg``'s training data loader, after its
    pipeline (the synthetic data set is generated first if missing). Call inside the mmdet3d
    default scope."""
    from mmengine.runner import Runner
    cfg.train_dataloader.batch_size = 1
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    batches = []
    for batch in loader:
        batches.append(batch)
        if len(batches) == frames:
            break
    return batches


def train_step(model) -> Callable:
    """``run(data)``: forward with the loss, the losses summed, backward (no optimizer step)."""
    def run(data):
        losses = model(**data, mode='loss')
        loss, _ = model.parse_losses(losses)
        model.zero_grad(set_to_none=True)
        loss.backward()
    return run


def interleaved_ms(fn_a: Callable, fn_b: Callable, items: Sequence,
                   rounds: int, warmup: int = 3) -> Tuple[float, float]:
    """Median milliseconds per item of ``fn_a`` and ``fn_b``, each item timed with one then the
    other, ``rounds`` times (both see the same machine), after ``warmup`` items of each."""
    for item in items[:warmup]:
        fn_a(item)
        fn_b(item)
    t_a: List[float] = []
    t_b: List[float] = []
    for _ in range(rounds):
        for item in items:
            for fn, out in ((fn_a, t_a), (fn_b, t_b)):
                t0 = time.perf_counter()
                fn(item)
                out.append(1000 * (time.perf_counter() - t0))
    return statistics.median(t_a), statistics.median(t_b)
