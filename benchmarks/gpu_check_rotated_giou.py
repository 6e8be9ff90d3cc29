"""CUDA check of the rotated BEV / 3D IoU and GIoU (run on a machine with a GPU).

Checks that the same code gives on CUDA what it gives on CPU in float64 (values and analytic
gradients), that CUDA float32 is within 1e-4 of it, that autocast stays float32 and finite,
and times forward + backward of the BEV GIoU loss for 10k and 1M pairs (CUDA events).

Usage: python benchmarks/gpu_check_rotated_giou.py
Works without MMEngine installed (it then loads the two source files it needs directly).
"""
import importlib.util
import math
import sys
import types
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def load_rotated_iou():
    sys.path.insert(0, str(ROOT))
    try:
        from bev_losses.ops import rotated_iou
        return rotated_iou
    except ImportError:  # no mmengine: load bev_losses/losses/base.py and ops/rotated_iou.py
        for name in [k for k in sys.modules if k.startswith('bev_losses')]:
            del sys.modules[name]
        for pkg in ('bev_losses', 'bev_losses.losses', 'bev_losses.ops'):
            mod = types.ModuleType(pkg)
            mod.__path__ = [str(ROOT / pkg.replace('.', '/'))]
            sys.modules[pkg] = mod
        for name, rel in (('bev_losses.losses.reduction', 'bev_losses/losses/reduction.py'),
                          ('bev_losses.losses.base', 'bev_losses/losses/base.py'),
                          ('bev_losses.ops.rotated_iou', 'bev_losses/ops/rotated_iou.py')):
            spec = importlib.util.spec_from_file_location(name, ROOT / rel)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[name] = mod
            spec.loader.exec_module(mod)
        return sys.modules['bev_losses.ops.rotated_iou']


def pairs(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    b1 = torch.rand(n, 5, generator=g, dtype=torch.float64)
    b1[:, :2] = b1[:, :2] * 20 - 10
    b1[:, 2:4] = b1[:, 2:4] * 4 + 0.1
    b1[:, 4] = b1[:, 4] * 40 - 20
    b2 = b1.clone()
    q = n // 4
    b2[:q] += torch.randn(q, 5, generator=g, dtype=torch.float64) * 0.2
    b2[q:2 * q, :2] += torch.randn(q, 2, generator=g, dtype=torch.float64) * 3
    b2[q:2 * q, 4] = torch.rand(q, generator=g, dtype=torch.float64) * 7
    b2[2 * q:3 * q, 2:4] *= 0.3
    b2[3 * q:] = b1[3 * q:].flip(0)
    b2[3 * q::7] = b1[3 * q::7]  # identical
    b2[3 * q + 1::7, 4] += math.pi  # flipped
    b2[3 * q + 2::7, 2:4] = 0  # zero size
    return b1, b2


def main():
    R = load_rotated_iou()
    assert torch.cuda.is_available(), 'no CUDA device'
    dev = torch.device('cuda')
    print(torch.__version__, torch.cuda.get_device_name(0))
    b1, b2 = pairs(20000)
    ok = True
    for fn, w in ((R.bev_iou_giou, 5), (R.box3d_iou_giou, 7)):
        if w == 7:
            z = torch.linspace(-1, 1, len(b1), dtype=torch.float64)[:, None]
            c1 = torch.cat((b1[:, :2], z, b1[:, 2:4], 1 + z.abs(), b1[:, 4:]), 1)
            c2 = torch.cat((b2[:, :2], -z, b2[:, 2:4], 2 - z.abs(), b2[:, 4:]), 1)
        else:
            c1, c2 = b1, b2
        res = {}
        for device, dtype in (('cpu', torch.float64), (dev, torch.float64), (dev, torch.float32)):
            p1 = c1.detach().to(device, dtype).clone().requires_grad_()
            p2 = c2.detach().to(device, dtype).clone().requires_grad_()
            iou, giou = fn(p1, p2)
            (giou.sum() + 0.5 * iou.sum()).backward()
            res[(str(device), dtype)] = [t.detach().double().cpu()
                                         for t in (iou, giou, p1.grad, p2.grad)]
        ref = res[('cpu', torch.float64)]
        # the last quarter holds identical / flipped / zero-size pairs: kinks of the loss,
        # where the gradient is one of the one-sided ones, chosen by rounding
        gen = slice(0, 3 * (len(b1) // 4))
        for key, tol in ((('cuda', torch.float64), 1e-9), (('cuda', torch.float32), 1e-4)):
            errs = [(x - y).abs().max().item() for x, y in zip(res[key], ref)]
            gerr = [(x[gen] - y[gen]).abs().max().item() for x, y in zip(res[key][2:], ref[2:])]
            finite = all(torch.isfinite(x).all().item() for x in res[key])
            good = errs[0] <= tol and errs[1] <= tol and finite
            ok &= good
            print(f'{fn.__name__} {key}: max |diff| vs CPU float64 iou {errs[0]:.2e} giou '
                  f'{errs[1]:.2e}; grads on generic pairs {gerr[0]:.2e} {gerr[1]:.2e}, on '
                  f'all {errs[2]:.2e} {errs[3]:.2e}; finite {finite} {"OK" if good else "FAIL"}')
    for dt in (torch.bfloat16, torch.float16):
        p1 = b1.detach().to(dev, torch.float32).clone().requires_grad_()
        with torch.autocast('cuda', dtype=dt):
            iou, giou = R.bev_iou_giou(p1, b2.detach().to(dev, torch.float32))
        giou.sum().backward()
        good = (giou.dtype == torch.float32 and bool(torch.isfinite(giou).all())
                and bool(torch.isfinite(p1.grad).all()))
        ok &= good
        print(f'autocast {dt}: output {giou.dtype}, finite values and grads: {good}')
    # timing
    for n in (10_000, 1_000_000):
        x1, x2 = pairs(n, seed=1)
        x1, x2 = x1.to(dev, torch.float32), x2.to(dev, torch.float32)

        def step():
            p = x1.clone().requires_grad_()
            _, giou = R.bev_iou_giou(p, x2)
            (1 - giou).sum().backward()

        def fwd():
            with torch.no_grad():
                R.bev_iou_giou(x1, x2)

        for name, f in (('fwd+bwd', step), ('fwd', fwd)):
            for _ in range(5):
                f()
            torch.cuda.synchronize()
            times = []
            for _ in range(30):
                s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                s.record()
                f()
                e.record()
                torch.cuda.synchronize()
                times.append(s.elapsed_time(e))
            times.sort()
            print(f'CUDA float32 {n} pairs {name}: median {times[15]:.3f} ms')
    print('ALL OK' if ok else 'SOME CHECKS FAILED')


if __name__ == '__main__':
    main()
