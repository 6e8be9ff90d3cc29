# Box regression with bev_losses.MSELoss (squared error: large errors dominate) instead of L1.
_base_ = './_centerpoint_base.py'
compare_label = 'box regression: MSE (L2) instead of L1'
model = dict(
    pts_bbox_head=dict(
        type='bev_losses.CenterHead',
        loss_cls=dict(_delete_=True, type='bev_losses.GaussianFocalLoss', reduction='mean'),
        loss_bbox=dict(_delete_=True, type='bev_losses.MSELoss', reduction='mean',
                       loss_weight=0.25)))
