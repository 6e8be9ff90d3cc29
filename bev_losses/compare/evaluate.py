"""Evaluation of a comparison run: predictions on the validation split, metrics, frame bootstrap.

What every run shares is computed once per comparison (``ValCache``): the validation frames
through the test pipeline (points loaded with their sweeps, range-filtered) and their ground
truth. Each run then only runs its model on the cached inputs, matches its predictions once
(``bev_losses.evaluation.match_bev_detections``) and scores the same resamples of the frames
for the bootstrap (``bev_losses.compare.stats.bootstrap_indices``), a few milliseconds each.

Writes into the run folder: ``predictions.npz`` (every prediction and ground-truth box, by
frame: what the bootstrap can be recomputed from without the model), ``bootstrap.npz`` (the
metrics of each resample), ``scene.npz`` (one frame for the picture) and ``eval.log``.

Imports torch / mmengine / mmdet3d inside the functions.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .stats import HIGHER_IS_BETTER, bootstrap_indices

#: Metrics stored per bootstrap resample, in this order.
BOOTSTRAP_METRICS = tuple(HIGHER_IS_BETTER)


class ValCache:
    """The validation batches and ground truth of each distinct validation data config."""

    def __init__(self, seed: int = 0) -> None:
        self._entries: Dict[str, dict] = {}
        self.seed = seed

    @staticmethod
    def key(cfg) -> str:
        from mmengine.config import Config
        text = Config(dict(d=cfg.compare_val_dataloader)).pretty_text
        return hashlib.sha256(text.encode()).hexdigest()

    def get(self, cfg) -> dict:
        """``dict(batches, metainfo, num_frames)`` for the run config ``cfg`` (built on first
        use: one pass of the validation data loader)."""
        k = self.key(cfg)
        if k not in self._entries:
            from mmengine.registry import DefaultScope
            from mmengine.utils import import_modules_from_strings
            if cfg.get('custom_imports'):
                import_modules_from_strings(**cfg.custom_imports)
            with DefaultScope.overwrite_default_scope(cfg.get('default_scope') or 'mmdet3d'):
                self._entries[k] = self._build(cfg)
        return self._entries[k]

    def _build(self, cfg) -> dict:
        import torch
        from mmengine.runner import Runner
        loader = Runner.build_dataloader(copy.deepcopy(cfg.compare_val_dataloader))
        # a test pipeline may draw random numbers (PointShuffle: torch.randperm): seeded, so a
        # comparison continued in another process sees the same inputs, and every run of a
        # comparison sees the same cached inputs
        np_state, torch_state = np.random.get_state(), torch.get_rng_state()
        np.random.seed(self.seed)
        torch.manual_seed(self.seed)
        try:
            batches = list(loader)
        finally:
            np.random.set_state(np_state)
            torch.set_rng_state(torch_state)
        return dict(batches=batches, metainfo=loader.dataset.metainfo,
                    num_frames=len(loader.dataset))


def _np(x: Any) -> np.ndarray:
    if hasattr(x, 'tensor'):
        x = x.tensor
    if hasattr(x, 'detach'):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def save_predictions(path: str, results: Sequence[dict]) -> None:
    """Predictions and ground truth of every frame (``BEVDetectionMetric.results``), flat."""
    def cat(key, sub, width=None, dtype=np.float32):
        arrs = [_np(r[key][sub]) for r in results]
        if width is not None:
            arrs = [a.reshape(-1, width) if a.size else np.zeros((0, width)) for a in arrs]
        return (np.concatenate(arrs).astype(dtype) if arrs
                else np.zeros((0, width) if width else 0, dtype))
    pw = max([_np(r['pred']['bboxes_3d']).reshape(len(_np(r['pred']['scores_3d'])), -1).shape[1]
              for r in results if len(_np(r['pred']['scores_3d']))] or [7])
    gw = max([_np(r['gt']['bboxes_3d']).shape[-1] for r in results
              if _np(r['gt']['bboxes_3d']).size] or [7])
    gvel = [r['gt'].get('velocities') for r in results]
    arrays = dict(
        pred_boxes=cat('pred', 'bboxes_3d', pw), pred_scores=cat('pred', 'scores_3d'),
        pred_labels=cat('pred', 'labels_3d', dtype=np.int64),
        pred_counts=np.array([len(_np(r['pred']['scores_3d'])) for r in results]),
        gt_boxes=cat('gt', 'bboxes_3d', gw), gt_labels=cat('gt', 'labels_3d', dtype=np.int64),
        gt_counts=np.array([len(_np(r['gt']['labels_3d'])) for r in results]))
    if all(v is not None for v in gvel) and results:
        arrays['gt_velocities'] = np.concatenate(
            [_np(v).reshape(-1, 2) for v in gvel]).astype(np.float32)
    np.savez_compressed(path, **arrays)


def load_predictions(path: str):
    """``(preds, gts)`` lists (one mapping per frame) from ``save_predictions``' file."""
    d = np.load(path)
    preds, gts = [], []
    po = np.concatenate([[0], np.cumsum(d['pred_counts'])])
    go = np.concatenate([[0], np.cumsum(d['gt_counts'])])
    for i in range(len(d['pred_counts'])):
        preds.append(dict(bboxes_3d=d['pred_boxes'][po[i]:po[i + 1]],
                          scores_3d=d['pred_scores'][po[i]:po[i + 1]],
                          labels_3d=d['pred_labels'][po[i]:po[i + 1]]))
        gt = dict(bboxes_3d=d['gt_boxes'][go[i]:go[i + 1]],
                  labels_3d=d['gt_labels'][go[i]:go[i + 1]])
        if 'gt_velocities' in d:
            gt['velocities'] = d['gt_velocities'][go[i]:go[i + 1]]
        gts.append(gt)
    return preds, gts


def bootstrap_metrics(matches, num_resamples: int, seed: int) -> np.ndarray:
    """``(num_resamples, len(BOOTSTRAP_METRICS))``: the metrics of ``matches`` (a
    ``BEVMatches``) on each resample of its frames (``bootstrap_indices``)."""
    idx = bootstrap_indices(matches.num_frames, num_resamples, seed)
    out = np.empty((num_resamples, len(BOOTSTRAP_METRICS)))
    for b in range(num_resamples):
        res = matches.evaluate(np.bincount(idx[b], minlength=matches.num_frames))
        out[b] = [res[k] for k in BOOTSTRAP_METRICS]
    return out


def write_bootstrap(path: str, metrics: np.ndarray, num_frames: int, seed: int) -> None:
    np.savez(path, metrics=metrics, names=np.array(BOOTSTRAP_METRICS), seed=seed,
             num_frames=num_frames, num_resamples=metrics.shape[0])


def read_bootstrap(path: str, num_resamples: int, seed: int) -> Optional[np.ndarray]:
    """The stored resample metrics, or None when absent or made with other settings."""
    if not osp.isfile(path):
        return None
    try:
        d = np.load(path)
        if (int(d['seed']) != seed or int(d['num_resamples']) != num_resamples
                or tuple(d['names']) != BOOTSTRAP_METRICS):
            return None
        return d['metrics']
    except (OSError, KeyError, ValueError):
        return None


def ensure_bootstrap(run_dir: str, class_names: Sequence[str], metric_options: dict,
                     num_resamples: int, seed: int) -> Optional[np.ndarray]:
    """``bootstrap.npz`` of a run, recomputed from ``predictions.npz`` when missing or made with
    other settings; None when the run has no predictions file."""
    from ..evaluation import match_bev_detections
    path = osp.join(run_dir, 'bootstrap.npz')
    have = read_bootstrap(path, num_resamples, seed)
    if have is not None:
        return have
    pred_path = osp.join(run_dir, 'predictions.npz')
    if not osp.isfile(pred_path):
        return None
    preds, gts = load_predictions(pred_path)
    matches = match_bev_detections(preds, gts, list(class_names), **metric_options)
    metrics = bootstrap_metrics(matches, num_resamples, seed)
    write_bootstrap(path, metrics, matches.num_frames, seed)
    return metrics


def evaluate_run(cfg, ckpt: str, cache: ValCache, run_dir: str, scene_index: int = 0,
                 num_resamples: int = 1000, bootstrap_seed: int = 0) -> Dict[str, Any]:
    """Metrics of ``ckpt`` on the config's validation split, and the run's bootstrap.

    Returns ``dict(metrics={'bev/mAP': ...}, num_val_frames=..., bootstrap=bool,
    class_names=[...], metric_options={...})``.
    """
    import torch
    from mmengine.registry import DefaultScope
    from mmengine.utils import import_modules_from_strings

    from mmdet3d.registry import METRICS, MODELS

    from ..evaluation import BEVDetectionMetric, match_bev_detections

    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    scope = cfg.get('default_scope', 'mmdet3d') or 'mmdet3d'
    with DefaultScope.overwrite_default_scope(scope):
        val = cache.get(cfg)
        model = MODELS.build(cfg.model)
        # our own checkpoint: MMEngine stores non-tensor state next to the weights
        state = torch.load(ckpt, map_location='cpu', weights_only=False)
        model.load_state_dict(state.get('state_dict', state))
        model.eval()
        evaluators = cfg.compare_val_evaluator
        if isinstance(evaluators, (list, tuple)):
            evaluators = evaluators[0]
        metric = METRICS.build(copy.deepcopy(evaluators))
        metric.dataset_meta = val['metainfo']
        scene = None
        frame = 0
        with torch.no_grad():
            for batch in val['batches']:
                batch = dict(batch, data_samples=copy.deepcopy(batch['data_samples']))
                outputs = model.test_step(batch)
                metric.process(batch, outputs)
                if scene is None and frame + len(outputs) > scene_index:
                    j = min(max(scene_index - frame, 0), len(outputs) - 1)
                    scene = (batch['inputs']['points'][j], outputs[j])
                frame += len(outputs)
        out: Dict[str, Any] = dict(num_val_frames=frame, bootstrap=False)
        prefix = metric.prefix
        if isinstance(metric, BEVDetectionMetric):
            class_names = metric.class_names_for()
            matches = match_bev_detections([r['pred'] for r in metric.results],
                                           [r['gt'] for r in metric.results], class_names,
                                           **metric.options)
            res = matches.evaluate()
            metrics = metric.metrics_from_result(res)
            with open(osp.join(run_dir, 'eval.log'), 'w') as f:
                f.write(metric.format_table(res) + '\n')
            save_predictions(osp.join(run_dir, 'predictions.npz'), metric.results)
            if num_resamples > 0:
                write_bootstrap(osp.join(run_dir, 'bootstrap.npz'),
                                bootstrap_metrics(matches, num_resamples, bootstrap_seed),
                                matches.num_frames, bootstrap_seed)
                out['bootstrap'] = True
            out['class_names'] = class_names
            out['metric_options'] = json.loads(json.dumps(metric.options))
        else:  # any other MMEngine metric: its own numbers, no bootstrap
            metrics = metric.evaluate(frame)
            metrics = {k.split('/', 1)[-1]: v for k, v in metrics.items()}
        out['metrics'] = {f'{prefix}/{k}' if prefix else k: float(v)
                          for k, v in metrics.items() if isinstance(v, (int, float))}
        if scene is not None:
            _save_scene(osp.join(run_dir, 'scene.npz'), *scene, val['metainfo'])
    return out


def _save_scene(path: str, points, sample, metainfo: dict) -> None:
    points = _np(points)
    if len(points) > 20000:
        points = points[np.random.default_rng(0).choice(len(points), 20000, replace=False)]
    gt = sample.get('eval_ann_info') or {}
    gt_boxes = gt.get('gt_bboxes_3d')
    gt_boxes = _np(gt_boxes) if gt_boxes is not None else np.zeros((0, 7))
    gt_labels = np.asarray(gt.get('gt_labels_3d', np.zeros(0, dtype=np.int64)))
    pred = sample.pred_instances_3d
    np.savez_compressed(
        path, points=points[:, :3].astype(np.float32),
        gt_boxes=gt_boxes.reshape(-1, gt_boxes.shape[-1] if gt_boxes.size else 7)[:, :7]
        .astype(np.float32), gt_labels=gt_labels,
        pred_boxes=_np(pred.bboxes_3d)[:, :7].astype(np.float32),
        pred_scores=_np(pred.scores_3d), pred_labels=_np(pred.labels_3d),
        classes=np.array(list(metainfo.get('classes', []))))


def class_names_of(rows: Sequence[dict]) -> List[str]:
    names: List[str] = []
    for r in rows:
        for k in r.get('metrics', {}):
            if k.startswith('bev/AP_') and k[7:] not in names:
                names.append(k[7:])
    return names
