"""Rotated BEV GIoU: speed against mmcv's compiled rotated IoU, and accuracy against shapely.

Times, on the same random pairs and in one run (interleaved, median of repeats):

* ``bev_losses.ops.bev_iou_giou`` forward + backward of ``(1 - GIoU).sum()`` (the GIoU loss),
* the same with plain autograd through the forward instead of the analytic backward,
* its forward only (``torch.no_grad``),
* mmcv 2.1.0's compiled ``mmcv.ops.box_iou_rotated(b1, b2, aligned=True)`` forward (IoU only,
  not differentiable),

for each requested thread count, and prints the ratio ours(f+b) / mmcv(fwd) (target <= 2).
Then the float32 IoU error of both against exact geometry (shapely, float64, on the float32
boxes).

Box formats: ours ``(x, y, dx, dy, yaw)``, yaw counter-clockwise from +x. mmcv's kernel builds
corners with the rotation ``[[cos, -sin], [sin, cos]]`` (counter-clockwise for y up) when
``clockwise=True`` (its default; "clockwise" refers to image axes, y down), so the same
``(x, y, w=dx, h=dy, theta=yaw)`` rows are passed unchanged; the accuracy check below confirms
it (a flipped sign would give errors near 1).

Usage:
    .venv/bin/python benchmarks/bench_rotated_giou.py [--n 10000] [--repeat 30]
        [--threads 1,2] [--accuracy-pairs 3000] [--omp-active]

The machine may be shared: the load average is printed, timings are interleaved and medians
are reported. OpenMP threads wait passively unless --omp-active is given (see below).
"""
import argparse
import math
import os
import sys

# torch's OpenMP threads spin while waiting by default; on a machine whose cores are busy with
# other work that turns every parallel tensor op into a scheduling stall. Waiting passively
# makes the 2-thread timings meaningful there (mmcv's kernel is a serial loop). Must be set
# before torch is imported; --omp-active re-runs without it.
if '--omp-active' not in sys.argv:
    os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
import statistics
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bev_losses.ops.rotated_iou import _bev_areas, bev_iou_giou  # noqa: E402


def make_pairs(n: int, seed: int = 0):
    """float32 pairs, a quarter each: overlapping (any relative yaw), nearly identical
    (perturbed by ~1e-3, as late in training), one inside the other, and overlapping pairs
    far from the origin (|x|, |y| up to 80 m, as in LiDAR frames)."""
    g = torch.Generator().manual_seed(seed)
    b1 = torch.rand(n, 5, generator=g, dtype=torch.float64)
    b1[:, :2] = b1[:, :2] * 40 - 20
    b1[:, 2:4] = b1[:, 2:4] * 4 + 0.5
    b1[:, 4] = (b1[:, 4] - 0.5) * 4 * math.pi
    b2 = b1.clone()
    b2[:, :2] += torch.randn(n, 2, generator=g, dtype=torch.float64) * 1.5
    b2[:, 2:4] *= 0.6 + 0.8 * torch.rand(n, 2, generator=g, dtype=torch.float64)
    b2[:, 4] += torch.randn(n, generator=g, dtype=torch.float64) * 0.8
    q = n // 4
    s = slice(q, 2 * q)  # nearly identical
    b2[s] = b1[s] + torch.randn(q, 5, generator=g, dtype=torch.float64) * 1e-3
    s = slice(2 * q, 3 * q)  # containment
    b2[s, :2] = b1[s, :2] + (torch.rand(q, 2, generator=g, dtype=torch.float64) - 0.5) * 0.2
    b2[s, 2:4] = b1[s, 2:4].min(1, keepdim=True).values * 0.4
    s = slice(3 * q, n)  # far from the origin
    shift = (torch.rand(n - 3 * q, 2, generator=g, dtype=torch.float64) - 0.5) * 120
    b1[s, :2] += shift
    b2[s, :2] += shift
    return b1.float(), b2.float()


def ours_fwd_bwd(b1, b2):
    p = b1.clone().requires_grad_()
    _, giou = bev_iou_giou(p, b2)
    (1 - giou).sum().backward()
    return p.grad


def autograd_fwd_bwd(b1, b2):
    p = b1.clone().requires_grad_()
    a1, a2, inter, hull = _bev_areas(p, b2, analytic=False)
    union = (a1 + a2 - inter).clamp(min=1e-6)
    hull = hull.clamp(min=1e-6)
    giou = inter / union - (hull - union) / hull
    (1 - giou).sum().backward()
    return p.grad


def ours_fwd(b1, b2):
    with torch.no_grad():
        return bev_iou_giou(b1, b2)


def time_all(fns, repeat):
    for fn in fns.values():  # warm-up
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(v) * 1e3 for name, v in times.items()}


def exact_iou(b1, b2):
    from shapely.geometry import Polygon

    def corners(b):
        x, y, dx, dy, yaw = b
        c, s = math.cos(yaw), math.sin(yaw)
        return [(x + c * u - s * v, y + s * u + c * v)
                for u, v in ((dx / 2, dy / 2), (-dx / 2, dy / 2), (-dx / 2, -dy / 2),
                             (dx / 2, -dy / 2))]

    out = []
    for r1, r2 in zip(b1.double().tolist(), b2.double().tolist()):
        p1, p2 = Polygon(corners(r1)), Polygon(corners(r2))
        inter = p1.intersection(p2).area
        out.append(inter / (p1.area + p2.area - inter))
    return torch.tensor(out, dtype=torch.float64)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--n', type=int, default=10000, help='number of box pairs')
    parser.add_argument('--repeat', type=int, default=30, help='timed repeats (median)')
    parser.add_argument('--threads', default='1,2', help='comma-separated torch thread counts')
    parser.add_argument('--omp-active', action='store_true',
                        help="leave OpenMP's wait policy at its default (spinning)")
    parser.add_argument('--accuracy-pairs', type=int, default=3000,
                        help='pairs checked against shapely (0: skip)')
    args = parser.parse_args()

    from mmcv.ops import box_iou_rotated
    import mmcv

    b1, b2 = make_pairs(args.n)
    print(f'torch {torch.__version__}, mmcv {mmcv.__version__}, {args.n} BEV pairs, float32, '
          f'median of {args.repeat}; load average {os.getloadavg()[0]:.1f} on '
          f'{os.cpu_count()} CPUs; '
          f'OMP_WAIT_POLICY={os.environ.get("OMP_WAIT_POLICY", "default")}')
    fns = {
        'ours fwd+bwd': lambda: ours_fwd_bwd(b1, b2),
        'ours fwd+bwd, autograd': lambda: autograd_fwd_bwd(b1, b2),
        'ours fwd': lambda: ours_fwd(b1, b2),
        'mmcv box_iou_rotated fwd': lambda: box_iou_rotated(b1, b2, aligned=True),
    }
    print(f"\n{'threads':>7}  " + '  '.join(f'{k:>26}' for k in fns) + '   ratio ours/mmcv')
    for nt in [int(x) for x in args.threads.split(',')]:
        torch.set_num_threads(nt)
        med = time_all(fns, args.repeat)
        ratio = med['ours fwd+bwd'] / med['mmcv box_iou_rotated fwd']
        print(f'{nt:>7}  ' + '  '.join(f'{med[k]:>23.2f} ms' for k in fns) +
              f'   {ratio:.2f} ({"meets" if ratio <= 2 else "misses"} <= 2)')

    if args.accuracy_pairs > 0:
        k = min(args.accuracy_pairs, args.n)
        scale = torch.tensor([1e-3, 1e-3, 1e-3, 1e-3, 1.])  # positions and sizes, not yaw
        sets = (('the timed pairs', b1[:k], b2[:k]),
                ('the same pairs scaled by 1e-3', b1[:k] * scale, b2[:k] * scale))
        for title, c1, c2 in sets:
            ref = exact_iou(c1, c2)
            # eps (the clamp of the union, 1e-6 by default as in mmdet) set far below the areas
            err_ours = (bev_iou_giou(c1, c2, eps=1e-30)[0].double() - ref).abs()
            err_ours64 = (bev_iou_giou(c1.double(), c2.double(), eps=1e-30)[0] - ref).abs()
            err_mmcv = (box_iou_rotated(c1, c2, aligned=True).double() - ref).abs()
            print(f'\nIoU vs exact geometry (shapely, float64, on the float32 boxes), {k} pairs: '
                  f'{title}; max / mean abs error')
            for name, e in (('ours float32', err_ours), ('ours float64', err_ours64),
                            ('mmcv float32', err_mmcv)):
                print(f'  {name:14s} {e.max():.2e} / {e.mean():.2e}')


if __name__ == '__main__':
    main()
