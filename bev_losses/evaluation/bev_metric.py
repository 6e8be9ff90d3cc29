"""``bev_losses.BEVDetectionMetric``: the nuScenes-style BEV detection metric for MMEngine.

Works on the output of any mmdet3d ``Det3DDataset`` in test mode: ``process`` reads each
sample's ``pred_instances_3d`` (``bboxes_3d``, ``scores_3d``, ``labels_3d``) and its
``eval_ann_info`` (``gt_bboxes_3d``, ``gt_labels_3d``, and ``velocities`` or 9-column boxes when
present); ``compute_metrics`` calls ``evaluate_bev_detections``. Config::

    val_evaluator = dict(type='bev_losses.BEVDetectionMetric', class_names=class_names,
                         eval_range=[x_min, y_min, x_max, y_max])
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from ..registry import METRICS
from .bev_detection import TP_ERRORS, evaluate_bev_detections


def _field(obj: Any, key: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def _cpu(x: Any) -> Any:
    """Boxes / tensors -> numpy on CPU (so results can be gathered and pickled cheaply)."""
    if x is None:
        return None
    if hasattr(x, 'tensor'):
        x = x.tensor
    if hasattr(x, 'detach'):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _fmt_key(d: float) -> str:
    return f'{d:g}m'


@METRICS.register_module()
class BEVDetectionMetric(BaseMetric):
    """nuScenes-style centre-distance mAP, TP errors and NDS (see ``bev_detection``).

    Args:
        class_names: class of each label; default: ``dataset_meta['classes']``.
        dist_thresholds: BEV centre-distance thresholds (m).
        tp_threshold: threshold of the TP errors (m).
        min_recall, min_precision: nuScenes AP clipping.
        max_dets_per_sample: top-scoring detections kept per sample.
        eval_range: ``(x_min, y_min, x_max, y_max)`` or a 6-value point cloud range; boxes with
            a BEV centre outside are ignored (predictions and ground truth). None: all.
        classes_without_velocity, classes_without_orientation, classes_orientation_period_pi:
            as nuScenes (cones and barriers).
        verbose: log a per-class table after each evaluation.
        collect_device, prefix: MMEngine's (``prefix`` defaults to ``'bev'``).

    Output keys (with the prefix): ``mAP``, ``NDS``, ``mATE``, ``mASE``, ``mAOE``, ``mAVE``
    (when velocities exist), ``mAP_<d>m`` per threshold, ``AP_<class>`` for every class with
    ground truth in the evaluated set.
    """

    default_prefix: Optional[str] = 'bev'

    def __init__(self,
                 class_names: Optional[Sequence[str]] = None,
                 dist_thresholds: Sequence[float] = (0.5, 1.0, 2.0, 4.0),
                 tp_threshold: float = 2.0,
                 min_recall: float = 0.1,
                 min_precision: float = 0.1,
                 max_dets_per_sample: Optional[int] = 500,
                 eval_range: Optional[Sequence[float]] = None,
                 classes_without_velocity: Sequence[str] = ('traffic_cone', 'barrier'),
                 classes_without_orientation: Sequence[str] = ('traffic_cone', ),
                 classes_orientation_period_pi: Sequence[str] = ('barrier', ),
                 verbose: bool = True,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if class_names is not None and (isinstance(class_names, str) or not all(
                isinstance(c, str) for c in class_names)):
            raise TypeError(f'class_names must be a sequence of str or None, got '
                            f'{class_names!r}')
        if eval_range is not None:
            eval_range = [float(v) for v in eval_range]
            if len(eval_range) == 6:
                eval_range = [eval_range[0], eval_range[1], eval_range[3], eval_range[4]]
            if len(eval_range) != 4:
                raise ValueError(f'eval_range must have 4 (BEV) or 6 (point cloud range) '
                                 f'values, got {eval_range}')
        self.class_names = None if class_names is None else list(class_names)
        self.options = dict(
            dist_thresholds=tuple(float(d) for d in dist_thresholds),
            tp_threshold=float(tp_threshold), min_recall=min_recall,
            min_precision=min_precision, max_dets_per_sample=max_dets_per_sample,
            eval_range=eval_range, classes_without_velocity=tuple(classes_without_velocity),
            classes_without_orientation=tuple(classes_without_orientation),
            classes_orientation_period_pi=tuple(classes_orientation_period_pi))
        # Validate the options now (bad config -> error before any training starts).
        evaluate_bev_detections([], [], self.class_names or ['_'], **self.options)
        self.verbose = verbose

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Keep predictions and ground truth of each sample as numpy arrays."""
        for i, sample in enumerate(data_samples):
            pred = _field(sample, 'pred_instances_3d')
            ann = _field(sample, 'eval_ann_info')
            if pred is None:
                raise ValueError(f'data_samples[{i}] has no pred_instances_3d')
            if ann is None:
                raise ValueError(
                    f'data_samples[{i}] has no eval_ann_info: build the val/test data set '
                    f'with test_mode=True (and load_eval_anns=True)')
            gt_boxes = _cpu(_field(ann, 'gt_bboxes_3d'))
            gt_labels = _cpu(_field(ann, 'gt_labels_3d'))
            if gt_boxes is None or gt_labels is None:
                raise ValueError(f'data_samples[{i}].eval_ann_info needs gt_bboxes_3d and '
                                 f'gt_labels_3d')
            gt = dict(bboxes_3d=gt_boxes, labels_3d=gt_labels)
            vel = _cpu(_field(ann, 'velocities'))
            if vel is not None:
                gt['velocities'] = vel
            self.results.append(dict(
                sample_idx=_field(sample, 'sample_idx'),
                pred=dict(bboxes_3d=_cpu(_field(pred, 'bboxes_3d')),
                          scores_3d=_cpu(_field(pred, 'scores_3d')),
                          labels_3d=_cpu(_field(pred, 'labels_3d'))),
                gt=gt))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        class_names = self.class_names_for()
        res = evaluate_bev_detections([r['pred'] for r in results], [r['gt'] for r in results],
                                      class_names, **self.options)
        metrics = self.metrics_from_result(res)
        if self.verbose:
            print_log(self.format_table(res), logger='current')
        return metrics

    def class_names_for(self) -> List[str]:
        """The class names this metric scores (``class_names`` or ``dataset_meta``)."""
        if self.class_names is not None:
            return list(self.class_names)
        classes = (self.dataset_meta or {}).get('classes')
        if classes is None:
            raise ValueError('BEVDetectionMetric needs class_names, or a dataset_meta '
                             'with classes')
        return list(classes)

    @staticmethod
    def metrics_from_result(res: Dict[str, Any]) -> Dict[str, float]:
        """The metric's output keys (without the prefix) from an ``evaluate_bev_detections``
        result."""
        metrics: Dict[str, float] = {'mAP': res['mAP'], 'NDS': res['NDS']}
        for key in TP_ERRORS:
            if not np.isnan(res['m' + key]):
                metrics['m' + key] = res['m' + key]
        for d, v in res['mAP_by_threshold'].items():
            metrics[f'mAP_{_fmt_key(d)}'] = v
        for c, v in res['class_AP'].items():
            metrics[f'AP_{c}'] = v
        return metrics

    @staticmethod
    def format_table(res: Dict[str, Any]) -> str:
        """A per-class text table of an ``evaluate_bev_detections`` result."""
        ths = list(next(iter(res['AP'].values())).keys()) if res['AP'] else []
        head = ['class', 'gts', 'preds', 'AP'] + [f'AP@{_fmt_key(d)}' for d in ths] + list(
            TP_ERRORS)
        rows = [head]
        for c in res['num_gts']:
            if c not in res['AP']:
                continue
            errs = res['tp_errors'][c]
            rows.append([c, str(res['num_gts'][c]), str(res['num_preds'][c]),
                         f"{res['class_AP'][c]:.3f}"]
                        + [f"{res['AP'][c][d]:.3f}" for d in ths]
                        + [f'{errs[k]:.3f}' for k in TP_ERRORS])
        widths = [max(len(r[j]) for r in rows) for j in range(len(head))]
        lines = ['  '.join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
        lines.append(f"mAP {res['mAP']:.4f}  NDS {res['NDS']:.4f}  " + '  '.join(
            f"m{k} {res['m' + k]:.4f}" for k in TP_ERRORS))
        return 'BEV detection (nuScenes-style):\n' + '\n'.join(lines)
