# NOT in the default matrix (the leading underscore): mmdet3d 1.4's Anchor3DHead reshapes the
# class scores to `num_classes` columns in `_loss_by_feat_single` even when a softmax loss gives it
# `num_classes + 1` outputs, so softmax anchor classification fails (labels out of range). Run it
# by name once the head handles the softmax layout:
#   python tools/compare_losses.py configs/compare/_anchor_focal_softmax.py
# Anchor classification with the softmax form of bev_losses.FocalLoss (use_sigmoid=False): the
# head gets num_classes + 1 outputs per anchor (background included) from the built loss.
_base_ = './_pointpillars_base.py'
compare_label = 'anchor classification: softmax Focal (background class) instead of sigmoid'
model = dict(
    bbox_head=dict(
        loss_cls=dict(_delete_=True, type='bev_losses.FocalLoss', use_sigmoid=False, gamma=2.0,
                      alpha=0.25, loss_weight=1.0)))
