"""Statistics of the loss comparison: paired differences to the baseline, their intervals, verdicts.

numpy and the standard library only (no scipy).

Two sources of noise make two runs of the comparison disagree, and each interval covers one:

* **Training noise** (the seed: initialisation, data order, float rounding that drifts two runs
  apart over a thousand iterations). A row and the baseline trained with the same seed on the
  same data form a pair; ``paired_t_interval`` is the Student-t interval of the mean paired
  difference over the seeds (n - 1 degrees of freedom).
* **Evaluation noise** (the validation frames are a sample of scenes). ``bootstrap_interval``
  takes the same resamples of the validation frames for every run (``bootstrap_indices``),
  computes the metrics of each run on each resample, and reads the percentile interval of the
  seed-averaged paired difference.

``verdict`` says ``better`` or ``worse`` only when **both** intervals exclude zero on the same
side, and ``no difference detected`` otherwise: a difference must survive another training run
*and* another draw of validation scenes.
"""
from __future__ import annotations

import functools
import math
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

#: Metrics compared, and whether a higher value is better.
HIGHER_IS_BETTER: Dict[str, bool] = {
    'mAP': True, 'NDS': True, 'mATE': False, 'mASE': False, 'mAOE': False, 'mAVE': False}
BETTER, WORSE, NO_DIFFERENCE = 'better', 'worse', 'no difference detected'


# ----------------------------------------------------------------------------------------------
# Student's t quantile (for the interval over seeds)
# ----------------------------------------------------------------------------------------------
def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function ``I_x(a, b)``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    ln_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x)
                + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(ln_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(ln_front) * _betacf(b, a, 1.0 - x) / b


def student_t_cdf(t: float, df: float) -> float:
    """``P(T <= t)`` for Student's t with ``df`` degrees of freedom."""
    if df <= 0:
        raise ValueError(f'df must be > 0, got {df}')
    if t == 0:
        return 0.5
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


@functools.lru_cache(maxsize=256)
def student_t_ppf(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (bisection on the CDF,
    to about 1e-12)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f'p must be in (0, 1), got {p}')
    if df <= 0:
        raise ValueError(f'df must be > 0, got {df}')
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -student_t_ppf(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while student_t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
        if hi > 1e300:  # pragma: no cover - p astronomically close to 1
            return math.inf
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if student_t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-13 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


# ----------------------------------------------------------------------------------------------
# intervals
# ----------------------------------------------------------------------------------------------
def paired_t_interval(diffs: Sequence[float], level: float = 0.95
                      ) -> Tuple[float, float, float]:
    """Mean of paired differences and its two-sided Student-t interval.

    Args:
        diffs: one difference per seed (row minus baseline); NaN entries are dropped.
        level: confidence level.

    Returns:
        ``(mean, low, high)``; ``low``/``high`` are NaN with fewer than two differences. With
        all differences equal the interval is the point.
    """
    d = np.asarray([v for v in diffs if v is not None and not math.isnan(v)], dtype=np.float64)
    if d.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(d.mean())
    if d.size < 2:
        return mean, math.nan, math.nan
    half = student_t_ppf(0.5 + level / 2.0, d.size - 1) * float(d.std(ddof=1)) / math.sqrt(d.size)
    return mean, mean - half, mean + half


def bootstrap_indices(num_frames: int, num_resamples: int, seed: int = 0) -> np.ndarray:
    """``(num_resamples, num_frames)`` frame indices drawn with replacement; the same for every
    run of a comparison (the same arguments give the same array), which pairs the resamples."""
    if num_frames < 1 or num_resamples < 1:
        raise ValueError(f'num_frames and num_resamples must be >= 1, got {num_frames}, '
                         f'{num_resamples}')
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(num_frames)]))
    return rng.integers(0, num_frames, size=(num_resamples, num_frames))


def bootstrap_interval(row: np.ndarray, base: np.ndarray, level: float = 0.95
                       ) -> Tuple[float, float]:
    """Percentile interval of the seed-averaged paired difference over frame resamples.

    Args:
        row, base: ``(seeds, resamples)``: a metric of the row's and the baseline's run of each
            common seed on each resample of the validation frames (the same resamples for all).
        level: confidence level.

    Returns:
        ``(low, high)``; NaN when a resample has no defined value for every seed.
    """
    row = np.asarray(row, dtype=np.float64)
    base = np.asarray(base, dtype=np.float64)
    if row.shape != base.shape or row.ndim != 2 or row.size == 0:
        raise ValueError(f'row and base must have the same (seeds, resamples) shape, got '
                         f'{row.shape} and {base.shape}')
    diff = (row - base).mean(axis=0)
    if np.isnan(diff).any():
        return math.nan, math.nan
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(diff, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def excludes_zero(low: float, high: float) -> int:
    """+1 when the interval lies above zero, -1 below, 0 when it holds zero or is undefined."""
    if math.isnan(low) or math.isnan(high):
        return 0
    if low > 0:
        return 1
    if high < 0:
        return -1
    return 0


def verdict(metric: str, seed_interval: Tuple[float, float],
            frame_interval: Optional[Tuple[float, float]]) -> str:
    """``better`` / ``worse`` when both intervals exclude zero on the same side (the direction
    read through ``HIGHER_IS_BETTER``), else ``no difference detected``.

    ``frame_interval=None`` (no bootstrap available) decides on the seed interval alone.
    """
    if metric not in HIGHER_IS_BETTER:
        raise ValueError(f'unknown metric {metric!r}; one of {sorted(HIGHER_IS_BETTER)}')
    side = excludes_zero(*seed_interval)
    if frame_interval is not None and excludes_zero(*frame_interval) != side:
        side = 0
    if side == 0:
        return NO_DIFFERENCE
    up_is_good = HIGHER_IS_BETTER[metric]
    return BETTER if (side > 0) == up_is_good else WORSE
