# Anchor classification with plain sigmoid bev_losses.CrossEntropyLoss (no focusing term). Not a
# focal-type loss, so bev_losses.Anchor3DHead turns sampling on (as mmdet3d does); the sampler is
# mmdet3d's PseudoSampler (every anchor, loss averaged over positives + negatives).
_base_ = './_pointpillars_base.py'
compare_label = ('anchor classification: sigmoid CrossEntropy over all anchors, no focusing: '
                 'what Focal fixes')
model = dict(
    bbox_head=dict(
        loss_cls=dict(_delete_=True, type='bev_losses.CrossEntropyLoss', use_sigmoid=True,
                      loss_weight=1.0)),
    train_cfg=dict(sampler=dict(type='PseudoSampler')))
