"""Every bev-losses loss against its peers, forward + backward, in one run.

    python benchmarks/bench_losses.py [--threads 2] [--repeats 15] [--quick] [--filter NAME]

Peers: mmdet 3.3's pure-PyTorch losses (the path CPU users take), torch.nn, and mmcv 2.1.0's
compiled ops where they exist. For each case it prints the median forward+backward time of
ours and of each peer, the speed-up (peer time / ours: > 1 means bev-losses is faster) and the
bytes each saves for backward (the tensors autograd keeps between forward and backward).

Timings are interleaved (ours, peer, peer, ours, ...: the order alternates) so that the
machine's noise hits both alike; only ratios from one run are meaningful.
"""
import argparse
import os
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional, Tuple

# Idle OpenMP threads sleep instead of spinning: on a shared 2-core machine spinning threads turn
# every parallel op into a scheduling stall (see docs/rotated_giou.md). Set before torch loads.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import torch  # noqa: E402


def saved_bytes(fn: Callable[[], torch.Tensor]) -> int:
    """Bytes of distinct storages autograd saves for backward during ``fn()``."""
    seen = {}

    def pack(t):
        try:
            storage = t.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
        except (RuntimeError, NotImplementedError):
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    return sum(seen.values())


def time_fwd_bwd(fn: Callable[[], torch.Tensor], leaves: List[torch.Tensor]) -> float:
    for leaf in leaves:
        leaf.grad = None
    start = time.perf_counter()
    out = fn()
    out.backward()
    return time.perf_counter() - start


class Case:
    def __init__(self, name: str, make_inputs: Callable[[], Tuple], ours: Callable,
                 peers: Dict[str, Optional[Callable]], note: str = ''):
        self.name, self.make_inputs, self.ours, self.peers, self.note = \
            name, make_inputs, ours, peers, note


def build_cases(quick: bool) -> List[Case]:
    from mmdet.models import losses as mml

    import bev_losses as bl

    g = torch.Generator().manual_seed(0)
    cases = []

    # ---- CenterPoint heatmap: Gaussian focal --------------------------------------------
    for shape in ([(2, 10, 64, 64)] if quick else [(2, 10, 64, 64), (4, 10, 128, 128)]):
        def inputs(shape=shape):
            logits = torch.randn(shape, generator=g) * 2
            target = torch.rand(shape, generator=g) ** 8  # mostly ~0, a few peaks
            target.view(-1)[torch.randint(0, target.numel(), (200,), generator=g)] = 1.0
            probs = logits.sigmoid().clamp(1e-4, 1 - 1e-4).requires_grad_()
            return (probs, target), [probs]
        ours, ref = bl.GaussianFocalLoss(), mml.GaussianFocalLoss()
        cases.append(Case(f'GaussianFocalLoss probs {shape}', inputs,
                          lambda p, t, m=ours: m(p, t, avg_factor=100.0),
                          {'mmdet': lambda p, t, m=ref: m(p, t, avg_factor=100.0)}))

        def inputs_logits(shape=shape):
            logits = (torch.randn(shape, generator=g) * 2).requires_grad_()
            target = torch.rand(shape, generator=g) ** 8
            return (logits, target), [logits]
        ours_l = bl.GaussianFocalLoss(activated=False)
        cases.append(Case(
            f'GaussianFocalLoss logits {shape}', inputs_logits,
            lambda x, t, m=ours_l: m(x, t, avg_factor=100.0),
            {'mmdet sigmoid+clamp': lambda x, t, m=ref: m(
                x.sigmoid().clamp(1e-4, 1 - 1e-4), t, avg_factor=100.0)}))

    # ---- anchor classification: sigmoid focal, softmax focal, CE ---------------------
    for n in ([20000] if quick else [20000, 200000]):
        c = 10

        def inputs_cls(n=n, c=c):
            logits = torch.randn(n, c, generator=g).requires_grad_()
            labels = torch.randint(0, c + 1, (n,), generator=g)  # c = background
            return (logits, labels), [logits]
        peers = {'mmdet': lambda x, y, m=mml.FocalLoss(): m(x, y)}
        try:
            from mmcv.ops import sigmoid_focal_loss as mmcv_sfl
            x0 = torch.randn(4, 3)
            mmcv_sfl(x0, torch.zeros(4, dtype=torch.long), 2.0, 0.25, None, 'mean')
            peers['mmcv op'] = lambda x, y, f=mmcv_sfl: f(x, y, 2.0, 0.25, None, 'mean')
        except Exception:  # CPU build of mmcv has no sigmoid_focal_loss kernel
            peers['mmcv op'] = None
        cases.append(Case(f'FocalLoss sigmoid ({n}, {c})', inputs_cls,
                          lambda x, y, m=bl.FocalLoss(): m(x, y), peers))

        def inputs_sm(n=n, c=c):
            logits = torch.randn(n, c, generator=g).requires_grad_()
            labels = torch.randint(0, c, (n,), generator=g)
            return (logits, labels), [logits]
        cases.append(Case(f'FocalLoss softmax ({n}, {c})', inputs_sm,
                          lambda x, y, m=bl.FocalLoss(use_sigmoid=False): m(x, y),
                          {'torch F.cross_entropy (gamma=0 bound)':
                           lambda x, y: torch.nn.functional.cross_entropy(x, y)}))
        cases.append(Case(f'CrossEntropyLoss softmax ({n}, {c})', inputs_sm,
                          lambda x, y, m=bl.CrossEntropyLoss(): m(x, y),
                          {'torch': lambda x, y: torch.nn.functional.cross_entropy(x, y),
                           'mmdet': lambda x, y, m=mml.CrossEntropyLoss(): m(x, y)}))
        cases.append(Case(f'CrossEntropyLoss sigmoid ({n}, {c})', inputs_cls,
                          lambda x, y, m=bl.CrossEntropyLoss(use_sigmoid=True): m(x, y),
                          {'mmdet': lambda x, y, m=mml.CrossEntropyLoss(use_sigmoid=True):
                           m(x, y)}))

        def inputs_kl(n=n, c=c):
            x = torch.randn(n, c, generator=g).log_softmax(-1).requires_grad_()
            t = torch.randn(n, c, generator=g).softmax(-1)
            return (x, t), [x]
        cases.append(Case(f'KLDivLoss batchmean ({n}, {c})', inputs_kl,
                          lambda x, t, m=bl.KLDivLoss(reduction='batchmean'): m(x, t),
                          {'torch': lambda x, t, m=torch.nn.KLDivLoss(reduction='batchmean'):
                           m(x, t)}))

    # ---- box regression ---------------------------------------------------------------
    for n in ([20000] if quick else [20000, 200000]):
        def inputs_reg(n=n):
            p = torch.randn(n, 9, generator=g).requires_grad_()
            t = torch.randn(n, 9, generator=g)
            w = torch.rand(n, 9, generator=g)
            return (p, t, w), [p]

        def inputs_plain(n=n):
            p = torch.randn(n, 9, generator=g).requires_grad_()
            t = torch.randn(n, 9, generator=g)
            return (p, t), [p]
        for name, cls, mcls, fn in (('L1Loss', bl.L1Loss, mml.L1Loss, 'l1_loss'),
                                    ('MSELoss', bl.MSELoss, mml.MSELoss, 'mse_loss'),
                                    ('SmoothL1Loss', bl.SmoothL1Loss, mml.SmoothL1Loss,
                                     'smooth_l1_loss')):
            tf = getattr(torch.nn.functional, fn)
            cases.append(Case(f'{name} plain ({n}, 9)', inputs_plain,
                              lambda p, t, m=cls(): m(p, t),
                              {'torch': lambda p, t, f=tf: f(p, t),
                               'mmdet': lambda p, t, m=mcls(): m(p, t)}))
            cases.append(Case(
                f'{name} weight+avg_factor ({n}, 9)', inputs_reg,
                lambda p, t, w, m=cls(): m(p, t, weight=w, avg_factor=float(n)),
                {'mmdet': lambda p, t, w, m=mcls(): m(p, t, weight=w, avg_factor=float(n))}))

    # ---- GIoU -------------------------------------------------------------------------------
    n = 20000 if quick else 100000

    def inputs_xyxy(n=n):
        xy = torch.rand(n, 2, generator=g) * 100
        wh = torch.rand(n, 2, generator=g) * 10 + 1
        p = torch.cat([xy, xy + wh], 1)
        t = p + torch.randn(n, 4, generator=g)
        return (p.requires_grad_(), t), [p]
    cases.append(Case(f'GIoULoss xyxy ({n},)', inputs_xyxy,
                      lambda p, t, m=bl.GIoULoss(): m(p, t),
                      {'mmdet': lambda p, t, m=mml.GIoULoss(): m(p, t)}))

    n = 2000 if quick else 10000

    def inputs_bev(n=n):
        b = torch.cat([torch.randn(n, 2, generator=g) * 3, torch.rand(n, 2, generator=g) * 4 + 0.5,
                       torch.rand(n, 1, generator=g) * 6.3], 1)
        t = b + torch.randn(n, 5, generator=g) * 0.5
        t[:, 2:4] = t[:, 2:4].abs() + 0.1
        return (b.requires_grad_(), t), [b]
    bev_peers = {}
    try:
        from mmcv.ops import box_iou_rotated
        # forward only: mmcv's op has no backward; this is the bar issue 4 sets (<= 2x).
        bev_peers['mmcv box_iou_rotated fwd only'] = \
            lambda p, t, f=box_iou_rotated: f(p.detach(), t, aligned=True).sum().requires_grad_()
    except ImportError:
        bev_peers['mmcv box_iou_rotated fwd only'] = None
    cases.append(Case(f'GIoULoss bev ({n},)', inputs_bev,
                      lambda p, t, m=bl.GIoULoss(box_format='bev'): m(p, t), bev_peers))

    def inputs_3d(n=n):
        b = torch.cat([torch.randn(n, 3, generator=g) * 3, torch.rand(n, 3, generator=g) * 4 + 0.5,
                       torch.rand(n, 1, generator=g) * 6.3], 1)
        t = b + torch.randn(n, 7, generator=g) * 0.5
        t[:, 3:6] = t[:, 3:6].abs() + 0.1
        return (b.requires_grad_(), t), [b]
    cases.append(Case(f'GIoULoss 3d ({n},)', inputs_3d,
                      lambda p, t, m=bl.GIoULoss(box_format='3d'): m(p, t), {}))
    return cases


def run_case(case: Case, repeats: int) -> Dict:
    args, leaves = case.make_inputs()
    runners = {'bev_losses': case.ours}
    runners.update({k: v for k, v in case.peers.items() if v is not None})
    times = {k: [] for k in runners}
    for _ in range(2):  # warm-up (and a compiled path's first call)
        for fn in runners.values():
            time_fwd_bwd(lambda fn=fn: fn(*args), leaves)
    order = list(runners.items())
    for i in range(repeats):
        # alternate who goes first: the first call after another's backward pays for memory
        # that the allocator has to hand out again, which would bias the ratio
        for k, fn in (order if i % 2 == 0 else order[::-1]):
            times[k].append(time_fwd_bwd(lambda fn=fn: fn(*args), leaves))
    med = {k: statistics.median(v) for k, v in times.items()}
    mem = {k: saved_bytes(lambda fn=fn: fn(*args)) for k, fn in runners.items()}
    return dict(median=med, saved=mem,
                missing=[k for k, v in case.peers.items() if v is None])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--repeats', type=int, default=15)
    ap.add_argument('--quick', action='store_true', help='small sizes only (a smoke run)')
    ap.add_argument('--filter', default='', help='only cases whose name contains this')
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, float32, '
          f'forward+backward, median of {args.repeats} interleaved repeats')
    print('| case | peer | bev_losses ms | peer ms | speed-up (peer/ours) | '
          'saved for backward: ours MB | peer MB |')
    print('|---|---|---:|---:|---:|---:|---:|')
    for case in build_cases(args.quick):
        if args.filter and args.filter not in case.name:
            continue
        res = run_case(case, args.repeats)
        ours_t = res['median']['bev_losses']
        ours_m = res['saved']['bev_losses'] / 2**20
        peers = [k for k in res['median'] if k != 'bev_losses']
        if not peers:
            print(f'| {case.name} | (no peer) | {ours_t * 1e3:.2f} | | | {ours_m:.1f} | |')
        for k in peers:
            t = res['median'][k]
            print(f'| {case.name} | {k} | {ours_t * 1e3:.2f} | {t * 1e3:.2f} | '
                  f'{t / ours_t:.2f}x | {ours_m:.1f} | {res["saved"][k] / 2**20:.1f} |')
        for k in res['missing']:
            print(f'| {case.name} | {k} | {ours_t * 1e3:.2f} | n/a on this build | | '
                  f'{ours_m:.1f} | |')
        sys.stdout.flush()
    return 0


if __name__ == '__main__':
    sys.exit(main())
