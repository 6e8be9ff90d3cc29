"""Evaluation of bev-losses (loaded by the METRICS registry on first use).

- ``bev_detection``: ``evaluate_bev_detections``, nuScenes-style BEV scores (numpy only).
- ``bev_metric``: ``bev_losses.BEVDetectionMetric``, the MMEngine metric around it.
"""
from .bev_detection import (TP_ERRORS, BEVMatches, evaluate_bev_detections,
                            match_bev_detections)
from .bev_metric import BEVDetectionMetric

__all__ = ['evaluate_bev_detections', 'match_bev_detections', 'BEVMatches',
           'BEVDetectionMetric', 'TP_ERRORS']
