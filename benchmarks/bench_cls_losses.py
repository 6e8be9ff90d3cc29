"""Side-by-side CPU timing of the classification losses against mmdet 3.3 (forward + backward).

Run: ``.venv/bin/python benchmarks/bench_cls_losses.py [--threads 2] [--repeat 30]``.
Prints medians (ms), the ratio mmdet / bev_losses, and the bytes each saves for backward.
"""
import argparse
import statistics
import time
import warnings

import torch

warnings.filterwarnings('ignore')


def saved_bytes(fn):
    """Bytes of the distinct tensors autograd saves for backward during ``fn()``."""
    seen = {}

    def pack(t):
        try:
            key = (t.untyped_storage().data_ptr(), t.dtype)
            seen[key] = t.untyped_storage().nbytes()
        except Exception:  # noqa: BLE001
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    return sum(seen.values())


def median_ms(fn, repeat):
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeat', type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import bev_losses as B
    from mmdet.models.losses import CrossEntropyLoss as MCE
    from mmdet.models.losses import FocalLoss as MF
    from mmdet.models.losses import GaussianFocalLoss as MG

    g = torch.Generator().manual_seed(0)
    cases = []
    # sigmoid focal, (200000, 10) logits, integer labels (background = 10)
    x = torch.randn(200000, 10, generator=g).requires_grad_()
    y = torch.randint(0, 11, (200000,), generator=g)
    cases.append(('FocalLoss sigmoid (200000,10) int', B.FocalLoss(), MF(), (x, y), {}))
    # gaussian focal on a CenterPoint-like heatmap (4, 10, 128, 128)
    p = torch.rand(4, 10, 128, 128, generator=g).clamp(1e-4, 1 - 1e-4).requires_grad_()
    t = torch.rand(4, 10, 128, 128, generator=g) ** 8
    t.view(-1)[torch.randint(0, t.numel(), (200,), generator=g)] = 1.0
    cases.append(('GaussianFocalLoss (4,10,128,128)', B.GaussianFocalLoss(), MG(), (p, t),
                  dict(avg_factor=200.0)))
    # sigmoid CE with labels, softmax CE
    xs = torch.randn(200000, 10, generator=g).requires_grad_()
    cases.append(('CrossEntropyLoss sigmoid (200000,10)', B.CrossEntropyLoss(use_sigmoid=True),
                  MCE(use_sigmoid=True), (xs, y), {}))
    yc = torch.randint(0, 10, (200000,), generator=g)
    cases.append(('CrossEntropyLoss softmax (200000,10)', B.CrossEntropyLoss(), MCE(),
                  (xs, yc), {}))

    print(f'threads={torch.get_num_threads()}  (median of {args.repeat}, forward+backward)')
    print(f'{"loss":40s} {"bev ms":>8s} {"mmdet ms":>9s} {"speed-up":>9s} '
          f'{"bev saved MB":>13s} {"mmdet saved MB":>15s}')
    for name, ours, ref, inputs, kw in cases:
        def run(loss=ours):
            loss(*inputs, **kw).backward()

        def run_ref(loss=ref):
            loss(*inputs, **kw).backward()

        tb, tm = [], []
        for _ in range(3):  # interleave to share machine noise
            tb.append(median_ms(run, args.repeat // 3 or 1))
            tm.append(median_ms(run_ref, args.repeat // 3 or 1))
        b_ms, m_ms = min(tb), min(tm)
        sb = saved_bytes(lambda: ours(*inputs, **kw)) / 2**20
        sm = saved_bytes(lambda: ref(*inputs, **kw)) / 2**20
        print(f'{name:40s} {b_ms:8.2f} {m_ms:9.2f} {m_ms / b_ms:8.2f}x {sb:13.1f} {sm:15.1f}')


if __name__ == '__main__':
    main()
