# The IoU term in 3D: L1 plus bev_losses.GIoULoss(box_format='3d') (rotated BEV overlap x height
# overlap) on the decoded boxes at the positive locations.
_base_ = './_centerpoint_base.py'
compare_label = 'adds a 3D (rotated BEV x height) GIoU loss on the decoded boxes to L1'
model = dict(
    pts_bbox_head=dict(
        type='bev_losses.CenterHead',
        loss_cls=dict(_delete_=True, type='bev_losses.GaussianFocalLoss', reduction='mean'),
        loss_bbox=dict(_delete_=True, type='bev_losses.L1Loss', reduction='mean',
                       loss_weight=0.25),
        loss_iou=dict(type='bev_losses.GIoULoss', box_format='3d', reduction='mean',
                      loss_weight=0.5)))
