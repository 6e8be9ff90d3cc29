"""The report of a loss comparison: the paired differences to the baseline, verdicts, the table
(``comparison.md``), one row per run (``comparison.csv``) and the plots.

matplotlib is imported inside the plotting functions.
"""
from __future__ import annotations

import csv
import glob
import json
import math
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .stats import (BETTER, HIGHER_IS_BETTER, NO_DIFFERENCE, WORSE, bootstrap_interval,
                    paired_t_interval, verdict)

METRICS = tuple(HIGHER_IS_BETTER)  # mAP, NDS, mATE, mASE, mAOE, mAVE
PRIMARY = 'mAP'


# ----------------------------------------------------------------------------------------------
# the paired comparison
# ----------------------------------------------------------------------------------------------
@dataclass
class Difference:
    """One metric of one row against the baseline."""
    metric: str
    seeds: List[int]
    diffs: List[float]  # row - baseline, per common seed
    mean: float
    seed_interval: Tuple[float, float]
    frame_interval: Optional[Tuple[float, float]]
    verdict: str
    comparable: bool = True  # False: the metric is not defined alike for both (e.g. NDS
    # without velocity)


@dataclass
class RowComparison:
    config: str
    is_baseline: bool
    seeds: List[int]  # the seeds where the row and the baseline both finished
    diffs: Dict[str, Difference] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        d = self.diffs.get(PRIMARY)
        return d.verdict if d is not None else NO_DIFFERENCE


def group_rows(rows: Sequence[dict]) -> List[dict]:
    groups: Dict[str, dict] = {}
    for r in rows:
        g = groups.setdefault(r['config'], dict(config=r['config'], roles=r.get('roles', {}),
                                                runs=[], label=r.get('label', '')))
        g['runs'].append(r)
    return list(groups.values())


def _metric(run: dict, key: str) -> float:
    v = run.get('metrics', {}).get(f'bev/{key}')
    return float(v) if v is not None else math.nan


def compare_rows(rows: Sequence[dict], bootstrap: Dict[str, Optional[np.ndarray]],
                 baseline: Optional[str] = None, level: float = 0.95
                 ) -> List[RowComparison]:
    """Paired differences of every config to the baseline (the first config by default).

    Args:
        rows: one dict per run (``config``, ``seed``, ``status``, ``metrics``).
        bootstrap: ``run_dir -> (resamples, len(METRICS))`` metrics per frame resample (the
            same resamples for every run), or None where not available.
        baseline: the baseline config's name.
        level: the confidence level of both intervals.
    """
    groups = group_rows(rows)
    if not groups:
        return []
    base_name = baseline or groups[0]['config']
    base = next((g for g in groups if g['config'] == base_name), None)
    if base is None:
        raise ValueError(f'baseline {base_name!r} is not among the configs '
                         f'{[g["config"] for g in groups]}')
    base_ok = {r['seed']: r for r in base['runs'] if r.get('status') == 'ok'}
    out = []
    for g in groups:
        ok = {r['seed']: r for r in g['runs'] if r.get('status') == 'ok'}
        seeds = sorted(set(ok) & set(base_ok))
        rc = RowComparison(g['config'], g['config'] == base_name, seeds)
        out.append(rc)
        if rc.is_baseline or not seeds:
            continue
        row_vel = all(not math.isnan(_metric(ok[s], 'mAVE')) for s in seeds)
        base_vel = all(not math.isnan(_metric(base_ok[s], 'mAVE')) for s in seeds)
        for j, m in enumerate(METRICS):
            diffs = [_metric(ok[s], m) - _metric(base_ok[s], m) for s in seeds]
            comparable = not (m == 'NDS' and row_vel != base_vel)
            mean, lo, hi = paired_t_interval(diffs, level)
            frame = None
            boots_r = [bootstrap.get(ok[s]['run_dir']) for s in seeds]
            boots_b = [bootstrap.get(base_ok[s]['run_dir']) for s in seeds]
            if all(b is not None for b in boots_r + boots_b) and len(
                    {b.shape for b in boots_r + boots_b}) == 1:
                frame = bootstrap_interval(np.stack([b[:, j] for b in boots_r]),
                                           np.stack([b[:, j] for b in boots_b]), level)
            if not comparable or math.isnan(mean):
                v = NO_DIFFERENCE
            else:
                v = verdict(m, (lo, hi), frame)
            rc.diffs[m] = Difference(m, seeds, diffs, mean, (lo, hi), frame, v, comparable)
    return out


def load_bootstraps(rows: Sequence[dict], num_resamples: int, seed: int
                    ) -> Dict[str, Optional[np.ndarray]]:
    """Each finished run's bootstrap (recomputed from its predictions when stale)."""
    from .evaluate import ensure_bootstrap
    out: Dict[str, Optional[np.ndarray]] = {}
    for r in rows:
        if r.get('status') != 'ok' or num_resamples <= 0:
            continue
        if r.get('class_names') is None or r.get('metric_options') is None:
            out[r['run_dir']] = None
            continue
        try:
            out[r['run_dir']] = ensure_bootstrap(r['run_dir'], r['class_names'],
                                                 r['metric_options'], num_resamples, seed)
        except Exception as exc:  # a broken file must not lose the report
            print(f'compare: no bootstrap for {r["run_dir"]}: {exc}', flush=True)
            out[r['run_dir']] = None
    return out


# ----------------------------------------------------------------------------------------------
# formatting
# ----------------------------------------------------------------------------------------------
def _fmt(v: Optional[float], digits: int = 3, sign: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return '-'
    return f'{v:+.{digits}f}' if sign else f'{v:.{digits}f}'


def _mean(values: Sequence[float]) -> float:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return sum(vals) / len(vals) if vals else math.nan


def mean_std(values: Sequence[float], digits: int = 3) -> str:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return '-'
    mean = sum(vals) / len(vals)
    if len(vals) == 1:
        return f'{mean:.{digits}f}'
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
    return f'{mean:.{digits}f} ± {std:.{digits}f}'


def _interval(iv: Optional[Tuple[float, float]], digits: int = 3) -> str:
    if iv is None or any(math.isnan(v) for v in iv):
        return '-'
    return f'[{iv[0]:+.{digits}f}, {iv[1]:+.{digits}f}]'


def format_difference(d: Optional[Difference], digits: int = 3) -> str:
    """``+0.012 [-0.030, +0.054] [-0.010, +0.035]``: mean, seed interval, frame interval."""
    if d is None or math.isnan(d.mean):
        return '-'
    if not d.comparable:
        return 'not comparable'
    return (f'{_fmt(d.mean, digits, True)} {_interval(d.seed_interval, digits)} '
            f'{_interval(d.frame_interval, digits)}')


def write_csv(path: str, rows: Sequence[dict], classes: Sequence[str]) -> None:
    """One row per config and seed, the columns the tool always wrote."""
    fields = ['config', 'seed', 'status', 'head', 'cls_loss', 'reg_loss', 'other_losses',
              'mAP', 'NDS', 'mATE', 'mASE', 'mAOE', 'mAVE'] + [f'AP_{c}' for c in classes] + [
              'final_train_loss', 'sec_per_iter', 'iters', 'train_seconds', 'error']
    with open(path, 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            m = r.get('metrics', {})
            roles = r.get('roles', {})
            row = dict(config=r['config'], seed=r['seed'], status=r.get('status', ''),
                       head=roles.get('head'), cls_loss=roles.get('cls'),
                       reg_loss=roles.get('reg'), other_losses=roles.get('other'),
                       final_train_loss=_fmt(r.get('final_loss', math.nan), 5),
                       sec_per_iter=_fmt(r.get('sec_per_iter', math.nan), 4),
                       iters=r.get('iters', ''),
                       train_seconds=_fmt(r.get('train_seconds', math.nan), 1),
                       error=r.get('error', ''))
            for key in ('mAP', 'NDS', 'mATE', 'mASE', 'mAOE', 'mAVE'):
                row[key] = _fmt(m.get(f'bev/{key}', math.nan), 4)
            for c in classes:
                row[f'AP_{c}'] = _fmt(m.get(f'bev/AP_{c}', math.nan), 4)
            w.writerow(row)


def _is_dropin(name: str, label: str) -> bool:
    return name.startswith('01_') or 'drop-in' in (label or '')


def summary_lines(comparisons: Sequence[RowComparison], rows: Sequence[dict],
                  num_frames: Optional[int], num_resamples: int, level: float) -> List[str]:
    """The plain words above the table: what was found and how sure it is."""
    groups = {g['config']: g for g in group_rows(rows)}
    if not comparisons:
        return ['No run finished.']
    base = next(c for c in comparisons if c.is_baseline)
    others = [c for c in comparisons if not c.is_baseline]
    seeds = sorted({s for c in others for s in c.seeds}) or base.seeds
    pct = f'{100 * level:g} %'
    lines = []
    n_seeds = len(seeds)
    frames = f'{num_frames} validation frames' if num_frames else 'the validation split'
    lines.append(f'**What the comparison found.** Each row against the baseline '
                 f'`{base.config}`, trained with the same {n_seeds} seed'
                 f'{"s" if n_seeds != 1 else ""} ({", ".join(map(str, seeds))}) on the same '
                 f'data and scored on the same {frames}.')
    found = [(c, c.diffs[PRIMARY]) for c in others if PRIMARY in c.diffs
             and c.diffs[PRIMARY].verdict != NO_DIFFERENCE]
    if found:
        parts = []
        for c, d in found:
            parts.append(f'`{c.config}` is **{d.verdict}** in {PRIMARY} ({_fmt(d.mean, 3, True)}; '
                         f'{pct} interval over seeds {_interval(d.seed_interval)}, over frames '
                         f'{_interval(d.frame_interval)})')
        lines.append('- In ' + PRIMARY + ', beyond the noise: ' + '; '.join(parts) + '.')
    else:
        lines.append(f'- In {PRIMARY}, no row differs from the baseline beyond the noise.')
    quiet = [c.config for c in others if PRIMARY in c.diffs
             and c.diffs[PRIMARY].verdict == NO_DIFFERENCE]
    if quiet and found:
        lines.append(f'- No difference detected in {PRIMARY}: '
                     + ', '.join(f'`{q}`' for q in quiet) + '.')
    extra = []
    for c in others:
        vs = [f'{m} {d.verdict}' for m, d in c.diffs.items()
              if m != PRIMARY and d.verdict != NO_DIFFERENCE]
        if vs:
            extra.append(f'`{c.config}`: ' + ', '.join(vs))
    if extra:
        lines.append('- Other metrics beyond the noise: ' + '; '.join(extra) + '.')
    # the built-in check
    drop = [c for c in others if _is_dropin(c.config, groups[c.config].get('label', ''))]
    for c in drop:
        bad = [m for m, d in c.diffs.items() if d.verdict != NO_DIFFERENCE]
        d = c.diffs.get(PRIMARY)
        if not c.diffs:
            lines.append(f'- **Check of the method:** the drop-in row `{c.config}` has no '
                         f'finished seed in common with the baseline: not checked.')
        elif not bad:
            lines.append(f'- **Check of the method passed:** the drop-in row `{c.config}` '
                         f'computes the same maths as the baseline and comes out "no '
                         f'difference detected" in all {len(c.diffs)} metrics ({PRIMARY} '
                         f'{_fmt(d.mean, 3, True) if d else "-"}, over seeds '
                         f'{_interval(d.seed_interval) if d else "-"}).')
        else:
            lines.append(f'- **Check of the method FAILED:** the drop-in row `{c.config}` '
                         f'computes the same maths as the baseline but comes out different in '
                         f'{", ".join(bad)}: the noise is larger than the intervals say; do '
                         f'not trust the verdicts of this run (add seeds).')
    # how sure
    halves = [0.5 * (c.diffs[PRIMARY].seed_interval[1] - c.diffs[PRIMARY].seed_interval[0])
              for c in others if PRIMARY in c.diffs
              and not math.isnan(c.diffs[PRIMARY].seed_interval[0])]
    how = (f'**How sure.** A verdict says better or worse only where both {pct} intervals '
           f'exclude zero: the Student-t interval of the paired differences over the seeds '
           f'(another training run; {max(n_seeds - 1, 0)} degrees of freedom) and the paired '
           f'bootstrap over the validation frames ({num_resamples} resamples, the same for '
           f'every run: another draw of scenes). "No difference detected" is not "equal".')
    if halves:
        how += (f' With {n_seeds} seeds the median half-width of the {PRIMARY} interval over '
                f'seeds is {np.median(halves):.3f}: differences smaller than that cannot be '
                f'told from the noise here.')
    elif n_seeds < 2:
        how += (' With one seed there is no interval over seeds, so no verdict can be given: '
                'run at least 3 seeds (`--seeds 0 1 2`).')
    n_tests = len(others) * len(METRICS)
    if n_tests:
        how += (f' Every row and metric is a separate test ({n_tests} here): where nothing '
                f'differs, each one would still come out better or worse by chance with a '
                f'probability below {100 * (1 - level):g} %.')
    lines.append('')
    lines.append(how)
    # the baseline itself
    b_runs = [r for r in groups[base.config]['runs'] if r.get('status') == 'ok']
    if b_runs:
        lines.append('')
        lines.append(f'**The baseline** `{base.config}` (mean ± std over {len(b_runs)} seed'
                     f'{"s" if len(b_runs) != 1 else ""}): '
                     + ', '.join(f'{m} {mean_std([_metric(r, m) for r in b_runs])}'
                                 for m in METRICS) + '.')
    return lines


def write_markdown(path: str, rows: Sequence[dict], comparisons: Sequence[RowComparison],
                   classes: Sequence[str], seeds: Sequence[int], plots: Sequence[str],
                   num_frames: Optional[int] = None, num_resamples: int = 1000,
                   level: float = 0.95, wall_time: Optional[str] = None) -> None:
    comp = {c.config: c for c in comparisons}
    lines = ['# Loss comparison', '']
    lines += summary_lines(comparisons, rows, num_frames, num_resamples, level)
    lines.append('')
    lines.append('## Results per config (mean ± std over the seeds that finished)')
    lines.append('')
    header = (['config', 'classification loss', 'regression loss', 'other terms', 'mAP',
               f'Δ {PRIMARY} vs baseline [seeds] [frames]', 'verdict', 'NDS']
              + [f'AP {c}' for c in classes]
              + ['mATE', 'mASE', 'mAOE', 'mAVE', 'final loss', 's/it', 'status'])
    lines.append('| ' + ' | '.join(header) + ' |')
    lines.append('|' + '---|' * len(header))
    for g in group_rows(rows):
        ok = [r for r in g['runs'] if r.get('status') == 'ok']
        failed = [r for r in g['runs'] if r.get('status') != 'ok']

        def vals(key):
            return [r.get('metrics', {}).get(key, math.nan) for r in ok]

        status = f'{len(ok)}/{len(g["runs"])} ok'
        if failed:
            status += '; failed: ' + '; '.join(
                f'seed {r["seed"]}: {r.get("error", "")}'.replace('|', '/')[:300] for r in failed)
        c = comp.get(g['config'])
        if c is None:
            delta, v = '-', '-'
        elif c.is_baseline:
            delta, v = '(baseline)', '-'
        else:
            delta = format_difference(c.diffs.get(PRIMARY))
            v = c.verdict if c.diffs else '-'
        cells = [g['config'], g['roles'].get('cls', '-'), g['roles'].get('reg', '-'),
                 g['roles'].get('other', '-'), mean_std(vals('bev/mAP')), delta,
                 f'**{v}**' if v in (BETTER, WORSE) else v, mean_std(vals('bev/NDS'))]
        cells += [_fmt(_mean(vals(f'bev/AP_{c}'))) for c in classes]
        cells += [_fmt(_mean(vals(f'bev/{k}'))) for k in ('mATE', 'mASE', 'mAOE', 'mAVE')]
        cells += [_fmt(_mean([r.get('final_loss', math.nan) for r in ok]), 4),
                  _fmt(_mean([r.get('sec_per_iter', math.nan) for r in ok]), 3), status]
        lines.append('| ' + ' | '.join(str(x).replace('|', '/') for x in cells) + ' |')
    lines.append('')
    lines.append('## Differences to the baseline, every metric')
    lines.append('')
    lines.append(f'Row minus baseline, averaged over the common seeds; then the '
                 f'{100 * level:g} % interval over seeds, then over validation frames. mAP and '
                 f'NDS: higher is better; the errors (mATE m, mASE, mAOE rad, mAVE m/s): lower '
                 f'is better. NDS is "not comparable" where one side has no velocity (its NDS '
                 f'averages three errors instead of four).')
    lines.append('')
    header = ['config', 'seeds'] + [f'Δ {m}' for m in METRICS] + ['verdicts']
    lines.append('| ' + ' | '.join(header) + ' |')
    lines.append('|' + '---|' * len(header))
    for c in comparisons:
        if c.is_baseline:
            continue
        cells = [c.config, ', '.join(map(str, c.seeds)) or '-']
        cells += [format_difference(c.diffs.get(m)) for m in METRICS]
        vs = [f'{m} {d.verdict}' for m, d in c.diffs.items() if d.verdict != NO_DIFFERENCE]
        cells.append(', '.join(vs) if vs else ('no difference detected' if c.diffs else '-'))
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines.append('')
    lines.append(f'Seeds: {", ".join(map(str, seeds))}. mAP: nuScenes-style centre-distance '
                 f'mAP over 0.5/1/2/4 m on the validation split; errors: mean translation / '
                 f'scale / orientation / velocity error of the true positives. Final loss: '
                 f'training loss (sum of the terms) over the last logged iterations; s/it: '
                 f'median seconds per training iteration.'
                 + (f' Wall time of this invocation: {wall_time}.' if wall_time else ''))
    lines.append('')
    for g in group_rows(rows):
        if g.get('label'):
            lines.append(f'- **{g["config"]}**: {g["label"]}')
    lines.append('')
    for p in plots:
        lines.append(f'![{osp.splitext(p)[0]}]({p})')
    lines.append('')
    with open(path, 'w') as f:
        f.write('\n'.join(lines))


# ----------------------------------------------------------------------------------------------
# plots
# ----------------------------------------------------------------------------------------------
def read_scalars(run_dir: str) -> List[dict]:
    """Every training record of the run's ``vis_data/scalars.json`` files, by step (a resumed
    run has one file per session; the later session wins for a repeated step)."""
    records: Dict[int, dict] = {}
    for path in sorted(glob.glob(osp.join(run_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if 'loss' in rec and 'step' in rec:
                    records[int(rec['step'])] = rec
    return [records[k] for k in sorted(records)]


def training_summary(run_dir: str) -> Dict[str, float]:
    recs = read_scalars(run_dir)
    if not recs:
        return dict(final_loss=math.nan, sec_per_iter=math.nan)
    times = [r['time'] for r in recs if 'time' in r]
    times = sorted(times[1:] if len(times) > 1 else times)  # the first window holds start-up
    last = recs[-max(1, min(3, len(recs))):]
    return dict(final_loss=sum(r['loss'] for r in last) / len(last),
                sec_per_iter=times[len(times) // 2] if times else math.nan)


def plot_loss_curves(path: str, rows: Sequence[dict]) -> bool:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5))
    drawn = False
    cmap = plt.get_cmap('tab10')
    for i, g in enumerate(group_rows(rows)):
        for j, r in enumerate(g['runs']):
            recs = read_scalars(r['run_dir'])
            if not recs:
                continue
            ax.plot([rec['step'] for rec in recs], [rec['loss'] for rec in recs],
                    color=cmap(i % 10), alpha=0.9 if j == 0 else 0.5,
                    lw=1.5 if j == 0 else 0.8, label=g['config'] if j == 0 else None)
            drawn = True
    if not drawn:
        plt.close(fig)
        return False
    ax.set_yscale('log')
    ax.set_xlabel('iteration')
    ax.set_ylabel('training loss (sum of terms, log scale)')
    ax.set_title('Training loss (every seed)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc='upper right')
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


_VERDICT_COLOUR = {BETTER: 'tab:green', WORSE: 'tab:red', NO_DIFFERENCE: '0.35'}


def plot_differences(path: str, comparisons: Sequence[RowComparison], level: float = 0.95
                     ) -> bool:
    """Each row's difference to the baseline per metric: the dot is the mean over seeds, the
    thick bar the interval over seeds, the thin bar the interval over frames, each seed a
    small cross; green = better, red = worse, grey = no difference detected."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    others = [c for c in comparisons if not c.is_baseline]
    if not others:
        return False
    base = next((c.config for c in comparisons if c.is_baseline), 'baseline')
    fig, axes = plt.subplots(2, 3, figsize=(15, 2.2 + 0.45 * len(others) * 2),
                             squeeze=False)
    y = np.arange(len(others))[::-1]
    for ax, m in zip(axes.flat, METRICS):
        for yi, c in zip(y, others):
            d = c.diffs.get(m)
            if d is None or not d.comparable or math.isnan(d.mean):
                ax.text(0, yi, 'n/a', ha='center', va='center', fontsize=7, color='0.5')
                continue
            col = _VERDICT_COLOUR[d.verdict]
            if d.frame_interval is not None and not math.isnan(d.frame_interval[0]):
                ax.plot(d.frame_interval, [yi - 0.18] * 2, color=col, lw=1.2, alpha=0.8)
            if not math.isnan(d.seed_interval[0]):
                ax.plot(d.seed_interval, [yi] * 2, color=col, lw=3.5, alpha=0.6,
                        solid_capstyle='butt')
            ax.scatter(d.diffs, [yi + 0.18] * len(d.diffs), marker='x', s=14, color=col,
                       alpha=0.7, linewidths=0.8)
            ax.scatter([d.mean], [yi], color=col, s=28, zorder=3)
        ax.axvline(0, color='k', lw=0.8)
        ax.set_yticks(y)
        ax.set_yticklabels([c.config for c in others], fontsize=7)
        good = 'higher' if HIGHER_IS_BETTER[m] else 'lower'
        ax.set_title(f'Δ {m} vs {base} ({good} is better)', fontsize=9)
        ax.grid(axis='x', alpha=0.3)
        ax.tick_params(axis='x', labelsize=7)
        ax.set_ylim(-0.7, len(others) - 0.3)
    fig.suptitle(f'Difference to the baseline: dot = mean over seeds, thick bar = '
                 f'{100 * level:g} % interval over seeds, thin bar = over validation frames, '
                 f'x = each seed; green better, red worse, grey no difference detected',
                 fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _box_corners(box):
    """Closed BEV outline ``(5, 2)`` of a box ``(x, y, z, dx, dy, dz, yaw, ...)``."""
    x, y, _, dx, dy, _, yaw = box[:7]
    c, s = np.cos(yaw), np.sin(yaw)
    local = np.array([[dx, dy], [dx, -dy], [-dx, -dy], [-dx, dy], [dx, dy]]) / 2
    return local @ np.array([[c, s], [-s, c]]) + np.array([x, y])


def draw_scene(ax, npz_path: str, title: str, score_thr: float) -> None:
    d = np.load(npz_path, allow_pickle=False)
    pts = d['points']
    ax.scatter(pts[:, 0], pts[:, 1], s=0.2, c='0.6', linewidths=0)
    for box in d['gt_boxes']:
        c = _box_corners(box)
        ax.plot(c[:, 0], c[:, 1], color='tab:green', lw=1.2)
        ax.plot([box[0], (c[0, 0] + c[1, 0]) / 2], [box[1], (c[0, 1] + c[1, 1]) / 2],
                color='tab:green', lw=0.6)
    keep = d['pred_scores'] >= score_thr
    for box, score in zip(d['pred_boxes'][keep], d['pred_scores'][keep]):
        c = _box_corners(box)
        ax.plot(c[:, 0], c[:, 1], color='tab:red', lw=0.9, alpha=float(min(1.0, 0.3 + score)))
        # heading: centre to the front edge
        ax.plot([box[0], (c[0, 0] + c[1, 0]) / 2], [box[1], (c[0, 1] + c[1, 1]) / 2],
                color='tab:red', lw=0.6)
    ax.set_aspect('equal')
    ax.set_title(title, fontsize=8)
    ax.tick_params(labelsize=6)


def plot_scenes(path: str, rows: Sequence[dict], score_thr: float) -> bool:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    panels = []
    for g in group_rows(rows):
        for r in g['runs']:
            npz = osp.join(r['run_dir'], 'scene.npz')
            if r.get('status') == 'ok' and osp.isfile(npz):
                panels.append((g['config'], r['seed'], npz))
                break  # one scene per config (its first finished seed)
    if not panels:
        return False
    cols = min(4, len(panels))
    rows_n = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows_n, cols, figsize=(4 * cols, 4 * rows_n), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis('off')
    for ax, (name, seed, npz) in zip(axes.flat, panels):
        draw_scene(ax, npz, f'{name} (seed {seed})', score_thr)
    fig.suptitle(f'One validation scene: points (grey, every sweep), ground truth (green), '
                 f'predictions with score >= {score_thr} (red); lines: heading', fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
