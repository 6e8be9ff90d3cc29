"""Data sets of bev-losses (imports mmdet3d; loaded by the registry on first use).

- ``synthetic``: the deterministic synthetic LiDAR BEV data generator (numpy only).
- ``synthetic_dataset``: ``bev_losses.SyntheticBEVDataset``, mmdet3d's ``Det3DDataset`` on it.
"""
from .synthetic import (CLASS_FREQUENCIES, OBJECTS_PER_FRAME, POINT_CLOUD_RANGE, SENSOR_HEIGHT,
                        SYNTHETIC_CLASSES, ensure_synthetic_dataset, generate_frame,
                        generate_synthetic_dataset, read_generation_meta)
from .synthetic_dataset import SyntheticBEVDataset

__all__ = ['SYNTHETIC_CLASSES', 'CLASS_FREQUENCIES', 'OBJECTS_PER_FRAME', 'POINT_CLOUD_RANGE',
           'SENSOR_HEIGHT', 'generate_synthetic_dataset', 'ensure_synthetic_dataset',
           'generate_frame', 'read_generation_meta', 'SyntheticBEVDataset']
