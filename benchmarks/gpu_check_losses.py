"""CUDA check and benchmark of every bev_losses loss (run on a machine with a GPU).

0. No synchronisation: forward + backward of every case under
   ``torch.cuda.set_sync_debug_mode('error')`` (after a warm-up call) raises on none.
1. Agreement: every loss gives on CUDA the value and gradient it gives on CPU, in float64
   (relative difference <= 1e-10) and float32 (<= 1e-5), for reductions 'none' and 'mean';
   under ``torch.autocast`` (bf16 and fp16, half inputs) the result is float32 and finite,
   with finite gradients.
2. Speed and memory: forward + backward (float32) of each loss against its peers, interleaved,
   after a warm-up; median over >= 20 runs (CUDA events); peak memory of one step
   (``torch.cuda.max_memory_allocated`` above what was allocated before it) and bytes saved for
   backward (unique storages packed by autograd).

Peers: torch.nn (F.cross_entropy, nn.KLDivLoss, F.l1_loss, F.mse_loss, F.smooth_l1_loss) and
plain-autograd references of mmdet 3.3's formulas (GaussianFocalLoss, the
``py_sigmoid_focal_loss`` path of FocalLoss, GIoULoss xyxy), written here: mmdet itself is not
imported because its focal_loss module imports mmcv's compiled ops, and mmcv with CUDA ops
cannot be built on the benchmark machine.

Usage:
    python benchmarks/gpu_check_losses.py                    # CUDA, full sizes
    python benchmarks/gpu_check_losses.py --device cpu --quick  # CPU smoke run, small sizes
    python benchmarks/gpu_check_losses.py --bench-only --scale 8  # timing only, 8x the sizes
Needs torch and mmengine (``PYTHONPATH=<repo root>`` is enough; bev_losses need not be
installed).
"""
import argparse
import math
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bev_losses as BL  # noqa: E402

TOL = {torch.float64: 1e-10, torch.float32: 1e-5}


# --------------------------------------------------------------------------- inputs
def boxes(n, box_format, g, dtype=torch.float64):
    """Random boxes and a jittered copy: ``(n, 4|5|7)`` pred and target."""
    if box_format == 'xyxy':
        xy = torch.rand(n, 2, generator=g, dtype=dtype) * 50
        wh = torch.rand(n, 2, generator=g, dtype=dtype) * 10 + 0.5
        t = torch.cat((xy, xy + wh), 1)
        p = t + torch.randn(n, 4, generator=g, dtype=dtype) * 1.0
        p[:, 2:] = torch.maximum(p[:, 2:], p[:, :2] + 0.1)
        return p, t
    w = 5 if box_format == 'bev' else 7
    t = torch.rand(n, w, generator=g, dtype=dtype)
    t[:, :2] = t[:, :2] * 40 - 20
    if w == 5:
        t[:, 2:4] = t[:, 2:4] * 4 + 0.2
    else:
        t[:, 2] = t[:, 2] * 2 - 1
        t[:, 3:6] = t[:, 3:6] * 4 + 0.2
    t[:, -1] = t[:, -1] * 6.2 - 3.1
    p = t + torch.randn(n, w, generator=g, dtype=dtype) * 0.3
    size = slice(2, 4) if w == 5 else slice(3, 6)
    p[:, size] = p[:, size].abs() + 0.05
    return p, t


def heatmap(shape, g, dtype=torch.float64):
    """A Gaussian-like target in [0, 1) with exact 1s at ~0.1% of cells."""
    t = torch.rand(shape, generator=g, dtype=dtype) ** 8
    t[torch.rand(shape, generator=g) < 1e-3] = 1.0
    return t


def cases(n=2000, c=10):
    """(name, module, make(g) -> (grad_inputs, other_args, kwargs)).

    ``grad_inputs`` are float64 CPU tensors that get a gradient; ``other_args`` follow them
    positionally (float ones are cast with the gradient inputs, integer ones kept).
    """
    def logits(g, *shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * 3

    def labels(g, hi, m=n):
        return torch.randint(0, hi, (m,), generator=g)

    def ce_idx(g):
        y = labels(g, c)
        y[::17] = -100
        return [logits(g, n, c)], [y], {}

    def ce_prob(g):
        return [logits(g, n, c)], [torch.softmax(logits(g, n, c), 1)], {}

    def sig_idx(g):
        return [logits(g, n, c)], [labels(g, c + 1)], {}

    def soft(g):
        return [logits(g, n, c)], [torch.rand(n, c, generator=g, dtype=torch.float64)], {}

    def activated(g):
        return [torch.sigmoid(logits(g, n, c))], [labels(g, c + 1)], {}

    def softmax_idx(g):
        return [logits(g, n, c)], [labels(g, c)], {}

    def gf_prob(g):
        t = heatmap((2, c, 16, 16), g)
        p = torch.sigmoid(logits(g, 2, c, 16, 16))
        return [p], [t], {'avg_factor': max(int((t == 1).sum()), 1)}

    def gf_logit(g):
        t = heatmap((2, c, 16, 16), g)
        return [logits(g, 2, c, 16, 16)], [t], {'avg_factor': max(int((t == 1).sum()), 1)}

    def gf_pos(g):
        t = heatmap((n, c), g)
        p = torch.sigmoid(logits(g, n, c))
        pos = torch.randperm(n, generator=g)[:50]
        return [p], [t, pos, labels(g, c, 50)], {'avg_factor': 50}

    def kl_bm(g):
        return ([torch.log_softmax(logits(g, n, c), 1)],
                [torch.softmax(logits(g, n, c), 1)], {})

    def kl_logits(g):
        return [logits(g, n, c)], [logits(g, n, c)], {}

    def reg(g):
        x = logits(g, n, 9)
        t = logits(g, n, 9)
        w = torch.rand(n, 9, generator=g, dtype=torch.float64)
        return [x], [t, w], {'avg_factor': float(n) / 3}

    def giou(fmt):
        def make(g):
            p, t = boxes(n, fmt, g)
            return [p], [t], {}
        return make

    return [
        ('CrossEntropy softmax idx', BL.CrossEntropyLoss(), ce_idx),
        ('CrossEntropy softmax prob', BL.CrossEntropyLoss(), ce_prob),
        ('CrossEntropy sigmoid', BL.CrossEntropyLoss(use_sigmoid=True), sig_idx),
        ('Focal sigmoid idx', BL.FocalLoss(), sig_idx),
        ('Focal sigmoid soft', BL.FocalLoss(), soft),
        ('Focal activated', BL.FocalLoss(activated=True), activated),
        ('Focal softmax', BL.FocalLoss(use_sigmoid=False), softmax_idx),
        ('GaussianFocal probs', BL.GaussianFocalLoss(), gf_prob),
        ('GaussianFocal logits', BL.GaussianFocalLoss(activated=False), gf_logit),
        ('GaussianFocal pos_inds', BL.GaussianFocalLoss(), gf_pos),
        ('KLDiv batchmean', BL.KLDivLoss(reduction='batchmean'), kl_bm),
        ('KLDiv from_logits T=2',
         BL.KLDivLoss(reduction='batchmean', from_logits=True, temperature=2.0), kl_logits),
        ('L1 weight+avg_factor', BL.L1Loss(), reg),
        ('MSE weight+avg_factor', BL.MSELoss(), reg),
        ('SmoothL1 weight+avg_factor', BL.SmoothL1Loss(beta=0.5), reg),
        ('GIoU xyxy', BL.GIoULoss(), giou('xyxy')),
        ('GIoU bev', BL.GIoULoss(box_format='bev'), giou('bev')),
        ('GIoU 3d', BL.GIoULoss(box_format='3d'), giou('3d')),
    ]


def run_case(module, make, seed, device, dtype, reduction):
    g = torch.Generator().manual_seed(seed)
    grads, others, kw = make(g)
    x = [t.to(device, dtype).requires_grad_() for t in grads]
    o = [t.to(device, dtype) if t.is_floating_point() else t.to(device) for t in others]
    kw = dict(kw)
    if reduction == 'none':
        kw.pop('avg_factor', None)
    if isinstance(module, BL.KLDivLoss) and reduction == 'none':
        out = module(*x, *o, reduction_override='none', **kw)
    else:
        out = module(*x, *o, reduction_override=reduction, **kw)
    # a fixed cotangent so that every element's gradient is checked
    cot = torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype).reshape(out.shape).to(device)
    (out * cot).sum().backward()
    return [out.detach().double().cpu()] + [t.grad.double().cpu() for t in x]


def rel_diff(a, b):
    scale = max(b.abs().max().item(), 1e-30) if b.numel() else 1.0
    return (a - b).abs().max().item() / scale if a.numel() else 0.0


def check_agreement(device):
    print(f'## Agreement: {device} vs CPU (max |diff| / max |CPU value|, value and gradients)\n')
    print('| loss | reduction | float64 | float32 | finite | ok |')
    print('| --- | --- | --- | --- | --- | --- |')
    ok = True
    worst = {torch.float64: 0.0, torch.float32: 0.0}
    for i, (name, module, make) in enumerate(cases()):
        for reduction in ('none', 'mean'):
            cells, good, finite = [], True, True
            for dtype in (torch.float64, torch.float32):
                ref = run_case(module, make, i, 'cpu', dtype, reduction)
                got = run_case(module, make, i, device, dtype, reduction)
                d = max(rel_diff(a, b) for a, b in zip(got, ref))
                finite &= all(bool(torch.isfinite(t).all()) for t in got)
                worst[dtype] = max(worst[dtype], d)
                good &= d <= TOL[dtype]
                cells.append(f'{d:.1e}')
            good &= finite
            ok &= good
            print(f'| {name} | {reduction} | {cells[0]} | {cells[1]} | {finite} | '
                  f'{"OK" if good else "FAIL"} |')
    print(f'\nworst relative difference: float64 {worst[torch.float64]:.2e} (tol 1e-10), '
          f'float32 {worst[torch.float32]:.2e} (tol 1e-5)\n')
    return ok


def check_no_sync(device):
    """Forward + backward of every case under ``torch.cuda.set_sync_debug_mode('error')``:
    any device-to-host synchronisation raises (after one warm-up call per case)."""
    print(f'## No host synchronisation on {device}: forward + backward of every case under '
          "torch.cuda.set_sync_debug_mode('error')\n")
    print('| loss | reduction | ok |')
    print('| --- | --- | --- |')
    ok = True
    for i, (name, module, make) in enumerate(cases()):
        for reduction in ('none', 'mean'):
            run_case(module, make, i, device, torch.float32, reduction)   # warm-up
            torch.cuda.synchronize()
            torch.cuda.set_sync_debug_mode('error')
            try:
                g = torch.Generator().manual_seed(i)
                grads, others, kw = make(g)
                x = [t.to(device, torch.float32).requires_grad_() for t in grads]
                o = [t.to(device, torch.float32) if t.is_floating_point() else t.to(device)
                     for t in others]
                kw = {k: v for k, v in kw.items() if not (reduction == 'none'
                                                          and k == 'avg_factor')}
                kw = {k: v.to(device) if isinstance(v, torch.Tensor) else v
                      for k, v in kw.items()}
                torch.cuda.synchronize()
                out = module(*x, *o, reduction_override=reduction, **kw)
                out.sum().backward()
                good, msg = True, ''
            except RuntimeError as e:   # 'called a synchronizing CUDA operation'
                good, msg = False, f' ({str(e).splitlines()[0][:80]})'
            finally:
                torch.cuda.set_sync_debug_mode('default')
            ok &= good
            print(f'| {name} | {reduction} | {"OK" if good else "FAIL" + msg} |')
    print()
    return ok


def check_autocast(device):
    print(f'## Autocast on {device}: half inputs, result dtype, finite value and gradient\n')
    print('| loss | bf16 | fp16 |')
    print('| --- | --- | --- |')
    ok = True
    dtypes = (torch.bfloat16, torch.float16)
    for i, (name, module, make) in enumerate(cases(n=512)):
        cells = []
        for dt in dtypes:
            g = torch.Generator().manual_seed(i)
            grads, others, kw = make(g)
            if getattr(module, 'activated', True) is True and 'Focal' in name:
                # probabilities as mmdet3d's clamp_sigmoid hands them over; a probability that
                # rounds to exactly 1 in fp16 has d loss / d p ~ 1 / 1e-12, which no fp16
                # tensor holds (the same in mmdet's formula)
                grads = [t.clamp(1e-3, 1 - 1e-3) for t in grads]
            x = [t.to(device, torch.float32).requires_grad_() for t in grads]
            o = [t.to(device, torch.float32) if t.is_floating_point() else t.to(device)
                 for t in others]
            try:
                with torch.autocast(device_type=torch.device(device).type, dtype=dt):
                    # half inputs as a network under autocast hands them over
                    xh = [t.to(dt) for t in x]
                    oh = [t.to(dt) if t.is_floating_point() else t for t in o]
                    out = module(*xh, *oh, **kw)
                out.sum().backward()
                good = (out.dtype == torch.float32 and bool(torch.isfinite(out).all())
                        and all(bool(torch.isfinite(t.grad).all()) for t in x))
                cells.append(f'{out.dtype} finite={good}' if good else f'FAIL {out.dtype}')
            except Exception as e:  # noqa: BLE001 - reported in the table
                good = False
                cells.append(f'FAIL {type(e).__name__}: {str(e)[:60]}')
            ok &= good
        print(f'| {name} | {cells[0]} | {cells[1]} |')
    print()
    return ok


# --------------------------------------------------------------------------- references
def ref_gaussian_focal(pred, target, avg_factor, alpha=2.0, gamma=4.0, eps=1e-12):
    """Autograd reference of mmdet 3.3's GaussianFocalLoss formula (dense path, mean with
    avg_factor)."""
    pos = target.eq(1)
    neg_w = (1 - target).pow(gamma)
    pos_loss = -(pred + eps).log() * (1 - pred).pow(alpha) * pos
    neg_loss = -(1 - pred + eps).log() * pred.pow(alpha) * neg_w
    loss = pos_loss + neg_loss
    return loss.sum() / (avg_factor + torch.finfo(torch.float32).eps)


def ref_sigmoid_focal(pred, labels, gamma=2.0, alpha=0.25):
    """Autograd reference of mmdet 3.3's FocalLoss with integer labels on the pure-PyTorch
    path (``py_sigmoid_focal_loss``): one-hot without the background column, mean."""
    c = pred.size(1)
    t = F.one_hot(labels, num_classes=c + 1)[:, :c].type_as(pred)
    p = pred.sigmoid()
    pt = (1 - p) * t + p * (1 - t)
    fw = (alpha * t + (1 - alpha) * (1 - t)) * pt.pow(gamma)
    loss = F.binary_cross_entropy_with_logits(pred, t, reduction='none') * fw
    return loss.mean()


def ref_giou_xyxy(pred, target, eps=1e-6):
    """Autograd reference of mmdet 3.3's GIoULoss (``bbox_overlaps(mode='giou',
    is_aligned=True)``, ``1 - giou``, mean)."""
    a1 = (pred[:, 2] - pred[:, 0]) * (pred[:, 3] - pred[:, 1])
    a2 = (target[:, 2] - target[:, 0]) * (target[:, 3] - target[:, 1])
    wh = (torch.min(pred[:, 2:], target[:, 2:]) - torch.max(pred[:, :2], target[:, :2]))
    wh = wh.clamp(min=0)
    inter = wh[:, 0] * wh[:, 1]
    e = pred.new_tensor([eps])
    union = torch.max(a1 + a2 - inter, e)
    ewh = (torch.max(pred[:, 2:], target[:, 2:]) - torch.min(pred[:, :2], target[:, :2]))
    ewh = ewh.clamp(min=0)
    enclose = torch.max(ewh[:, 0] * ewh[:, 1], e)
    giou = inter / union - (enclose - union) / enclose
    return (1 - giou).mean()


# --------------------------------------------------------------------------- timing
class Contender:
    def __init__(self, label, fn, leaves):
        self.label, self.fn, self.leaves = label, fn, leaves
        self.times = []

    def step(self):
        for t in self.leaves:
            t.grad = None
        self.fn().backward()


def saved_bytes(fn):
    """Bytes of the unique storages autograd saves for backward during ``fn()``."""
    seen = {}

    def pack(t):
        try:
            key = (t.untyped_storage().data_ptr(), t.device)
            seen[key] = t.untyped_storage().nbytes()
        except Exception:  # noqa: BLE001
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = fn()
    del loss
    return sum(seen.values())


def host_syncs(c):
    """Number of CUDA host synchronisations in one step (torch's sync debug mode)."""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        torch.cuda.set_sync_debug_mode('warn')
        try:
            c.step()
        finally:
            torch.cuda.set_sync_debug_mode('default')
    return sum('synchroniz' in str(x.message) for x in w)


def _mmcv_sigmoid_focal():
    """mmcv's compiled sigmoid focal loss when mmcv with CUDA ops imports here, else None."""
    try:
        from mmcv.ops import sigmoid_focal_loss
    except Exception:  # noqa: BLE001 - mmcv absent or built without ops
        return None
    return sigmoid_focal_loss


def bench(device, quick, scale=1.0):
    cuda = torch.device(device).type == 'cuda'
    s = (0.02 if quick else 1.0) * scale
    reps = 7 if quick else 30
    warm = 2 if quick else 5
    g = torch.Generator().manual_seed(0)

    def leaf(t):
        return t.to(device, torch.float32).requires_grad_()

    groups = []
    # GaussianFocal (4, 10, 128, 128), probabilities
    hw = max(int(128 * math.sqrt(s)), 8)
    t = heatmap((4, 10, hw, hw), g).to(device, torch.float32)
    p = leaf(torch.sigmoid(torch.randn(4, 10, hw, hw, generator=g, dtype=torch.float64)))
    af = max(int((t == 1).sum()), 1)
    gfl = BL.GaussianFocalLoss()
    groups.append((f'GaussianFocal (4, 10, {hw}, {hw})', [
        Contender('bev_losses', lambda p=p, t=t: gfl(p, t, avg_factor=af), [p]),
        Contender('autograd reference (mmdet 3.3 formula)',
                  lambda p=p, t=t: ref_gaussian_focal(p, t, af), [p])]))
    # sigmoid focal (200000, 10), integer labels (background = 10)
    n = int(200000 * s)
    x = leaf(torch.randn(n, 10, generator=g, dtype=torch.float64) * 3)
    y = torch.randint(0, 11, (n,), generator=g).to(device)
    fl = BL.FocalLoss()
    focal = [Contender('bev_losses', lambda x=x, y=y: fl(x, y), [x]),
             Contender('autograd reference (mmdet 3.3 py_sigmoid_focal_loss)',
                       lambda x=x, y=y: ref_sigmoid_focal(x, y), [x])]
    mmcv_focal = _mmcv_sigmoid_focal() if cuda else None
    if mmcv_focal is not None:   # what mmdet's FocalLoss runs on CUDA when mmcv has its ops
        focal.append(Contender('mmcv CUDA sigmoid_focal_loss (mmdet on CUDA)',
                               lambda x=x, y=y: mmcv_focal(x, y, 2.0, 0.25, None, 'mean'),
                               [x]))
    groups.append((f'Focal sigmoid ({n}, 10) int labels', focal))
    # cross entropy (200000, 10) index targets
    yc = torch.randint(0, 10, (n,), generator=g).to(device)
    ce = BL.CrossEntropyLoss()
    groups.append((f'CrossEntropy softmax ({n}, 10)', [
        Contender('bev_losses', lambda x=x, y=yc: ce(x, y), [x]),
        Contender('torch F.cross_entropy', lambda x=x, y=yc: F.cross_entropy(x, y), [x])]))
    # KL batchmean (200000, 10)
    lp = leaf(torch.log_softmax(torch.randn(n, 10, generator=g, dtype=torch.float64), 1))
    q = torch.softmax(torch.randn(n, 10, generator=g, dtype=torch.float64), 1).to(
        device, torch.float32)
    kl, tkl = BL.KLDivLoss(reduction='batchmean'), torch.nn.KLDivLoss(reduction='batchmean')
    groups.append((f'KLDiv batchmean ({n}, 10)', [
        Contender('bev_losses', lambda a=lp, b=q: kl(a, b), [lp]),
        Contender('torch nn.KLDivLoss', lambda a=lp, b=q: tkl(a, b), [lp])]))
    # GIoU xyxy 100k pairs
    m = int(100000 * s)
    bp, bt = boxes(m, 'xyxy', g)
    bp, bt = leaf(bp), bt.to(device, torch.float32)
    gl = BL.GIoULoss()
    groups.append((f'GIoU xyxy {m} pairs', [
        Contender('bev_losses', lambda a=bp, b=bt: gl(a, b), [bp]),
        Contender('autograd reference (mmdet 3.3 formula)',
                  lambda a=bp, b=bt: ref_giou_xyxy(a, b), [bp])]))
    # GIoU bev 10k pairs (no runnable peer: mmcv's box_iou_rotated needs compiled ops)
    k = int(10000 * s)
    rp, rt = boxes(k, 'bev', g)
    rp, rt = leaf(rp), rt.to(device, torch.float32)
    gb = BL.GIoULoss(box_format='bev')
    groups.append((f'GIoU bev {k} pairs', [
        Contender('bev_losses', lambda a=rp, b=rt: gb(a, b), [rp])]))
    # regression (200000, 9)
    r = leaf(torch.randn(n, 9, generator=g, dtype=torch.float64))
    rt9 = torch.randn(n, 9, generator=g).to(device)
    for name, ours, theirs, tl in (
            ('L1', BL.L1Loss(), F.l1_loss, 'torch F.l1_loss'),
            ('MSE', BL.MSELoss(), F.mse_loss, 'torch F.mse_loss'),
            ('SmoothL1', BL.SmoothL1Loss(beta=1.0),
             lambda a, b: F.smooth_l1_loss(a, b, beta=1.0), 'torch F.smooth_l1_loss')):
        groups.append((f'{name} ({n}, 9)', [
            Contender('bev_losses', lambda a=r, b=rt9, f=ours: f(a, b), [r]),
            Contender(tl, lambda a=r, b=rt9, f=theirs: f(a, b), [r])]))

    def timed(c):
        if cuda:
            e0 = torch.cuda.Event(enable_timing=True)
            e1 = torch.cuda.Event(enable_timing=True)
            e0.record()
            c.step()
            e1.record()
            torch.cuda.synchronize()
            return e0.elapsed_time(e1)
        t0 = time.perf_counter()
        c.step()
        return (time.perf_counter() - t0) * 1e3

    print(f'## Forward + backward, float32, {device} '
          f'(median of {reps} interleaved runs after {warm} warm-up)\n')
    print('| case | implementation | median ms | ratio (peer / ours) | peak MiB | '
          'held by saved tensors MiB | host syncs |')
    print('| --- | --- | --- | --- | --- | --- | --- |')
    for title, cs in groups:
        for c in cs:
            for _ in range(warm):
                c.step()
        if cuda:
            torch.cuda.synchronize()
        for _ in range(reps):
            for c in cs:  # interleaved
                c.times.append(timed(c))
        ours = statistics.median(cs[0].times)
        for c in cs:
            med = statistics.median(c.times)
            if cuda:
                torch.cuda.synchronize()
                for t in c.leaves:
                    t.grad = None
                base = torch.cuda.memory_allocated()
                torch.cuda.reset_peak_memory_stats()
                c.step()
                torch.cuda.synchronize()
                peak = f'{(torch.cuda.max_memory_allocated() - base) / 2**20:.2f}'
                syncs = host_syncs(c)
            else:
                peak = syncs = 'n/a'
            sb = saved_bytes(c.fn) / 2**20
            ratio = '1.00' if c is cs[0] else f'{med / ours:.2f}'
            print(f'| {title} | {c.label} | {med:.3f} | {ratio} | {peak} | {sb:.2f} | {syncs} |')
        if len(cs) == 1:
            print(f'| {title} | mmcv box_iou_rotated | not run | - | - | - | - |')
    print('\nratio > 1: ours is faster. The mmdet rows are plain-autograd references of mmdet '
          "3.3's formulas written in this script: mmdet's focal_loss module imports mmcv's "
          'compiled ops, and mmcv with CUDA ops cannot be built on the benchmark machine, so '
          'mmdet is not imported; for the same reason mmcv\'s compiled sigmoid focal and '
          'box_iou_rotated ops are not timed.\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--device', default='cuda')
    ap.add_argument('--quick', action='store_true', help='small sizes, few repetitions')
    ap.add_argument('--scale', type=float, default=1.0, help='multiplier of the bench sizes')
    ap.add_argument('--bench-only', action='store_true', help='skip the agreement checks')
    args = ap.parse_args()
    if torch.device(args.device).type == 'cuda':
        assert torch.cuda.is_available(), 'no CUDA device (use --device cpu)'
        name = torch.cuda.get_device_name(0)
    else:
        name = 'CPU'
    print(f'# bev_losses GPU check: torch {torch.__version__}, {name}, '
          f'{time.strftime("%Y-%m-%d %H:%M %Z")}\n')
    ok = True
    if not args.bench_only:
        ok = check_agreement(args.device)
        ok &= check_autocast(args.device)
        if torch.device(args.device).type == 'cuda':
            ok &= check_no_sync(args.device)
    bench(args.device, args.quick, args.scale)
    print('ALL CHECKS OK' if ok else 'SOME CHECKS FAILED')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
