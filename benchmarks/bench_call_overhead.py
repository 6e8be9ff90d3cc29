"""Per-call cost of every loss on the tiny inputs the unit tests use, against its peer.

    python benchmarks/bench_call_overhead.py [--threads 2] [--blocks 15] [--calls 200]
                                             [--filter NAME]

On tiny tensors the kernels cost next to nothing, so this measures the fixed per-call cost of
a loss: Python argument checks, host syncs of the label / probability checks, autograd node
creation. Forward + backward of one call, in microseconds. Modules are built once (as in
training); the peer is the closest existing implementation (``torch.nn.functional`` or mmdet
3.3's module). Each block times ``--calls`` calls of ours, then of the peer (the order
alternates block to block, so the machine's noise hits both alike); the table shows the median
block. ``ratio`` = peer time / ours: >= 1 means bev-losses is at least as fast.

Unlike ``bench_losses.py`` this does not set ``OMP_WAIT_POLICY=PASSIVE`` (the unit tests run
without it): with passive OpenMP threads every op that takes torch's parallel path pays a
thread wake-up (``F.cross_entropy`` on (16, 5) goes from ~60 us to ~360 us), which would
swamp the per-call Python cost this script is about. Set it in the environment to see that.
"""
import argparse
import os
import statistics
import sys
import time
from typing import Callable, List, Tuple

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))


def build_cases() -> List[Tuple[str, str, Callable, Callable]]:
    from mmdet.models import losses as mml

    import bev_losses as bl

    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 5, generator=g).requires_grad_()
    y = torch.randint(0, 5, (16,), generator=g)
    y_bg = torch.randint(0, 6, (16,), generator=g)          # sigmoid labels, 5 = background
    heat = torch.rand(2, 3, 8, 8, generator=g).clamp(1e-4, 1 - 1e-4).requires_grad_()
    heat_t = torch.rand(2, 3, 8, 8, generator=g) ** 4
    heat_t[0, 0, 2, 2] = 1.0
    heat_t[1, 2, 5, 6] = 1.0
    kl_p = torch.randn(16, 5, generator=g).log_softmax(1).requires_grad_()
    kl_t = torch.randn(16, 5, generator=g).softmax(1)
    r = torch.randn(16, 7, generator=g).requires_grad_()
    rt = torch.randn(16, 7, generator=g)
    lo = torch.rand(16, 2, generator=g) * 10
    box_p = torch.cat([lo, lo + 1 + torch.rand(16, 2, generator=g) * 5], 1).requires_grad_()
    lo_t = lo + torch.randn(16, 2, generator=g)
    box_t = torch.cat([lo_t, lo_t + 1 + torch.rand(16, 2, generator=g) * 5], 1)

    def pair(ours, peer, *args):
        return (lambda: ours(*args).backward()), (lambda: peer(*args).backward())

    kl_torch = torch.nn.KLDivLoss(reduction='batchmean')
    cases = [
        ('CrossEntropyLoss softmax (16, 5)', 'F.cross_entropy',
         *pair(bl.CrossEntropyLoss(), F.cross_entropy, x, y)),
        ('CrossEntropyLoss softmax (16, 5)', 'mmdet',
         *pair(bl.CrossEntropyLoss(), mml.CrossEntropyLoss(), x, y)),
        ('CrossEntropyLoss sigmoid (16, 5)', 'mmdet',
         *pair(bl.CrossEntropyLoss(use_sigmoid=True), mml.CrossEntropyLoss(use_sigmoid=True),
               x, y_bg)),
        ('FocalLoss sigmoid (16, 5)', 'mmdet',
         *pair(bl.FocalLoss(), mml.FocalLoss(), x, y_bg)),
        ('FocalLoss softmax (16, 5)', 'F.cross_entropy',
         *pair(bl.FocalLoss(use_sigmoid=False), F.cross_entropy, x, y)),
        ('GaussianFocalLoss (2, 3, 8, 8)', 'mmdet',
         *pair(bl.GaussianFocalLoss(), mml.GaussianFocalLoss(), heat, heat_t)),
        ('KLDivLoss batchmean (16, 5)', 'torch.nn.KLDivLoss',
         *pair(bl.KLDivLoss(reduction='batchmean'), kl_torch, kl_p, kl_t)),
        ('L1Loss (16, 7)', 'F.l1_loss', *pair(bl.L1Loss(), F.l1_loss, r, rt)),
        ('MSELoss (16, 7)', 'F.mse_loss', *pair(bl.MSELoss(), F.mse_loss, r, rt)),
        ('SmoothL1Loss (16, 7)', 'F.smooth_l1_loss',
         *pair(bl.SmoothL1Loss(beta=1.0), F.smooth_l1_loss, r, rt)),
        ('GIoULoss xyxy (16, 4)', 'mmdet', *pair(bl.GIoULoss(), mml.GIoULoss(), box_p, box_t)),
    ]
    leaves = [x, heat, kl_p, r, box_p]
    return cases, leaves


def block_us(fn: Callable, calls: int, leaves) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    elapsed = time.perf_counter() - start
    for leaf in leaves:
        leaf.grad = None
    return elapsed / calls * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--blocks', type=int, default=15)
    ap.add_argument('--calls', type=int, default=200)
    ap.add_argument('--filter', default='')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cases, leaves = build_cases()
    print(f'torch {torch.__version__}, {args.threads} threads, forward+backward, us per call, '
          f'median of {args.blocks} interleaved blocks of {args.calls} calls')
    print(f'{"case":36s} {"peer":20s} {"ours us":>8s} {"peer us":>8s} {"ratio":>7s}')
    below = []
    for name, peer, ours, ref in cases:
        if args.filter and args.filter.lower() not in f'{name} {peer}'.lower():
            continue
        for _ in range(30):      # warm-up (allocator, dispatcher caches)
            ours()
            ref()
        t_ours, t_ref = [], []
        for b in range(args.blocks):
            first, second = ((ours, t_ours), (ref, t_ref)) if b % 2 == 0 else \
                ((ref, t_ref), (ours, t_ours))
            first[1].append(block_us(first[0], args.calls, leaves))
            second[1].append(block_us(second[0], args.calls, leaves))
        a, p = statistics.median(t_ours), statistics.median(t_ref)
        print(f'{name:36s} {peer:20s} {a:8.1f} {p:8.1f} {p / a:6.2f}x')
        if p / a < 1.0:
            below.append(f'{name} vs {peer}')
    print('below 1.0x: ' + (', '.join(below) if below else 'none'))


if __name__ == '__main__':
    main()
