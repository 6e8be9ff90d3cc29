"""``bev_losses.SyntheticBEVDataset``: mmdet3d's ``Det3DDataset`` on the synthetic info files.

It differs from ``Det3DDataset`` only where it must: the boxes of the info files are
bottom-centre LiDAR boxes (KITTI's convention, not nuScenes' gravity centre), turned into
``LiDARInstance3DBoxes`` with the velocity appended (``box_dim=9``, as ``NuScenesDataset`` does,
so CenterHead's velocity branch has targets), and, with ``auto_generate=True``, the data set is
generated in ``data_root`` on first use (see ``ensure_synthetic_dataset``).

Loading uses mmdet3d's standard transforms, as for nuScenes::

    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5)
    dict(type='LoadPointsFromMultiSweeps', sweeps_num=2, load_dim=5, use_dim=[0, 1, 2, 3, 4])
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True)
"""
from __future__ import annotations

import os.path as osp
from typing import Callable, List, Optional, Union

import numpy as np
from mmdet3d.datasets import Det3DDataset
from mmdet3d.structures import LiDARInstance3DBoxes

from ..registry import DATASETS
from .synthetic import SWEEPS_DIR, SYNTHETIC_CLASSES, ensure_synthetic_dataset


@DATASETS.register_module()
class SyntheticBEVDataset(Det3DDataset):
    """The synthetic LiDAR BEV data set (``tools/create_synthetic_data.py``).

    Args:
        data_root: folder holding the info files and ``points/``.
        ann_file: info file, relative to ``data_root``
            (``synthetic_infos_train.pkl`` / ``synthetic_infos_val.pkl``).
        pipeline: data transforms.
        with_velocity: append ``(vx, vy)`` to the ground-truth boxes (``(N, 9)``).
        auto_generate: generate the data set in ``data_root`` when it is missing (or was made
            with other ``generate_kwargs``) before loading.
        generate_kwargs: keyword arguments of ``ensure_synthetic_dataset`` (``num_train``,
            ``num_val``, ``seed``, ...). Use the same dict for every split of a config.
        data_prefix: defaults to ``dict(pts='', sweeps='sweeps')`` (the info files hold
            ``points/...`` paths; mmdet3d joins a sweep's file name to ``sweeps``); a missing
            key gets its default.
        **kwargs: the rest of ``Det3DDataset``'s arguments (``metainfo``, ``test_mode``,
            ``box_type_3d`` = 'LiDAR', ...).

    Raises:
        FileNotFoundError: naming ``data_root`` and ``ann_file`` when the info file is missing
            and ``auto_generate`` is False.
    """

    METAINFO = {
        'classes': SYNTHETIC_CLASSES,
        'palette': [(255, 158, 0), (0, 0, 230), (220, 20, 60), (255, 99, 71),
                    (47, 79, 79)],
    }

    def __init__(self,
                 data_root: str,
                 ann_file: str,
                 pipeline: List[Union[dict, Callable]] = [],
                 with_velocity: bool = True,
                 auto_generate: bool = False,
                 generate_kwargs: Optional[dict] = None,
                 data_prefix: Optional[dict] = None,
                 box_type_3d: str = 'LiDAR',
                 **kwargs) -> None:
        if not isinstance(auto_generate, bool):
            raise TypeError(f'auto_generate must be a bool, got {auto_generate!r}')
        if generate_kwargs is not None and not isinstance(generate_kwargs, dict):
            raise TypeError(f'generate_kwargs must be a dict or None, got {generate_kwargs!r}')
        if not isinstance(box_type_3d, str) or box_type_3d.lower() != 'lidar':
            raise ValueError(f"box_type_3d must be 'LiDAR' for SyntheticBEVDataset, got "
                             f'{box_type_3d!r}')
        self.with_velocity = with_velocity
        # the key frames' paths are relative to data_root ('points/...'); mmdet3d joins a
        # sweep's file name to data_prefix['sweeps']
        data_prefix = dict(pts='') if data_prefix is None else dict(data_prefix)
        data_prefix.setdefault('pts', '')
        data_prefix.setdefault('sweeps', SWEEPS_DIR)
        ann_path = ann_file if osp.isabs(ann_file) or not data_root else osp.join(
            data_root, ann_file)
        if auto_generate:
            if not data_root:
                raise ValueError('auto_generate=True needs a data_root, got '
                                 f'data_root={data_root!r}')
            ensure_synthetic_dataset(data_root, **(generate_kwargs or {}))
        if not kwargs.get('lazy_init', False) and not osp.isfile(ann_path):
            raise FileNotFoundError(
                f'SyntheticBEVDataset: ann_file {ann_file!r} not found under data_root '
                f'{data_root!r} (looked for {ann_path!r}). Generate it with '
                f'`python tools/create_synthetic_data.py --out-dir {data_root}` or set '
                f'auto_generate=True.')
        super().__init__(
            data_root=data_root,
            ann_file=ann_file,
            pipeline=pipeline,
            data_prefix=data_prefix,
            box_type_3d=box_type_3d,
            **kwargs)

    def parse_ann_info(self, info: dict) -> dict:
        """Turn ``info['instances']`` into ``ann_info``.

        Returns:
            dict with ``gt_bboxes_3d`` (``LiDARInstance3DBoxes``, ``(N, 9)`` with velocity or
            ``(N, 7)``), ``gt_labels_3d`` (``(N,)`` int64), and the other instance fields
            (``velocities`` ``(N, 2)``, ``num_lidar_pts`` ...). Instances of classes outside
            ``metainfo['classes']`` (label -1) are removed.
        """
        ann_info = super().parse_ann_info(info)
        box_dim = 9 if self.with_velocity else 7
        if ann_info is None:
            ann_info = dict(gt_bboxes_3d=np.zeros((0, box_dim), dtype=np.float32),
                            gt_labels_3d=np.zeros(0, dtype=np.int64),
                            velocities=np.zeros((0, 2), dtype=np.float32))
        else:
            ann_info = self._remove_dontcare(ann_info)
            boxes = ann_info['gt_bboxes_3d'].reshape(-1, 7)
            if self.with_velocity:
                vel = ann_info.get('velocities')
                if vel is None:
                    vel = np.zeros((boxes.shape[0], 2), dtype=np.float32)
                vel = np.nan_to_num(vel.reshape(-1, 2).astype(np.float32), nan=0.0)
                boxes = np.concatenate([boxes, vel], axis=-1)
            ann_info['gt_bboxes_3d'] = boxes
        ann_info['gt_bboxes_3d'] = LiDARInstance3DBoxes(
            ann_info['gt_bboxes_3d'], box_dim=box_dim, origin=(0.5, 0.5, 0.0))
        return ann_info
