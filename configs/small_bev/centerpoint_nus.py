# The same small pillar CenterPoint on nuScenes (mmdet3d's NuScenesDataset, standard v1.1 info
# files; configs/_base_/datasets/nus_bev.py): only the classes change (one task of nuScenes' 10).
#
#   python tools/train.py configs/small_bev/centerpoint_nus.py --cfg-options \
#       train_dataloader.dataset.data_root=/data/nuscenes/ \
#       val_dataloader.dataset.data_root=/data/nuscenes/
_base_ = [
    '../_base_/datasets/nus_bev.py',
    '../_base_/models/small_bev_centerpoint.py',
    '../_base_/schedules/iter_onecycle.py',
    '../_base_/default_runtime.py',
]

# nuScenes' 10 classes, in the order of configs/_base_/datasets/nus_bev.py
nus_class_names = [
    'car', 'truck', 'trailer', 'bus', 'construction_vehicle', 'bicycle', 'motorcycle',
    'pedestrian', 'traffic_cone', 'barrier'
]
model = dict(
    pts_bbox_head=dict(
        type='bev_losses.CenterHead',
        tasks=[dict(num_class=len(nus_class_names), class_names=nus_class_names)],
        loss_cls=dict(type='bev_losses.GaussianFocalLoss', reduction='mean'),
        loss_bbox=dict(type='bev_losses.L1Loss', reduction='mean', loss_weight=0.25)))
