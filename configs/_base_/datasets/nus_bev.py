# nuScenes variant of the BEV data set: mmdet3d's NuScenesDataset on standard v1.1 info files
# (tools/create_data.py of mmdet3d), with the same pipeline shape as synthetic_bev.py so the same
# model trains unchanged: the key frame and its earlier sweeps (LoadPointsFromMultiSweeps, as
# mmdet3d's CenterPoint nuScenes configs: 9 sweeps, close points removed, the key frame repeated
# when an info lists none), 5 point features (x, y, z, intensity, time lag), the same point cloud
# range (the model's voxel grid depends on it).
#
# Override the location on the command line, e.g.
#   python tools/train.py CONFIG --cfg-options \
#       train_dataloader.dataset.data_root=/data/nuscenes/ \
#       val_dataloader.dataset.data_root=/data/nuscenes/ \
#       val_dataloader.dataset.ann_file=nuscenes_infos_val.pkl
# The one-frame demo of the tests: data_root='../shared/data/real/nuscenes/',
# ann_file='nuscenes_infos_demo.pkl', data_prefix=dict(pts='') (its info lists no sweeps).
#
# Classes: nuScenes' own 10 names. A model config built on this file must have one output per
# class (e.g. CenterHead tasks covering `class_names`); a model written for the 5 synthetic
# classes must take its tasks / num_classes from `class_names` to train here unchanged.
# Intensity is 0..255 in nuScenes files and 0..1 in the synthetic set.
dataset_type = 'NuScenesDataset'
data_root = 'data/nuscenes/'
class_names = [
    'car', 'truck', 'trailer', 'bus', 'construction_vehicle', 'bicycle', 'motorcycle',
    'pedestrian', 'traffic_cone', 'barrier'
]
metainfo = dict(classes=class_names)
point_cloud_range = [-19.2, -19.2, -3.0, 19.2, 19.2, 3.0]
input_modality = dict(use_lidar=True, use_camera=False)
data_prefix = dict(pts='samples/LIDAR_TOP', img='', sweeps='sweeps/LIDAR_TOP')
backend_args = None
num_sweeps = 9

train_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5,
         backend_args=backend_args),
    dict(type='LoadPointsFromMultiSweeps', sweeps_num=num_sweeps, load_dim=5,
         use_dim=[0, 1, 2, 3, 4], pad_empty_sweeps=True, remove_close=True,
         backend_args=backend_args),
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
    dict(type='GlobalRotScaleTrans', rot_range=[-0.785, 0.785],
         scale_ratio_range=[0.95, 1.05], translation_std=[0, 0, 0]),
    dict(type='RandomFlip3D', flip_ratio_bev_horizontal=0.5,
         flip_ratio_bev_vertical=0.5),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectNameFilter', classes=class_names),
    dict(type='PointShuffle'),
    dict(type='Pack3DDetInputs', keys=['points', 'gt_bboxes_3d', 'gt_labels_3d'])
]
test_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5,
         backend_args=backend_args),
    dict(type='LoadPointsFromMultiSweeps', sweeps_num=num_sweeps, load_dim=5,
         use_dim=[0, 1, 2, 3, 4], pad_empty_sweeps=True, remove_close=True, test_mode=True,
         backend_args=backend_args),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    # as in training: the hard voxelisation keeps the first points of a pillar, and the key
    # frame comes first (see synthetic_bev.py)
    dict(type='PointShuffle'),
    dict(type='Pack3DDetInputs', keys=['points'])
]

train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='nuscenes_infos_train.pkl',
        pipeline=train_pipeline,
        metainfo=metainfo,
        modality=input_modality,
        data_prefix=data_prefix,
        test_mode=False,
        box_type_3d='LiDAR',
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='nuscenes_infos_val.pkl',
        pipeline=test_pipeline,
        metainfo=metainfo,
        modality=input_modality,
        data_prefix=data_prefix,
        test_mode=True,
        box_type_3d='LiDAR',
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(type='bev_losses.BEVDetectionMetric', class_names=class_names,
                     eval_range=point_cloud_range)
test_evaluator = val_evaluator
