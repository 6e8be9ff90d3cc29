# Drop-in: bev_losses.CenterHead with bev_losses.GaussianFocalLoss (probabilities, as mmdet3d
# passes them) and bev_losses.L1Loss. Same maths as the baseline: the numbers should match it.
_base_ = './_centerpoint_base.py'
compare_label = ('drop-in replacement: bev_losses.GaussianFocalLoss (probabilities) + '
                 'bev_losses.L1Loss; should match the baseline')
model = dict(
    pts_bbox_head=dict(
        type='bev_losses.CenterHead',
        loss_cls=dict(_delete_=True, type='bev_losses.GaussianFocalLoss', reduction='mean'),
        loss_bbox=dict(_delete_=True, type='bev_losses.L1Loss', reduction='mean',
                       loss_weight=0.25)))
