# Box regression with bev_losses.SmoothL1Loss (beta = 1/9, PointPillars' value) instead of L1.
_base_ = './_centerpoint_base.py'
compare_label = 'box regression: SmoothL1 (beta 1/9) instead of L1'
model = dict(
    pts_bbox_head=dict(
        type='bev_losses.CenterHead',
        loss_cls=dict(_delete_=True, type='bev_losses.GaussianFocalLoss', reduction='mean'),
        loss_bbox=dict(_delete_=True, type='bev_losses.SmoothL1Loss', beta=1.0 / 9.0,
                       reduction='mean', loss_weight=0.25)))
