"""The BEV detection metric: hand-made cases with known answers, the nuScenes devkit as an
independent reference on random cases, and the metric through MMEngine's Evaluator."""
import math

import numpy as np
import pytest
import torch

from bev_losses.evaluation import BEVDetectionMetric, evaluate_bev_detections

CLASSES = ['car', 'pedestrian']


def _gt(boxes, labels):
    return dict(bboxes_3d=np.asarray(boxes, dtype=np.float64).reshape(-1, 9),
                labels_3d=np.asarray(labels, dtype=np.int64))


def _pred(boxes, scores, labels):
    return dict(bboxes_3d=np.asarray(boxes, dtype=np.float64).reshape(-1, 9),
                scores_3d=np.asarray(scores, dtype=np.float64),
                labels_3d=np.asarray(labels, dtype=np.int64))


CAR = [10.0, 2.0, -1.8, 4.5, 1.9, 1.6, 0.3, 3.0, 1.0]
PED = [-5.0, 7.0, -1.8, 0.7, 0.6, 1.7, -1.0, 0.5, 0.0]
CAR2 = [-12.0, -8.0, -1.8, 4.2, 1.8, 1.5, 2.0, 0.0, 0.0]


def _ap_closed_form(rec, prec, min_recall=0.1, min_precision=0.1):
    """AP of the ranked list's (recall, precision) points by explicit summation over the recall
    grid (written out independently of the library: a loop, no np.interp). Between points the
    precision is linear in recall; at a recall reached several times (false positives after a
    TP) the last point counts, as in nuScenes; below the first point, its precision; beyond the
    last recall, 0."""
    total, count = 0.0, 0
    for k in range(int(round(100 * min_recall)) + 1, 101):
        r = k / 100
        if r > rec[-1] + 1e-12:
            p = 0.0
        elif r < rec[0] - 1e-12:
            p = prec[0]
        else:
            j = max(i for i in range(len(rec)) if rec[i] <= r + 1e-12)
            if j == len(rec) - 1 or abs(r - rec[j]) < 1e-12:
                p = prec[j]
            else:
                p = prec[j] + (r - rec[j]) / (rec[j + 1] - rec[j]) * (prec[j + 1] - prec[j])
        total += max(p - min_precision, 0.0)
        count += 1
    return total / count / (1 - min_precision)


def test_perfect_predictions():
    gts = [_gt([CAR, PED], [0, 1]), _gt([CAR2], [0])]
    preds = [_pred([CAR, PED], [0.9, 0.8], [0, 1]), _pred([CAR2], [0.7], [0])]
    res = evaluate_bev_detections(preds, gts, CLASSES)
    assert res['mAP'] == pytest.approx(1.0)
    for c in CLASSES:
        assert all(v == pytest.approx(1.0) for v in res['AP'][c].values())
        for k in ('ATE', 'ASE', 'AOE', 'AVE'):
            assert res['tp_errors'][c][k] == pytest.approx(0.0, abs=1e-12)
    assert res['NDS'] == pytest.approx(1.0)
    assert res['with_velocity']


def test_offset_of_1_5_m_is_tp_at_2_and_4_m_only():
    shift = np.array([1.5, 0, 0, 0, 0, 0, 0, 0, 0])
    gts = [_gt([CAR, PED], [0, 1])]
    preds = [_pred([np.add(CAR, shift), np.add(PED, shift[[1, 0, 2, 3, 4, 5, 6, 7, 8]])],
                   [0.9, 0.8], [0, 1])]
    res = evaluate_bev_detections(preds, gts, CLASSES)
    for c in CLASSES:
        assert res['AP'][c][0.5] == 0.0 and res['AP'][c][1.0] == 0.0
        assert res['AP'][c][2.0] == pytest.approx(1.0) and res['AP'][c][4.0] == pytest.approx(1.0)
        assert res['tp_errors'][c]['ATE'] == pytest.approx(1.5)
    assert res['mAP'] == pytest.approx(0.5)
    assert res['mAP_by_threshold'] == pytest.approx({0.5: 0.0, 1.0: 0.0, 2.0: 1.0, 4.0: 1.0})
    # NDS = mAP / 2 + mean(1 - min(1, err)) / 2 with ATE 1.5 (-> 0), ASE = AOE = AVE = 0.
    assert res['NDS'] == pytest.approx(0.5 * 0.5 + 0.5 * (0 + 1 + 1 + 1) / 4)


def test_distance_threshold_is_strict():
    gts = [_gt([CAR], [0])]
    preds = [_pred([np.add(CAR, [0, 2.0, 0, 0, 0, 0, 0, 0, 0])], [0.5], [0])]
    res = evaluate_bev_detections(preds, gts, ['car'])
    assert res['AP']['car'][2.0] == 0.0 and res['AP']['car'][4.0] == pytest.approx(1.0)


def test_false_positive_ranked_first():
    """Ranked list FP (0.9), TP (0.8), TP (0.7) over 2 ground truths: recall 0, .5, 1 and
    precision 0, 1/2, 2/3, interpolated linearly on the recall grid."""
    far = [30.0, 30.0, -1.8, 4.5, 1.9, 1.6, 0.0, 0, 0]
    gts = [_gt([CAR, CAR2], [0, 0])]
    preds = [_pred([far, CAR, CAR2], [0.9, 0.8, 0.7], [0, 0, 0])]
    res = evaluate_bev_detections(preds, gts, ['car'])
    want = _ap_closed_form([0.0, 0.5, 1.0], [0.0, 0.5, 2 / 3])
    # By hand: levels .11-.50 give p = r, levels .51-1 give p = .5 + (r - .5) / 3:
    # (sum_{k=1}^{40} k/100 + 50 * .4 + sum_{k=1}^{50} k/300) / 90 / .9
    by_hand = (8.2 + 20 + 1275 / 300) / 90 / 0.9
    assert want == pytest.approx(by_hand)
    for d in (0.5, 1.0, 2.0, 4.0):
        assert res['AP']['car'][d] == pytest.approx(by_hand)


def test_false_positive_between_true_positives():
    far = [30.0, 30.0, -1.8, 4.5, 1.9, 1.6, 0.0, 0, 0]
    gts = [_gt([CAR, CAR2], [0, 0])]
    preds = [_pred([CAR, far, CAR2], [0.9, 0.8, 0.7], [0, 0, 0])]
    res = evaluate_bev_detections(preds, gts, ['car'])
    # recall .5, .5, 1 with precision 1, 1/2, 2/3.
    want = _ap_closed_form([0.5, 0.5, 1.0], [1.0, 0.5, 2 / 3])
    assert res['AP']['car'][2.0] == pytest.approx(want)
    assert 0.4 < want < 1.0


def test_duplicate_detection_is_a_false_positive():
    gts = [_gt([CAR], [0])]
    preds = [_pred([CAR, CAR], [0.9, 0.8], [0, 0])]
    res = evaluate_bev_detections(preds, gts, ['car'])
    # Recall reaches 1 at the first detection; the duplicate (a FP at the same recall) sets the
    # precision of the last recall level to 1/2, as in nuScenes: (89 * .9 + .4) / 90 / .9.
    assert res['AP']['car'][2.0] == pytest.approx((89 * 0.9 + 0.4) / 90 / 0.9)
    assert res['AP']['car'][2.0] == pytest.approx(_ap_closed_form([1.0, 1.0], [1.0, 0.5]))
    # Ranked the other way round a miss costs recall: one GT, TP at rank 2 after an FP.
    preds = [_pred([np.add(CAR, [9, 0, 0, 0, 0, 0, 0, 0, 0]), CAR], [0.9, 0.8], [0, 0])]
    res = evaluate_bev_detections(preds, gts, ['car'])
    assert res['AP']['car'][2.0] == pytest.approx(_ap_closed_form([0.0, 1.0], [0.0, 0.5]))


@pytest.mark.parametrize('dyaw, want', [(math.pi / 4, math.pi / 4), (-math.pi / 4, math.pi / 4),
                                        (7 * math.pi / 4, math.pi / 4), (math.pi, math.pi),
                                        (2 * math.pi, 0.0)])
def test_orientation_error(dyaw, want):
    gts = [_gt([CAR], [0])]
    preds = [_pred([np.add(CAR, [0, 0, 0, 0, 0, 0, dyaw, 0, 0])], [0.9], [0])]
    res = evaluate_bev_detections(preds, gts, ['car'])
    assert res['tp_errors']['car']['AOE'] == pytest.approx(want, abs=1e-9)
    assert res['mAOE'] == pytest.approx(want, abs=1e-9)
    assert res['AP']['car'][0.5] == pytest.approx(1.0)  # orientation does not affect AP
    assert res['NDS'] == pytest.approx(0.5 + 0.5 * (3 + 1 - min(1.0, want)) / 4)


def test_scale_and_velocity_errors():
    gt_box = [0.0, 8.0, -1.8, 1.0, 2.0, 3.0, 0.5, 1.0, 2.0]
    pred_box = [0.0, 8.0, -1.5, 2.0, 1.0, 3.0, 0.5, 4.0, 6.0]
    res = evaluate_bev_detections([_pred([pred_box], [0.6], [0])], [_gt([gt_box], [0])], ['car'])
    # Aligned boxes 1x2x3 and 2x1x3: intersection 1x1x3 = 3, union 6 + 6 - 3 = 9.
    assert res['tp_errors']['car']['ASE'] == pytest.approx(1 - 3 / 9)
    assert res['tp_errors']['car']['AVE'] == pytest.approx(5.0)  # |(3, 4)|
    assert res['tp_errors']['car']['ATE'] == pytest.approx(0.0)  # z does not count


def test_tp_errors_are_recall_weighted_running_means():
    """Two TPs with ATE 0.2 (score .9) and 1.0 (score .8), 2 GTs: recall levels .11-.50 see
    the running mean 0.2, level 1.0 sees 0.6 and the levels between interpolate linearly in
    score, which falls linearly with recall between the two detections."""
    gts = [_gt([CAR, CAR2], [0, 0])]
    preds = [_pred([np.add(CAR, [0.2, 0, 0, 0, 0, 0, 0, 0, 0]),
                    np.add(CAR2, [0, 1.0, 0, 0, 0, 0, 0, 0, 0])], [0.9, 0.8], [0, 0])]
    res = evaluate_bev_detections(preds, gts, ['car'])
    levels = [k / 100 for k in range(11, 101)]
    vals = [0.2 if r <= 0.5 else 0.2 + (0.6 - 0.2) * (r - 0.5) / 0.5 for r in levels]
    assert res['tp_errors']['car']['ATE'] == pytest.approx(sum(vals) / len(vals))


def test_empty_predictions_and_missing_classes():
    gts = [_gt([CAR], [0]), _gt([], [])]
    preds = [_pred([], [], []), _pred([], [], [])]
    res = evaluate_bev_detections(preds, gts, CLASSES)
    assert res['AP']['car'] == {0.5: 0.0, 1.0: 0.0, 2.0: 0.0, 4.0: 0.0}
    assert res['tp_errors']['car'] == {'ATE': 1.0, 'ASE': 1.0, 'AOE': 1.0, 'AVE': 1.0}
    # No pedestrian ground truth: left out of the means, not counted as AP 0.
    assert res['evaluated_classes'] == ['car'] and 'pedestrian' not in res['AP']
    assert res['mAP'] == 0.0 and res['NDS'] == 0.0
    # Predictions of a class without ground truth do not change the other classes.
    preds = [_pred([CAR, PED], [0.9, 0.9], [0, 1]), _pred([PED], [0.5], [1])]
    res = evaluate_bev_detections(preds, gts, CLASSES)
    assert res['mAP'] == pytest.approx(1.0) and res['NDS'] == pytest.approx(1.0)
    # Nothing at all to find.
    res = evaluate_bev_detections([_pred([], [], [])], [_gt([], [])], CLASSES)
    assert res['mAP'] == 0.0 and res['NDS'] == 0.0 and res['evaluated_classes'] == []


def test_predictions_only_match_their_own_class_and_sample():
    gts = [_gt([CAR], [0]), _gt([PED], [1])]
    preds = [_pred([PED], [0.9], [1]),  # pedestrian where only a car is: FP
             _pred([CAR], [0.9], [0])]  # a car box in the sample of the pedestrian: FP
    res = evaluate_bev_detections(preds, gts, CLASSES)
    assert res['mAP'] == 0.0


def test_without_velocity_and_ignored_labels_and_range():
    gts = [dict(bboxes_3d=np.array([CAR[:7], PED[:7]]), labels_3d=np.array([0, -1]))]
    preds = [dict(bboxes_3d=torch.tensor([CAR[:7]]), scores_3d=torch.tensor([0.5]),
                  labels_3d=torch.tensor([0]))]
    res = evaluate_bev_detections(preds, gts, CLASSES)
    assert not res['with_velocity'] and math.isnan(res['mAVE'])
    assert res['num_gts'] == {'car': 1, 'pedestrian': 0}
    assert res['NDS'] == pytest.approx(1.0)  # 1/2 mAP + 1/2 mean of the 3 other scores
    # eval_range drops the car (x = 10) from both sides: nothing left.
    res = evaluate_bev_detections(preds, gts, CLASSES, eval_range=[-8, -8, 8, 8])
    assert res['evaluated_classes'] == []


def test_max_detections_per_sample_keeps_the_best():
    gts = [_gt([CAR], [0])]
    far = [[30.0 - i, 30.0, -1.8, 4.5, 1.9, 1.6, 0.0, 0, 0] for i in range(3)]
    preds = [_pred(far + [CAR], [0.1, 0.2, 0.3, 0.9], [0, 0, 0, 0])]
    res = evaluate_bev_detections(preds, gts, ['car'], max_dets_per_sample=1)
    assert res['num_preds']['car'] == 1 and res['AP']['car'][2.0] == pytest.approx(1.0)


@pytest.mark.parametrize('kwargs, exc, word', [
    (dict(preds=[_pred([CAR], [0.5], [0])], gts=[]), ValueError, 'one entry per sample'),
    (dict(preds=[_pred([CAR], [float('nan')], [0])]), ValueError, 'scores_3d'),
    (dict(preds=[_pred([CAR], [0.5], [5])]), ValueError, 'labels_3d'),
    (dict(preds=[dict(bboxes_3d=np.zeros((1, 5)), scores_3d=[0.5], labels_3d=[0])]),
     ValueError, 'bboxes_3d'),
    (dict(preds=[dict(bboxes_3d=np.zeros((2, 7)), scores_3d=[0.5], labels_3d=[0, 0])]),
     ValueError, 'scores_3d'),
    (dict(preds=[dict(bboxes_3d=np.zeros((1, 7)), labels_3d=[0])]), ValueError, 'scores_3d'),
    (dict(tp_threshold=3.0), ValueError, 'tp_threshold'),
    (dict(min_precision=1.0), ValueError, 'min_precision'),
    (dict(class_names='car'), TypeError, 'class_names'),
    (dict(eval_range=[1, 2, 3]), ValueError, 'eval_range'),
])
def test_bad_inputs_raise(kwargs, exc, word):
    args = dict(preds=[_pred([CAR], [0.5], [0])], gts=[_gt([CAR], [0])], class_names=CLASSES)
    args.update(kwargs)
    with pytest.raises(exc, match=word):
        evaluate_bev_detections(**args)


# ------------------------------------------------ the nuScenes devkit as independent reference
def _random_case(rng, classes, num_samples=6):
    preds, gts = [], []
    for _ in range(num_samples):
        n = int(rng.integers(0, 9))
        g = np.zeros((n, 9))
        g[:, :2] = rng.uniform(-25, 25, (n, 2))
        g[:, 2] = -1.8
        g[:, 3:6] = rng.uniform(0.4, 5.0, (n, 3))
        g[:, 6] = rng.uniform(-np.pi, np.pi, n)
        g[:, 7:9] = rng.normal(0, 3, (n, 2))
        gl = rng.integers(0, len(classes), n)
        keep = rng.random(n) < 0.8
        p = g[keep].copy()
        pl = gl[keep].copy()
        m = p.shape[0]
        p[:, :2] += rng.normal(0, 0.8, (m, 2))
        p[:, 3:6] *= rng.uniform(0.7, 1.3, (m, 3))
        p[:, 6] += rng.normal(0, 0.6, m)
        p[:, 7:9] += rng.normal(0, 1.0, (m, 2))
        k = int(rng.integers(0, 5))  # false positives
        fp = np.zeros((k, 9))
        fp[:, :2] = rng.uniform(-25, 25, (k, 2))
        fp[:, 3:6] = rng.uniform(0.4, 5.0, (k, 3))
        fp[:, 6] = rng.uniform(-np.pi, np.pi, k)
        p = np.concatenate([p, fp])
        pl = np.concatenate([pl, rng.integers(0, len(classes), k)])
        preds.append(_pred(p, rng.uniform(0.05, 1.0, p.shape[0]), pl))
        gts.append(_gt(g, gl))
    return preds, gts


def _devkit_boxes(samples, classes, is_pred):
    from nuscenes.eval.common.data_classes import EvalBoxes
    from nuscenes.eval.detection.data_classes import DetectionBox
    from pyquaternion import Quaternion
    out = EvalBoxes()
    for s, item in enumerate(samples):
        boxes = []
        for i, b in enumerate(item['bboxes_3d']):
            q = Quaternion(axis=[0, 0, 1], angle=float(b[6]))
            boxes.append(DetectionBox(
                sample_token=f's{s}', translation=tuple(b[:3]), size=tuple(b[3:6]),
                rotation=tuple(q.elements), velocity=tuple(b[7:9]),
                detection_name=classes[int(item['labels_3d'][i])],
                detection_score=float(item['scores_3d'][i]) if is_pred else -1.0))
        out.add_boxes(f's{s}', boxes)
    return out


@pytest.mark.parametrize('seed', [0, 1, 2, 3])
def test_matches_the_nuscenes_devkit(seed):
    pytest.importorskip('nuscenes')
    from nuscenes.eval.common.utils import center_distance
    from nuscenes.eval.detection.algo import accumulate, calc_ap, calc_tp
    classes = ['car', 'pedestrian', 'barrier', 'traffic_cone']
    rng = np.random.default_rng(seed)
    preds, gts = _random_case(rng, classes)
    res = evaluate_bev_detections(preds, gts, classes)
    gt_boxes = _devkit_boxes(gts, classes, False)
    pred_boxes = _devkit_boxes(preds, classes, True)
    names = {'ATE': 'trans_err', 'ASE': 'scale_err', 'AOE': 'orient_err', 'AVE': 'vel_err'}
    checked = 0
    for c in res['evaluated_classes']:
        for d in (0.5, 1.0, 2.0, 4.0):
            md = accumulate(gt_boxes, pred_boxes, c, center_distance, d)
            assert res['AP'][c][d] == pytest.approx(calc_ap(md, 0.1, 0.1), abs=1e-9)
            if d == 2.0:
                for k, name in names.items():
                    ours = res['tp_errors'][c][k]
                    if math.isnan(ours):
                        assert (c == 'traffic_cone' and k in ('AOE', 'AVE')) or (
                            c == 'barrier' and k == 'AVE')
                        continue
                    assert ours == pytest.approx(calc_tp(md, 0.1, name), abs=1e-9), (c, k)
                    checked += 1
    assert checked >= 6


# ------------------------------------------------ the metric through MMEngine's Evaluator
def _data_sample(pred_boxes, scores, labels, gt_boxes, gt_labels):
    from mmdet3d.structures import Det3DDataSample, LiDARInstance3DBoxes
    from mmengine.structures import InstanceData
    sample = Det3DDataSample()
    pred = InstanceData()
    pred.bboxes_3d = LiDARInstance3DBoxes(torch.tensor(pred_boxes, dtype=torch.float32)
                                          .reshape(-1, 9), box_dim=9)
    pred.scores_3d = torch.tensor(scores, dtype=torch.float32)
    pred.labels_3d = torch.tensor(labels, dtype=torch.long)
    sample.pred_instances_3d = pred
    sample.eval_ann_info = dict(
        gt_bboxes_3d=LiDARInstance3DBoxes(torch.tensor(gt_boxes, dtype=torch.float32)
                                          .reshape(-1, 9), box_dim=9),
        gt_labels_3d=np.asarray(gt_labels, dtype=np.int64))
    return sample


def test_metric_through_the_mmengine_evaluator():
    from mmengine.evaluator import Evaluator
    evaluator = Evaluator(dict(type='bev_losses.BEVDetectionMetric', verbose=False))
    evaluator.dataset_meta = dict(classes=CLASSES)
    shift = [1.5, 0, 0, 0, 0, 0, 0, 0, 0]
    batch1 = [_data_sample([CAR], [0.9], [0], [CAR], [0]),
              _data_sample([np.add(PED, shift).tolist()], [0.8], [1], [PED], [1])]
    batch2 = [_data_sample([], [], [], [CAR2], [0])]
    evaluator.process(batch1)
    evaluator.process(batch2)
    metrics = evaluator.evaluate(3)
    direct = evaluate_bev_detections(
        [_pred([CAR], [0.9], [0]), _pred([np.add(PED, shift)], [0.8], [1]), _pred([], [], [])],
        [_gt([CAR], [0]), _gt([PED], [1]), _gt([CAR2], [0])], CLASSES)
    # car: 1 TP of 2 GTs at every threshold: rec .5, prec 1; pedestrian: TP at 2, 4 m only.
    car_ap = _ap_closed_form([0.5], [1.0])
    assert metrics['bev/AP_car'] == pytest.approx(car_ap)
    assert metrics['bev/AP_pedestrian'] == pytest.approx(0.5)
    assert metrics['bev/mAP'] == pytest.approx((car_ap + 0.5) / 2)
    assert metrics['bev/mAP'] == pytest.approx(direct['mAP'], abs=1e-6)
    assert metrics['bev/NDS'] == pytest.approx(direct['NDS'], abs=1e-6)
    assert metrics['bev/mATE'] == pytest.approx(direct['mATE'], abs=1e-5)
    assert set(metrics) >= {'bev/mAP', 'bev/NDS', 'bev/mATE', 'bev/mASE', 'bev/mAOE',
                            'bev/mAVE', 'bev/mAP_0.5m', 'bev/mAP_4m'}
    assert all(np.isfinite(v) for v in metrics.values())


def test_metric_needs_eval_annotations_and_valid_options():
    from mmdet3d.structures import Det3DDataSample
    metric = BEVDetectionMetric(class_names=CLASSES)
    sample = _data_sample([CAR], [0.9], [0], [CAR], [0])
    bare = Det3DDataSample()
    bare.pred_instances_3d = sample.pred_instances_3d
    with pytest.raises(ValueError, match='eval_ann_info'):
        metric.process({}, [bare.to_dict()])
    with pytest.raises(ValueError, match='tp_threshold'):
        BEVDetectionMetric(tp_threshold=3.0)
    with pytest.raises(ValueError, match='eval_range'):
        BEVDetectionMetric(eval_range=[1, 2, 3])
    assert BEVDetectionMetric(eval_range=[-25.6, -25.6, -3, 25.6, 25.6, 3]).options[
        'eval_range'] == [-25.6, -25.6, 25.6, 25.6]


# ------------------------------------------------ on a real Det3DDataset (nuScenes demo frame)
def test_metric_on_the_nus_bev_dataset_with_ground_truth_as_predictions():
    from pathlib import Path
    real = Path(__file__).resolve().parents[1].parent / 'shared' / 'data' / 'real' / 'nuscenes'
    if not (real / 'nuscenes_infos_demo.pkl').is_file():
        pytest.skip(f'real nuScenes demo frame not found at {real}')
    from mmengine.config import Config
    from mmengine.evaluator import Evaluator
    from mmengine.registry import DATASETS, init_default_scope
    from mmengine.structures import InstanceData
    init_default_scope('mmdet3d')
    cfg = Config.fromfile(str(Path(__file__).resolve().parents[1] / 'configs' / '_base_'
                              / 'datasets' / 'nus_bev.py'))
    cfg.val_dataloader.dataset.update(data_root=str(real), ann_file='nuscenes_infos_demo.pkl',
                                      data_prefix=dict(pts=''))
    dataset = DATASETS.build(cfg.val_dataloader.dataset)
    sample = dataset[0]['data_samples']
    ann = sample.eval_ann_info
    gt_boxes = ann['gt_bboxes_3d']
    labels = np.asarray(ann['gt_labels_3d'])
    assert (labels == -1).any()  # categories outside the 10 classes: ignored by the metric
    half = cfg.point_cloud_range[3]  # the config's square evaluation range
    inside = ((gt_boxes.tensor[:, :2].abs() <= half).all(1)).numpy() & (labels >= 0)
    keep = torch.as_tensor(labels >= 0)
    pred = InstanceData()
    pred.bboxes_3d = gt_boxes[keep]
    pred.scores_3d = torch.linspace(0.9, 0.1, int(keep.sum()))
    pred.labels_3d = torch.as_tensor(labels)[keep]
    sample.pred_instances_3d = pred
    evaluator = Evaluator(cfg.val_evaluator)
    evaluator.dataset_meta = dataset.metainfo
    evaluator.process([sample])
    metrics = evaluator.evaluate(1)
    assert metrics['bev/mAP'] == pytest.approx(1.0) and metrics['bev/NDS'] == pytest.approx(1.0)
    # Only classes with ground truth inside the evaluation range are reported.
    want = {cfg.class_names[k] for k in np.unique(labels[inside])}
    assert {k[len('bev/AP_'):] for k in metrics if k.startswith('bev/AP_')} == want
    assert len(want) >= 2 and inside.sum() < len(inside)
