"""nuScenes-style BEV detection scores: centre-distance AP, true-positive errors, NDS.

The functional core of ``bev_losses.BEVDetectionMetric``; numpy only, so it is unit-testable and
usable on any list of boxes. It follows the nuScenes detection benchmark (Caesar et al., 2020;
``nuscenes-devkit`` ``eval/detection/algo.py``), written anew:

* **Matching.** Per class and distance threshold ``d``, predictions of all samples are taken in
  decreasing score; each is matched to the nearest not-yet-matched ground truth of its class in
  its sample by BEV centre distance, a true positive (TP) when that distance is ``< d``
  (strict), a false positive otherwise.
* **AP.** Precision and recall along the ranked list are linearly interpolated (``np.interp``,
  precision 0 beyond the highest recall) onto 101 recall levels ``0, 0.01, ..., 1``; the levels
  above ``min_recall`` (0.11 ... 1) are kept, ``min_precision`` is subtracted and clipped at 0,
  and the mean is divided by ``1 - min_precision``. AP lies in [0, 1]; a class with ground truth
  but no TP has AP 0. No monotone envelope is applied (as nuScenes).
* **TP errors** at ``tp_threshold`` (2 m): translation ``ATE`` (BEV centre distance, m), scale
  ``ASE = 1 - IoU`` of the two boxes aligned on centre and heading, orientation ``AOE`` (smallest
  yaw difference, rad, period ``2 pi``; ``pi`` for ``classes_orientation_period_pi``), velocity
  ``AVE`` (L2 of ``(vx, vy)``, m/s). Along the ranked TPs the running mean of each error is
  taken, resampled on the recall levels (through the score), and averaged from recall
  ``min_recall`` (exclusive) to the highest recall reached; 1.0 when that recall is below
  ``min_recall``.
* **Summary.** ``mAP`` averages AP over thresholds and classes; ``mATE`` etc. average the class
  errors; ``NDS = mAP / 2 + mean_k(1 - min(1, mTPE_k)) / 2`` over the available errors (ATE, ASE,
  AOE and, when the boxes carry velocities, AVE). With nuScenes' five errors this is nuScenes'
  NDS; here the attribute error does not exist.

Deviations from nuScenes, by choice: classes without any ground truth in the evaluated set are
left out of every mean (nuScenes counts them as AP 0); ranges are a square ``eval_range`` in BEV
(optional) instead of per-class radii; ties in score keep the input order.

Boxes are ``(x, y, z, dx, dy, dz, yaw[, vx, vy])`` in mmdet3d's LiDAR convention (``z`` at the
bottom: only BEV centres, sizes and yaw are used, so the vertical origin does not matter).
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

#: The true-positive error names, in report order.
TP_ERRORS = ('ATE', 'ASE', 'AOE', 'AVE')


def _to_numpy(x: Any, name: str) -> np.ndarray:
    """Tensor / box structure / array-like -> float64 or int numpy array (detached, on CPU)."""
    if hasattr(x, 'tensor'):  # mmdet3d BaseInstance3DBoxes
        x = x.tensor
    if hasattr(x, 'detach'):
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except Exception as err:  # pragma: no cover - exotic input
        raise TypeError(f'{name} must be array-like, got {type(x).__name__}') from err


def _boxes(x: Any, name: str) -> np.ndarray:
    arr = _to_numpy(x, name).astype(np.float64)
    if arr.size == 0:
        return np.zeros((0, max(arr.shape[-1], 7) if arr.ndim == 2 else 7))
    if arr.ndim != 2 or arr.shape[1] < 7:
        raise ValueError(f'{name} must have shape (N, 7+) (x, y, z, dx, dy, dz, yaw[, vx, vy]), '
                         f'got {tuple(arr.shape)}')
    return arr


def _vector(x: Any, name: str, n: int, dtype) -> np.ndarray:
    arr = _to_numpy(x, name)
    arr = arr.reshape(-1) if arr.size == 0 else arr
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f'{name} must have shape ({n},) to match its boxes, got '
                         f'{tuple(arr.shape)}')
    return arr.astype(dtype)


def _get(d: Any, key: str, name: str) -> Any:
    if isinstance(d, Mapping):
        if key not in d:
            raise ValueError(f'{name} has no {key!r} (keys: {sorted(d)})')
        return d[key]
    if hasattr(d, key):
        return getattr(d, key)
    raise TypeError(f'{name} must be a mapping (or InstanceData) with {key!r}, got '
                    f'{type(d).__name__}')


def _angle_diff(a: np.ndarray, b: np.ndarray, period: float) -> np.ndarray:
    """Smallest ``|a - b|`` modulo ``period``, in ``[0, period / 2]``."""
    d = np.mod(a - b + period / 2, period) - period / 2
    return np.abs(d)


def _aligned_iou(da: np.ndarray, db: np.ndarray) -> np.ndarray:
    """3D IoU of boxes of sizes ``da``, ``db`` ``(K, 3)`` sharing centre and heading."""
    inter = np.prod(np.minimum(da, db), axis=-1)
    union = np.prod(da, axis=-1) + np.prod(db, axis=-1) - inter
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(union > 0, inter / union, 0.0)


def _cummean(x: np.ndarray) -> np.ndarray:
    """Running mean ignoring NaN; all-NaN -> ones (the error counts as maximal)."""
    valid = ~np.isnan(x)
    if not valid.any():
        return np.ones_like(x, dtype=np.float64)
    sums = np.cumsum(np.where(valid, x, 0.0))
    counts = np.cumsum(valid)
    return np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)


def _in_range(boxes: np.ndarray, eval_range: Optional[Sequence[float]]) -> np.ndarray:
    if eval_range is None:
        return np.ones(boxes.shape[0], dtype=bool)
    x0, y0, x1, y1 = eval_range
    return ((boxes[:, 0] >= x0) & (boxes[:, 0] <= x1) & (boxes[:, 1] >= y0)
            & (boxes[:, 1] <= y1))


def _match_class(pred: List[dict], gts: List[dict], label: int, dist_th: float,
                 with_velocity: bool, period: float) -> Dict[str, np.ndarray]:
    """Greedy matching of one class at one threshold, predictions in decreasing score.

    Returns the predictions of the class in ranked order: ``frame`` (sample index), ``scores``,
    ``tp`` (1.0 / 0.0) and, per TP error, ``err_<KEY>`` (the error of a TP, NaN elsewhere);
    ``npos`` is the ground-truth count of the class per sample. A prediction is only ever
    matched inside its own sample, so the result of each prediction does not depend on the
    other samples (which is what lets ``BEVMatches.evaluate`` resample frames).
    """
    npos = np.array([int((g['labels'] == label).sum()) for g in gts], dtype=np.int64)
    sample_ids, scores, rows = [], [], []
    for s, p in enumerate(pred):
        idx = np.nonzero(p['labels'] == label)[0]
        sample_ids.append(np.full(idx.shape[0], s))
        scores.append(p['scores'][idx])
        rows.append(idx)
    sample_ids = np.concatenate(sample_ids) if sample_ids else np.zeros(0, dtype=np.int64)
    scores = np.concatenate(scores) if scores else np.zeros(0)
    rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    order = np.argsort(-scores, kind='stable')
    gt_idx = [np.nonzero(g['labels'] == label)[0] for g in gts]
    taken = [np.zeros(len(i), dtype=bool) for i in gt_idx]
    tp = np.zeros(order.shape[0])
    errs = {k: np.full(order.shape[0], np.nan) for k in TP_ERRORS}
    for k, o in enumerate(order):
        s = sample_ids[o]
        if len(gt_idx[s]) == 0:
            continue
        pbox = pred[s]['boxes'][rows[o]]
        gboxes = gts[s]['boxes'][gt_idx[s]]
        dist = np.hypot(gboxes[:, 0] - pbox[0], gboxes[:, 1] - pbox[1])
        dist[taken[s]] = np.inf
        j = int(np.argmin(dist))
        if not dist[j] < dist_th:
            continue
        taken[s][j] = True
        tp[k] = 1
        g = gboxes[j]
        errs['ATE'][k] = dist[j]
        errs['ASE'][k] = 1.0 - float(_aligned_iou(g[None, 3:6], pbox[None, 3:6])[0])
        errs['AOE'][k] = (float(_angle_diff(np.asarray(pbox[6]), np.asarray(g[6]), period))
                          if period > 0 else np.nan)
        errs['AVE'][k] = (float(np.hypot(*(pbox[7:9] - g[7:9]))) if with_velocity
                          else np.nan)
    out = dict(frame=sample_ids[order], scores=scores[order], tp=tp, npos=npos)
    out.update({f'err_{k}': v for k, v in errs.items()})
    return out


def _curves(scores: np.ndarray, tp: np.ndarray, errs: Optional[Dict[str, np.ndarray]],
            npos: int, rec_levels: np.ndarray) -> Optional[Dict[str, np.ndarray]]:
    """Precision, confidence and running TP errors on the recall levels, from the ranked
    predictions of one class (``tp`` 1/0, ``errs[key]`` aligned with them, NaN at FPs; None:
    no error curves, as at the thresholds other than the TP one); None without any TP."""
    is_tp = tp > 0
    if not is_tp.any():
        return None
    ctp = np.cumsum(tp)
    cfp = np.cumsum(1 - tp)
    prec = ctp / (ctp + cfp)
    rec = ctp / npos
    precision = np.interp(rec_levels, rec, prec, right=0)
    confidence = np.interp(rec_levels, rec, scores, right=0)
    match_conf = scores[is_tp]
    curves = dict(precision=precision, confidence=confidence)
    for key in (TP_ERRORS if errs is not None else ()):
        run = _cummean(errs[key][is_tp])
        # Resample on the recall levels through the score (scores decrease along the list).
        curves[key] = np.interp(confidence[::-1], match_conf[::-1], run[::-1])[::-1]
    return curves


class BEVMatches:
    """The matched detections of a set of samples, scored on any multiset of those samples.

    Built by ``match_bev_detections`` (the validation and matching of
    ``evaluate_bev_detections``, done once). ``evaluate()`` gives exactly
    ``evaluate_bev_detections``'s result; ``evaluate(counts)`` scores the samples taken
    ``counts[i]`` times each (a bootstrap resample of frames), equal to
    ``evaluate_bev_detections`` on the resampled list of samples up to the order of exactly
    tied scores of different predictions. Matching happens inside a sample only, so a repeated
    sample repeats its matches; each call is a few vectorised passes, no re-matching.
    """

    def __init__(self, class_names: List[str], matches: Dict[Tuple[int, float], dict],
                 num_gts_per_frame: np.ndarray, num_preds_per_frame: np.ndarray,
                 num_frames: int, with_velocity: bool, options: dict) -> None:
        self.class_names = class_names
        self.matches = matches
        self.num_gts_per_frame = num_gts_per_frame  # (frames, classes)
        self.num_preds_per_frame = num_preds_per_frame
        self.num_frames = num_frames
        self.with_velocity = with_velocity
        self.options = options

    def evaluate(self, counts: Optional[np.ndarray] = None) -> Dict[str, Any]:
        """Scores of the samples, each taken ``counts[i]`` times (default: once)."""
        o = self.options
        if counts is None:
            counts = np.ones(self.num_frames, dtype=np.int64)
        counts = np.asarray(counts, dtype=np.int64)
        if counts.shape != (self.num_frames, ) or (counts < 0).any():
            raise ValueError(f'counts must be {self.num_frames} non-negative ints, got shape '
                             f'{counts.shape}')
        num_gts_arr = counts @ self.num_gts_per_frame
        num_preds_arr = counts @ self.num_preds_per_frame
        num_gts = {c: int(num_gts_arr[k]) for k, c in enumerate(self.class_names)}
        num_preds = {c: int(num_preds_arr[k]) for k, c in enumerate(self.class_names)}
        rec_levels = np.linspace(0.0, 1.0, 101)
        identity = bool((counts == 1).all())
        curves = {}
        for (k, d), m in self.matches.items():
            npos = int(num_gts_arr[k])
            if npos == 0:
                continue
            with_errs = d == o['tp_threshold']  # the TP errors are read at one threshold
            if identity:
                scores, tp = m['scores'], m['tp']
                errs = {key: m[f'err_{key}'] for key in TP_ERRORS} if with_errs else None
            else:
                rep = counts[m['frame']]
                scores, tp = np.repeat(m['scores'], rep), np.repeat(m['tp'], rep)
                errs = ({key: np.repeat(m[f'err_{key}'], rep) for key in TP_ERRORS}
                        if with_errs else None)
            curves[(k, d)] = _curves(scores, tp, errs, npos, rec_levels)
        return _summarise(curves, self.class_names, num_gts, num_preds, self.with_velocity,
                          **o)


def match_bev_detections(
        preds: Sequence[Mapping],
        gts: Sequence[Mapping],
        class_names: Sequence[str],
        dist_thresholds: Sequence[float] = (0.5, 1.0, 2.0, 4.0),
        tp_threshold: float = 2.0,
        min_recall: float = 0.1,
        min_precision: float = 0.1,
        max_dets_per_sample: Optional[int] = 500,
        eval_range: Optional[Sequence[float]] = None,
        classes_without_velocity: Sequence[str] = ('traffic_cone', 'barrier'),
        classes_without_orientation: Sequence[str] = ('traffic_cone', ),
        classes_orientation_period_pi: Sequence[str] = ('barrier', ),
) -> Dict[str, Any]:
    """Validate and match BEV detections once: a ``BEVMatches`` that scores any resample of
    the samples (``evaluate_bev_detections`` is ``match_bev_detections(...).evaluate()``).

    Args:
        preds: one mapping per sample with ``bboxes_3d`` ``(N, 7)`` or ``(N, 9)``
            (``x, y, z, dx, dy, dz, yaw[, vx, vy]``; arrays, tensors or mmdet3d boxes),
            ``scores_3d`` ``(N,)`` and ``labels_3d`` ``(N,)`` (indices into ``class_names``).
        gts: one mapping per sample, aligned with ``preds``: ``bboxes_3d`` ``(M, 7|9)``,
            ``labels_3d`` ``(M,)`` (``-1`` = ignore), optional ``velocities`` ``(M, 2)`` used
            when the boxes have no velocity columns.
        class_names: the class of each label index.
        dist_thresholds: BEV centre-distance thresholds (m) of the AP.
        tp_threshold: the threshold (one of ``dist_thresholds``) of the TP errors.
        min_recall, min_precision: the nuScenes AP clipping, in ``[0, 1)``.
        max_dets_per_sample: keep the top-scoring detections per sample (None: all).
        eval_range: ``(x_min, y_min, x_max, y_max)``: only boxes whose BEV centre is inside
            count (both predictions and ground truth); None: all.
        classes_without_velocity / classes_without_orientation: AVE / AOE not defined there.
        classes_orientation_period_pi: orientation compared modulo ``pi``.

    Returns:
        ``BEVMatches``; ``.evaluate()`` returns what ``evaluate_bev_detections`` documents.

    Raises:
        ValueError / TypeError: naming the argument, on mismatched lengths or shapes, labels
        outside ``class_names``, non-finite scores or boxes, or bad options.
    """
    if isinstance(class_names, str) or not all(isinstance(c, str) for c in class_names):
        raise TypeError(f'class_names must be a sequence of str, got {class_names!r}')
    class_names = list(class_names)
    if not class_names:
        raise ValueError('class_names must not be empty')
    if len(preds) != len(gts):
        raise ValueError(f'preds and gts must have one entry per sample, got {len(preds)} '
                         f'and {len(gts)}')
    dist_thresholds = [float(d) for d in dist_thresholds]
    if not dist_thresholds or any(not d > 0 for d in dist_thresholds):
        raise ValueError(f'dist_thresholds must be positive, got {dist_thresholds}')
    if float(tp_threshold) not in dist_thresholds:
        raise ValueError(f'tp_threshold ({tp_threshold}) must be one of dist_thresholds '
                         f'{dist_thresholds}')
    if not 0 <= min_recall <= 1:
        raise ValueError(f'min_recall must be in [0, 1], got {min_recall}')
    if not 0 <= min_precision < 1:
        raise ValueError(f'min_precision must be in [0, 1), got {min_precision}')
    if max_dets_per_sample is not None and (not isinstance(max_dets_per_sample, int)
                                            or max_dets_per_sample < 1):
        raise ValueError(f'max_dets_per_sample must be a positive int or None, got '
                         f'{max_dets_per_sample!r}')
    if eval_range is not None:
        eval_range = [float(v) for v in eval_range]
        if len(eval_range) != 4:
            raise ValueError(f'eval_range must be (x_min, y_min, x_max, y_max), got '
                             f'{eval_range}')
    num_classes = len(class_names)

    pred_list: List[dict] = []
    gt_list: List[dict] = []
    pred_vel = gt_vel = True
    for i, (p, g) in enumerate(zip(preds, gts)):
        pb = _boxes(_get(p, 'bboxes_3d', f'preds[{i}]'), f'preds[{i}].bboxes_3d')
        ps = _vector(_get(p, 'scores_3d', f'preds[{i}]'), f'preds[{i}].scores_3d',
                     pb.shape[0], np.float64)
        pl = _vector(_get(p, 'labels_3d', f'preds[{i}]'), f'preds[{i}].labels_3d',
                     pb.shape[0], np.int64)
        if not np.isfinite(ps).all():
            raise ValueError(f'preds[{i}].scores_3d has non-finite values')
        if not np.isfinite(pb[:, :7]).all():
            raise ValueError(f'preds[{i}].bboxes_3d has non-finite values')
        if ((pl < 0) | (pl >= num_classes)).any():
            raise ValueError(f'preds[{i}].labels_3d must be in [0, {num_classes}), got '
                             f'{np.unique(pl).tolist()}')
        gb = _boxes(_get(g, 'bboxes_3d', f'gts[{i}]'), f'gts[{i}].bboxes_3d')
        gl = _vector(_get(g, 'labels_3d', f'gts[{i}]'), f'gts[{i}].labels_3d',
                     gb.shape[0], np.int64)
        if ((gl < -1) | (gl >= num_classes)).any():
            raise ValueError(f'gts[{i}].labels_3d must be in [-1, {num_classes}), got '
                             f'{np.unique(gl).tolist()}')
        if gb.shape[1] < 9:
            vel = g.get('velocities') if isinstance(g, Mapping) else None
            if vel is not None and _to_numpy(vel, 'velocities').size == 2 * gb.shape[0]:
                gb = np.concatenate(
                    [gb[:, :7], _to_numpy(vel, 'velocities').reshape(-1, 2)], axis=1)
            else:
                gt_vel = gt_vel and gb.shape[0] == 0
        if pb.shape[1] < 9 and pb.shape[0] > 0:
            pred_vel = False
        keep = _in_range(pb, eval_range)
        pb, ps, pl = pb[keep], ps[keep], pl[keep]
        if max_dets_per_sample is not None and pb.shape[0] > max_dets_per_sample:
            top = np.argsort(-ps, kind='stable')[:max_dets_per_sample]
            top.sort()
            pb, ps, pl = pb[top], ps[top], pl[top]
        keep = _in_range(gb, eval_range) & (gl >= 0)
        gb, gl = gb[keep], gl[keep]
        gb = np.nan_to_num(gb, nan=0.0) if gb.shape[1] >= 9 else gb
        pred_list.append(dict(boxes=pb, scores=ps, labels=pl))
        gt_list.append(dict(boxes=gb, labels=gl))
    with_velocity = pred_vel and gt_vel and len(pred_list) > 0

    matches = {}
    for k, cname in enumerate(class_names):
        period = np.pi if cname in classes_orientation_period_pi else 2 * np.pi
        if cname in classes_without_orientation:
            period = 0.0
        for d in dist_thresholds:
            matches[(k, d)] = _match_class(pred_list, gt_list, k, d, with_velocity, period)
    num_gts_pf = np.array([[int((g['labels'] == k).sum()) for k in range(num_classes)]
                           for g in gt_list], dtype=np.int64).reshape(len(gt_list), num_classes)
    num_preds_pf = np.array([[int((p['labels'] == k).sum()) for k in range(num_classes)]
                             for p in pred_list], dtype=np.int64)
    num_preds_pf = num_preds_pf.reshape(len(pred_list), num_classes)
    options = dict(dist_thresholds=dist_thresholds, tp_threshold=float(tp_threshold),
                   min_recall=min_recall, min_precision=min_precision,
                   classes_without_velocity=tuple(classes_without_velocity),
                   classes_without_orientation=tuple(classes_without_orientation))
    return BEVMatches(class_names, matches, num_gts_pf, num_preds_pf, len(pred_list),
                      with_velocity, options)


def evaluate_bev_detections(
        preds: Sequence[Mapping],
        gts: Sequence[Mapping],
        class_names: Sequence[str],
        dist_thresholds: Sequence[float] = (0.5, 1.0, 2.0, 4.0),
        tp_threshold: float = 2.0,
        min_recall: float = 0.1,
        min_precision: float = 0.1,
        max_dets_per_sample: Optional[int] = 500,
        eval_range: Optional[Sequence[float]] = None,
        classes_without_velocity: Sequence[str] = ('traffic_cone', 'barrier'),
        classes_without_orientation: Sequence[str] = ('traffic_cone', ),
        classes_orientation_period_pi: Sequence[str] = ('barrier', ),
) -> Dict[str, Any]:
    """Score BEV detections against ground truth, nuScenes-style (see the module docstring).

    Args:
        preds: one mapping per sample with ``bboxes_3d`` ``(N, 7)`` or ``(N, 9)``
            (``x, y, z, dx, dy, dz, yaw[, vx, vy]``; arrays, tensors or mmdet3d boxes),
            ``scores_3d`` ``(N,)`` and ``labels_3d`` ``(N,)`` (indices into ``class_names``).
        gts: one mapping per sample, aligned with ``preds``: ``bboxes_3d`` ``(M, 7|9)``,
            ``labels_3d`` ``(M,)`` (``-1`` = ignore), optional ``velocities`` ``(M, 2)`` used
            when the boxes have no velocity columns.
        class_names: the class of each label index.
        dist_thresholds: BEV centre-distance thresholds (m) of the AP.
        tp_threshold: the threshold (one of ``dist_thresholds``) of the TP errors.
        min_recall, min_precision: the nuScenes AP clipping, in ``[0, 1)``.
        max_dets_per_sample: keep the top-scoring detections per sample (None: all).
        eval_range: ``(x_min, y_min, x_max, y_max)``: only boxes whose BEV centre is inside
            count (both predictions and ground truth); None: all.
        classes_without_velocity / classes_without_orientation: AVE / AOE not defined there.
        classes_orientation_period_pi: orientation compared modulo ``pi``.

    Returns:
        dict with ``mAP``, ``NDS``, ``mATE``, ``mASE``, ``mAOE`` and ``mAVE`` (NaN when no
        velocity is available), ``mAP_by_threshold`` ``{d: mAP}``, ``class_AP``
        ``{class: mean AP}``, ``AP`` ``{class: {d: AP}}``, ``tp_errors``
        ``{class: {ATE/ASE/AOE/AVE: value}}``, ``num_gts`` / ``num_preds`` ``{class: count}``,
        ``evaluated_classes`` (those with ground truth) and ``with_velocity``.

    Raises:
        ValueError / TypeError: naming the argument, on mismatched lengths or shapes, labels
        outside ``class_names``, non-finite scores or boxes, or bad options.
    """
    return match_bev_detections(
        preds, gts, class_names, dist_thresholds=dist_thresholds, tp_threshold=tp_threshold,
        min_recall=min_recall, min_precision=min_precision,
        max_dets_per_sample=max_dets_per_sample, eval_range=eval_range,
        classes_without_velocity=classes_without_velocity,
        classes_without_orientation=classes_without_orientation,
        classes_orientation_period_pi=classes_orientation_period_pi).evaluate()


def _summarise(all_curves: Dict[Tuple[int, float], Optional[dict]], class_names: List[str],
               num_gts: Dict[str, int], num_preds: Dict[str, int], with_velocity: bool,
               dist_thresholds: Sequence[float], tp_threshold: float, min_recall: float,
               min_precision: float, classes_without_velocity: Sequence[str],
               classes_without_orientation: Sequence[str]) -> Dict[str, Any]:
    """AP per class and threshold, TP errors, the means and NDS from the curves."""
    first = int(round(100 * min_recall)) + 1
    ap: Dict[str, Dict[float, float]] = {}
    tp_errors: Dict[str, Dict[str, float]] = {}
    evaluated = [c for c in class_names if num_gts[c] > 0]
    for k, cname in enumerate(class_names):
        if num_gts[cname] == 0:
            continue
        ap[cname] = {}
        for d in dist_thresholds:
            curves = all_curves[(k, d)]
            if curves is None:
                ap[cname][d] = 0.0
            else:
                prec = np.clip(curves['precision'][first:] - min_precision, 0.0, None)
                ap[cname][d] = (min(1.0, float(prec.mean() / (1.0 - min_precision)))
                                if prec.size else 0.0)
            if d == float(tp_threshold):
                errs = {}
                nonzero = np.nonzero(curves['confidence'])[0] if curves is not None else []
                last = int(nonzero[-1]) if len(nonzero) else 0
                for key in TP_ERRORS:
                    undefined = ((key == 'AVE' and (not with_velocity
                                                    or cname in classes_without_velocity))
                                 or (key == 'AOE' and cname in classes_without_orientation))
                    if undefined:
                        errs[key] = float('nan')
                    elif curves is None or last < first:
                        errs[key] = 1.0
                    else:
                        errs[key] = float(np.mean(curves[key][first:last + 1]))
                tp_errors[cname] = errs

    class_ap = {c: float(np.mean(list(ap[c].values()))) for c in evaluated}
    out: Dict[str, Any] = dict(
        AP=ap, class_AP=class_ap, tp_errors=tp_errors, num_gts=num_gts, num_preds=num_preds,
        evaluated_classes=evaluated, with_velocity=with_velocity)
    if evaluated:
        out['mAP'] = float(np.mean(list(class_ap.values())))
        out['mAP_by_threshold'] = {d: float(np.mean([ap[c][d] for c in evaluated]))
                                   for d in dist_thresholds}
    else:
        out['mAP'] = 0.0
        out['mAP_by_threshold'] = {d: 0.0 for d in dist_thresholds}
    if not evaluated:  # nothing to find: the worst score
        for key in TP_ERRORS:
            out['m' + key] = float('nan') if key == 'AVE' and not with_velocity else 1.0
        out['NDS'] = 0.0
        return out
    scores = []
    for key in TP_ERRORS:
        vals = [tp_errors[c][key] for c in evaluated if not np.isnan(tp_errors[c][key])]
        # NaN when undefined for every evaluated class (no velocities; only cones for AOE).
        out['m' + key] = float(np.mean(vals)) if vals else float('nan')
        if vals:
            scores.append(1.0 - min(1.0, out['m' + key]))
    out['NDS'] = 0.5 * out['mAP'] + 0.5 * float(np.mean(scores))
    return out
