# The small anchor-based PointPillars (configs/_base_/models/small_bev_pointpillars.py) on the
# synthetic LiDAR BEV data set: bev_losses.FocalLoss (sigmoid) on the anchors,
# bev_losses.SmoothL1Loss on the box deltas, bev_losses.CrossEntropyLoss on the direction bins.
_base_ = [
    '../_base_/datasets/synthetic_bev.py',
    '../_base_/models/small_bev_pointpillars.py',
    '../_base_/schedules/iter_onecycle.py',
    '../_base_/default_runtime.py',
]

# The anchor head regresses 7-dof boxes (no velocity).
train_dataloader = dict(dataset=dict(with_velocity=False))
val_dataloader = dict(dataset=dict(with_velocity=False))
test_dataloader = dict(dataset=dict(with_velocity=False))
