# NOT in the default matrix (the leading underscore); run it by name:
#   python tools/compare_losses.py configs/compare/_anchor_focal_softmax.py
# It trains (bev_losses.Anchor3DHead gives background anchors the softmax background column),
# but its numbers were not measured with the matrix yet, and the head's classifier bias prior
# (bias_prob=0.01 on every column) gives a softmax loss a uniform start: the summed focal loss
# over all anchors starts in the thousands (about 3.5e3 at iteration 20 in a smoke run).
# Anchor classification with the softmax form of bev_losses.FocalLoss (use_sigmoid=False): the
# head gets num_classes + 1 outputs per anchor (background included) from the built loss, and
# bev_losses.Anchor3DHead gives background anchors the background column (mmdet3d's head would
# label them one past it). alpha is not used by the softmax form (see the loss table).
_base_ = './_pointpillars_base.py'
compare_label = 'anchor classification: softmax Focal (background class) instead of sigmoid'
model = dict(
    bbox_head=dict(
        loss_cls=dict(_delete_=True, type='bev_losses.FocalLoss', use_sigmoid=False, gamma=2.0,
                      alpha=0.25, loss_weight=1.0)))
