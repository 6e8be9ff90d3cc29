"""The statistics of the comparison (bev_losses.compare.stats / report) on synthetic numbers.

Expectations are computed independently: closed forms of Student's t quantile, textbook values,
numpy's own mean / std / quantile, scipy where installed, and Monte-Carlo coverage.
"""
import csv
import math
import subprocess
import sys

import numpy as np
import pytest

from bev_losses.compare import report as P
from bev_losses.compare import stats as S
from bev_losses.evaluation import evaluate_bev_detections, match_bev_detections


# ---------------------------------------------------------------------------- Student's t
@pytest.mark.parametrize('p', [0.6, 0.9, 0.975, 0.995, 0.3, 0.025])
def test_t_quantile_closed_forms(p):
    # df = 1 (Cauchy) and df = 2 have closed forms
    assert S.student_t_ppf(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-10)
    assert S.student_t_ppf(p, 2) == pytest.approx(
        (2 * p - 1) / math.sqrt(2 * p * (1 - p)), rel=1e-10)


def test_t_quantile_textbook_values_and_normal_limit():
    # two-sided 95 %: the values of every t table
    for df, t in [(2, 4.302653), (3, 3.182446), (4, 2.776445), (9, 2.262157), (29, 2.045230)]:
        assert S.student_t_ppf(0.975, df) == pytest.approx(t, abs=2e-6)
    assert S.student_t_ppf(0.975, 1e7) == pytest.approx(1.959964, abs=1e-5)
    for df in (1, 2, 5, 30):
        for p in (0.55, 0.8, 0.99):
            assert S.student_t_cdf(S.student_t_ppf(p, df), df) == pytest.approx(p, abs=1e-12)
    with pytest.raises(ValueError, match='p must'):
        S.student_t_ppf(1.0, 3)
    with pytest.raises(ValueError, match='df'):
        S.student_t_ppf(0.9, 0)


def test_t_quantile_equals_scipy():
    stats = pytest.importorskip('scipy.stats')
    for df in range(1, 31):
        for p in (0.9, 0.95, 0.975, 0.995):
            assert S.student_t_ppf(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-9)


# ---------------------------------------------------------------------------- intervals
def test_paired_t_interval_against_numpy():
    d = np.array([0.03, -0.01, 0.02])
    mean, lo, hi = S.paired_t_interval(d)
    half = 4.302653 * d.std(ddof=1) / math.sqrt(3)
    assert mean == pytest.approx(d.mean())
    assert (lo, hi) == (pytest.approx(d.mean() - half, abs=1e-7),
                        pytest.approx(d.mean() + half, abs=1e-7))
    # NaN dropped, one value: no interval, equal values: the point
    m1, lo1, hi1 = S.paired_t_interval([0.2, float('nan')])
    assert m1 == 0.2 and math.isnan(lo1) and math.isnan(hi1)
    assert S.paired_t_interval([0.1, 0.1, 0.1]) == pytest.approx((0.1, 0.1, 0.1))
    assert all(math.isnan(v) for v in S.paired_t_interval([]))


def test_paired_t_interval_covers_the_true_mean_95_percent():
    rng = np.random.default_rng(0)
    trials, hits = 4000, 0
    for _ in range(trials):
        _, lo, hi = S.paired_t_interval(rng.normal(0.3, 0.05, size=3))
        hits += lo <= 0.3 <= hi
    # binomial: sd of the rate is 0.0034; 4 sd either way
    assert abs(hits / trials - 0.95) < 0.014, hits / trials


def test_bootstrap_indices_deterministic_and_paired():
    a = S.bootstrap_indices(60, 500, seed=3)
    assert a.shape == (500, 60) and a.min() >= 0 and a.max() < 60
    np.testing.assert_array_equal(a, S.bootstrap_indices(60, 500, seed=3))
    assert not np.array_equal(a, S.bootstrap_indices(60, 500, seed=4))
    # every frame is drawn about equally often
    counts = np.bincount(a.ravel(), minlength=60) / a.size
    assert np.abs(counts - 1 / 60).max() < 0.004
    with pytest.raises(ValueError):
        S.bootstrap_indices(0, 10)


def test_bootstrap_interval_is_the_percentile_of_the_seed_mean_difference():
    rng = np.random.default_rng(1)
    base = rng.normal(0.5, 0.02, size=(3, 1000))
    row = base + rng.normal(0.01, 0.01, size=(3, 1000))
    lo, hi = S.bootstrap_interval(row, base)
    want = np.quantile((row - base).mean(0), [0.025, 0.975])
    assert (lo, hi) == (pytest.approx(want[0]), pytest.approx(want[1]))
    # a constant shift: the interval is that point
    assert S.bootstrap_interval(base + 0.1, base) == pytest.approx((0.1, 0.1))
    row[1, 5] = np.nan
    assert all(math.isnan(v) for v in S.bootstrap_interval(row, base))
    with pytest.raises(ValueError, match='shape'):
        S.bootstrap_interval(row[:2], base)


def test_frame_bootstrap_covers_a_mean_difference():
    """The paired percentile bootstrap of a per-frame mean covers the true difference in about
    95 % of data sets of 60 frames (Monte Carlo; the percentile interval of a mean runs a
    little short at n = 60)."""
    rng = np.random.default_rng(2)
    trials, hits, n = 300, 0, 60
    for t in range(trials):
        shared = rng.normal(0.0, 1.0, n)  # frame difficulty, common to both models: paired
        a = shared + rng.normal(0.0, 0.3, n)
        b = shared + 0.05 + rng.normal(0.0, 0.3, n)
        idx = S.bootstrap_indices(n, 500, seed=t)
        lo, hi = S.bootstrap_interval(b[idx].mean(1)[None], a[idx].mean(1)[None])
        hits += lo <= 0.05 <= hi
    assert 0.89 <= hits / trials <= 0.99, hits / trials


# ---------------------------------------------------------------------------- verdicts
@pytest.mark.parametrize('metric, seed_iv, frame_iv, want', [
    ('mAP', (0.01, 0.05), (0.02, 0.04), S.BETTER),
    ('NDS', (-0.05, -0.01), (-0.03, -0.01), S.WORSE),
    ('mATE', (-0.05, -0.01), (-0.04, -0.02), S.BETTER),   # lower error: better
    ('mAOE', (0.1, 0.3), (0.05, 0.2), S.WORSE),           # higher error: worse
    ('mAP', (-0.01, 0.05), (0.02, 0.04), S.NO_DIFFERENCE),  # seed interval holds 0
    ('mAP', (0.01, 0.05), (-0.02, 0.04), S.NO_DIFFERENCE),  # frame interval holds 0
    ('mAP', (0.01, 0.05), (-0.04, -0.02), S.NO_DIFFERENCE),  # the two disagree
    ('mAP', (float('nan'), float('nan')), (0.02, 0.04), S.NO_DIFFERENCE),  # one seed
    ('mAVE', (-0.5, -0.1), None, S.BETTER),                # no bootstrap: the seeds decide
])
def test_verdict(metric, seed_iv, frame_iv, want):
    assert S.verdict(metric, seed_iv, frame_iv) == want


def test_verdict_unknown_metric():
    with pytest.raises(ValueError, match='unknown metric'):
        S.verdict('AP_car', (0.1, 0.2), None)


# ---------------------------------------------------------------------------- frame resamples
def _random_detections(rng, frames=25, classes=3):
    preds, gts = [], []
    for _ in range(frames):
        m = int(rng.integers(0, 12))
        gb = np.concatenate([rng.uniform(-20, 20, (m, 2)), rng.uniform(-2, 0, (m, 1)),
                             rng.uniform(0.5, 4, (m, 3)), rng.uniform(-3, 3, (m, 1)),
                             rng.normal(0, 3, (m, 2))], 1)
        gl = rng.integers(0, classes, m)
        n = int(rng.integers(0, 40))
        src = rng.integers(0, max(m, 1), n)
        pb = (gb[src] if m else np.zeros((n, 9))) + rng.normal(0, 0.8, (n, 9)) * np.array(
            [1, 1, .1, .1, .1, .1, .5, 1, 1])
        pl = np.where(rng.random(n) < 0.8, gl[src] if m else 0, rng.integers(0, classes, n))
        preds.append(dict(bboxes_3d=pb, scores_3d=rng.random(n), labels_3d=pl))
        gts.append(dict(bboxes_3d=gb, labels_3d=gl))
    return preds, gts


def test_matches_score_any_resample_like_the_metric():
    rng = np.random.default_rng(5)
    names = ['car', 'pedestrian', 'cyclist']
    preds, gts = _random_detections(rng)
    matches = match_bev_detections(preds, gts, names, eval_range=[-18, -18, 18, 18])
    full = evaluate_bev_detections(preds, gts, names, eval_range=[-18, -18, 18, 18])
    assert matches.evaluate() == full
    for b, idx in enumerate(S.bootstrap_indices(len(preds), 6, seed=1)):
        got = matches.evaluate(np.bincount(idx, minlength=len(preds)))
        want = evaluate_bev_detections([preds[i] for i in idx], [gts[i] for i in idx], names,
                                       eval_range=[-18, -18, 18, 18])
        for key in ('mAP', 'NDS', 'mATE', 'mASE', 'mAOE', 'mAVE'):
            assert got[key] == pytest.approx(want[key], abs=1e-12), (b, key)
        assert got['class_AP'] == pytest.approx(want['class_AP'], abs=1e-12)
        assert got['num_gts'] == want['num_gts']
    with pytest.raises(ValueError, match='counts'):
        matches.evaluate(np.ones(3, dtype=int))


# ---------------------------------------------------------------------------- the report
def _rows(shift=None, seeds=(0, 1, 2), noise=0.01, drop_in_noise=0.01):
    """Runs of a baseline, a drop-in (noise only) and a row shifted by ``shift``."""
    rng = np.random.default_rng(7)
    shift = shift or {}
    rows, boots = [], {}
    for name in ('00_mmdet_baseline', '01_bev_drop_in', '02_shifted', '03_no_velocity'):
        for s in seeds:
            base = dict(mAP=0.55 + 0.02 * s, NDS=0.5 + 0.01 * s, mATE=0.3, mASE=0.25,
                        mAOE=0.4 - 0.01 * s, mAVE=0.8)
            m = dict(base)
            if name != '00_mmdet_baseline':
                for k in m:
                    m[k] += rng.normal(0, drop_in_noise if name == '01_bev_drop_in' else noise)
            if name == '02_shifted':
                for k, v in shift.items():
                    m[k] += v
            if name == '03_no_velocity':
                del m['mAVE']
            run_dir = f'/nowhere/{name}/seed{s}'
            rows.append(dict(config=name, seed=s, status='ok', run_dir=run_dir,
                             roles=dict(cls='c', reg='r', other='-', head='h'),
                             label='drop-in' if name.startswith('01') else '',
                             metrics={f'bev/{k}': v for k, v in m.items()},
                             final_loss=1.0, sec_per_iter=0.1, iters=10))
            # a frame bootstrap around each run's value
            boot = np.array([m.get(k, np.nan) for k in S.HIGHER_IS_BETTER])[None] \
                + np.random.default_rng(100 + s).normal(0, 0.005, (200, 6))
            boots[run_dir] = boot
    return rows, boots


def test_compare_rows_verdicts_and_directions():
    rows, boots = _rows(shift=dict(mAP=0.08, mATE=0.1))
    comps = {c.config: c for c in P.compare_rows(rows, boots)}
    assert comps['00_mmdet_baseline'].is_baseline and not comps['00_mmdet_baseline'].diffs
    drop = comps['01_bev_drop_in']
    assert drop.seeds == [0, 1, 2]
    assert {d.verdict for d in drop.diffs.values()} == {S.NO_DIFFERENCE}
    shifted = comps['02_shifted']
    assert shifted.verdict == S.BETTER and shifted.diffs['mAP'].verdict == S.BETTER
    assert shifted.diffs['mATE'].verdict == S.WORSE  # a larger error is worse
    # the interval over seeds is the t-interval of the per-seed differences
    d = shifted.diffs['mAP']
    want = S.paired_t_interval(d.diffs)
    assert (d.mean, *d.seed_interval) == pytest.approx(want)
    # the paired differences are row minus baseline of the same seed
    by = {(r['config'], r['seed']): r['metrics']['bev/mAP'] for r in rows}
    assert d.diffs == pytest.approx([by[('02_shifted', s)] - by[('00_mmdet_baseline', s)]
                                     for s in (0, 1, 2)])
    nv = comps['03_no_velocity']
    assert not nv.diffs['NDS'].comparable and nv.diffs['NDS'].verdict == S.NO_DIFFERENCE
    assert math.isnan(nv.diffs['mAVE'].mean)


def test_compare_rows_pairs_only_common_seeds_and_skips_failures():
    rows, boots = _rows(shift=dict(mAP=0.08))
    for r in rows:
        if r['config'] == '02_shifted' and r['seed'] == 2:
            r['status'], r['metrics'] = 'failed', {}
    comps = {c.config: c for c in P.compare_rows(rows, boots)}
    assert comps['02_shifted'].seeds == [0, 1]
    assert comps['01_bev_drop_in'].seeds == [0, 1, 2]
    with pytest.raises(ValueError, match='baseline'):
        P.compare_rows(rows, boots, baseline='nope')


def test_markdown_csv_and_plot(tmp_path):
    rows, boots = _rows(shift=dict(mAP=-0.08))
    comps = P.compare_rows(rows, boots)
    md = tmp_path / 'comparison.md'
    P.write_markdown(str(md), rows, comps, ['car'], [0, 1, 2], ['metrics.png'], num_frames=60,
                     num_resamples=200)
    text = md.read_text()
    first = text.split('\n## ')[0]  # the plain words come before the tables
    assert 'What the comparison found' in first and 'How sure' in first
    assert '`02_shifted` is **worse** in mAP' in first
    assert 'Check of the method passed' in first and '01_bev_drop_in' in first
    assert 'The baseline' in first and '3 seeds (0, 1, 2)' in first
    assert '| 02_shifted |' in text and '**worse**' in text and '(baseline)' in text
    assert 'not comparable' in text  # NDS of the row without velocity
    P.write_csv(str(tmp_path / 'c.csv'), rows, ['car'])
    with open(tmp_path / 'c.csv') as f:
        got = list(csv.DictReader(f))
    assert len(got) == len(rows) and got[0]['config'] == '00_mmdet_baseline'
    assert {'mAP', 'NDS', 'mATE', 'mASE', 'mAOE', 'mAVE', 'final_train_loss',
            'sec_per_iter'} <= set(got[0])
    png = tmp_path / 'metrics.png'
    assert P.plot_differences(str(png), comps)
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and png.stat().st_size > 10000


def test_markdown_flags_a_failed_check_and_a_single_seed(tmp_path):
    rows, boots = _rows(drop_in_noise=0.0)
    for r in rows:  # the drop-in row differs in every seed: the method's check fails
        if r['config'] == '01_bev_drop_in':
            r['metrics']['bev/mAP'] += 0.1
            boots[r['run_dir']][:, 0] += 0.1
    comps = P.compare_rows(rows, boots)
    lines = '\n'.join(P.summary_lines(comps, rows, 60, 200, 0.95))
    assert 'Check of the method FAILED' in lines
    one = [r for r in rows if r['seed'] == 0]
    lines = '\n'.join(P.summary_lines(P.compare_rows(one, boots), one, 60, 200, 0.95))
    assert 'no interval over seeds' in lines


def test_importing_the_comparison_loads_no_mmdet():
    code = ('import sys, bev_losses.compare, bev_losses.compare.report, '
            'bev_losses.compare.stats; '
            'bad = [m for m in ("mmdet", "mmdet3d", "mmcv", "matplotlib") if m in sys.modules]; '
            'assert not bad, bad')
    subprocess.run([sys.executable, '-c', code], check=True)
