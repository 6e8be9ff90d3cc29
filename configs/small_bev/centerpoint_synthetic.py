# The small pillar CenterPoint (configs/_base_/models/small_bev_centerpoint.py) on the synthetic
# LiDAR BEV data set, with the bev-losses defaults: bev_losses.GaussianFocalLoss on the heatmap
# and bev_losses.L1Loss on the box regression. The data set is generated into data/synthetic/ on
# first use.
#
#   python tools/train.py configs/small_bev/centerpoint_synthetic.py
_base_ = [
    '../_base_/datasets/synthetic_bev.py',
    '../_base_/models/small_bev_centerpoint.py',
    '../_base_/schedules/iter_onecycle.py',
    '../_base_/default_runtime.py',
]

model = dict(
    pts_bbox_head=dict(
        type='bev_losses.CenterHead',
        loss_cls=dict(type='bev_losses.GaussianFocalLoss', reduction='mean'),
        loss_bbox=dict(type='bev_losses.L1Loss', reduction='mean', loss_weight=0.25)))
