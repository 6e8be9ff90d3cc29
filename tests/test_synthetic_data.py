"""The synthetic LiDAR BEV data set (v3): determinism, geometry, sweeps and motion, objects with a
front, format, loading through mmdet3d's LoadPointsFromMultiSweeps."""
import filecmp
import json
import os
import pickle
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon

from bev_losses.datasets import synthetic as syn
from bev_losses.datasets.synthetic import (POINT_CLOUD_RANGE, SYNTHETIC_CLASSES,
                                           ensure_synthetic_dataset,
                                           generate_synthetic_dataset)

REPO = Path(__file__).resolve().parents[1]


def _load(out_dir, split='train'):
    with open(os.path.join(out_dir, f'synthetic_infos_{split}.pkl'), 'rb') as f:
        return pickle.load(f)


def _rows(a):
    """The rows of a points array in a canonical order (the test pipeline shuffles them)."""
    a = np.asarray(a)
    return a[np.lexsort(a.T[::-1])]


def _points(out_dir, info):
    path = os.path.join(out_dir, info['lidar_points']['lidar_path'])
    return np.fromfile(path, dtype=np.float32).reshape(-1, 5)


def _footprint(box):
    """Shapely BEV polygon of a bottom-centre (x, y, z, dx, dy, dz, yaw) box (own formula)."""
    x, y, _, dx, dy, _, yaw = box
    c, s = np.cos(yaw), np.sin(yaw)
    pts = [(x + c * u - s * v, y + s * u + c * v)
           for u, v in ((dx / 2, dy / 2), (-dx / 2, dy / 2), (-dx / 2, -dy / 2),
                        (dx / 2, -dy / 2))]
    return Polygon(pts)


@pytest.fixture(scope='module')
def small_set(tmp_path_factory):
    out = tmp_path_factory.mktemp('syn')
    generate_synthetic_dataset(str(out), num_train=6, num_val=2, seed=3)
    return str(out)


def test_format_is_mmdet3d_v11(small_set):
    info = _load(small_set)
    meta = info['metainfo']
    assert tuple(meta['classes']) == SYNTHETIC_CLASSES
    assert meta['info_version'] == '1.1' and 'version' in meta
    assert len(info['data_list']) == 6 and len(_load(small_set, 'val')['data_list']) == 2
    for item in info['data_list']:
        assert isinstance(item['sample_idx'], int)
        assert item['lidar_points']['num_pts_feats'] == 5
        assert item['lidar_points']['lidar_path'].startswith('points/')
        pts = _points(small_set, item)
        assert 5000 < pts.shape[0] < 30000
        ring = pts[:, 4]  # the fifth column: the beam of each return, as in nuScenes' files
        assert (ring == np.round(ring)).all() and 0 <= ring.min() and ring.max() < 32
        # the earlier sweeps, nearest first, as mmdet3d's v1.1 nuScenes infos list them
        sweeps = item['lidar_sweeps']
        assert len(sweeps) == syn.NUM_SWEEPS
        for k, sweep in enumerate(sweeps, 1):
            assert sweep['timestamp'] == pytest.approx(item['timestamp'] - k * syn.SWEEP_INTERVAL)
            lp = sweep['lidar_points']
            assert lp['lidar_path'] == f"sweeps/{item['token']}_{k}.bin"
            assert lp['num_pts_feats'] == 5 and np.asarray(lp['lidar2sensor']).shape == (4, 4)
            assert os.path.isfile(os.path.join(small_set, lp['lidar_path']))
        for inst in item['instances']:
            assert len(inst['bbox_3d']) == 7 and len(inst['velocity']) == 2
            assert 0 <= inst['bbox_label_3d'] < len(SYNTHETIC_CLASSES)


def test_same_seed_same_files_other_seed_other_points(small_set, tmp_path):
    again = tmp_path / 'again'
    generate_synthetic_dataset(str(again), num_train=6, num_val=2, seed=3)
    for name in ('synthetic_infos_train.pkl', 'synthetic_infos_val.pkl'):
        assert filecmp.cmp(os.path.join(small_set, name), again / name, shallow=False)
    for folder, n in (('points', 8), ('sweeps', 8 * syn.NUM_SWEEPS)):
        bins = sorted(os.listdir(os.path.join(small_set, folder)))
        assert bins == sorted(os.listdir(again / folder)) and len(bins) == n
        for b in bins:
            assert filecmp.cmp(os.path.join(small_set, folder, b), again / folder / b,
                               shallow=False)
    # Two processes write the same points files and the same infos.
    par = tmp_path / 'parallel'
    generate_synthetic_dataset(str(par), num_train=6, num_val=2, seed=3, workers=2)
    for folder in ('points', 'sweeps'):
        for b in os.listdir(again / folder):
            assert filecmp.cmp(again / folder / b, par / folder / b, shallow=False)
    assert _load(str(par)) == _load(str(again)) and _load(str(par), 'val') == _load(
        str(again), 'val')
    # A frame does not depend on the split sizes.
    fewer = tmp_path / 'fewer'
    generate_synthetic_dataset(str(fewer), num_train=2, num_val=0, seed=3)
    assert filecmp.cmp(os.path.join(small_set, 'points', 'train_00001.bin'),
                       fewer / 'points' / 'train_00001.bin', shallow=False)
    other = tmp_path / 'other'
    generate_synthetic_dataset(str(other), num_train=1, num_val=0, seed=4)
    a = np.fromfile(os.path.join(small_set, 'points', 'train_00000.bin'), np.float32)
    b = np.fromfile(other / 'points' / 'train_00000.bin', np.float32)
    assert a.shape != b.shape or not np.array_equal(a, b)


def test_boxes_and_points_inside_the_range(small_set):
    x0, y0, z0, x1, y1, z1 = POINT_CLOUD_RANGE
    area = shapely.box(x0, y0, x1, y1)
    for split in ('train', 'val'):
        for item in _load(small_set, split)['data_list']:
            pts = _points(small_set, item)
            assert (pts[:, 0] > x0).all() and (pts[:, 0] < x1).all()
            assert (pts[:, 1] > y0).all() and (pts[:, 1] < y1).all()
            assert (pts[:, 2] > z0).all() and (pts[:, 2] < z1).all()
            assert ((pts[:, 3] >= 0) & (pts[:, 3] <= 1)).all()
            for inst in item['instances']:
                box = inst['bbox_3d']
                assert area.contains(_footprint(box))
                assert z0 <= box[2] and box[2] + box[5] <= z1


def test_annotated_boxes_hold_their_points(small_set):
    """num_lidar_pts is the count of points inside the box (shapely, independent of the
    generator's own test), and at least 1; the points above the ground are mostly on objects
    or clutter, a good part of them on the labelled boxes."""
    on_boxes = above = 0
    for item in _load(small_set)['data_list']:
        pts = _points(small_set, item).astype(np.float64)
        assert item['instances'], 'every frame of this seed has objects'
        ground = np.median(pts[:, 2][pts[:, 2] < -1.0])
        high = pts[:, 2] > ground + 0.25
        in_any = np.zeros(len(pts), dtype=bool)
        for inst in item['instances']:
            box = inst['bbox_3d']
            inside_xy = shapely.contains_xy(_footprint(box), pts[:, 0], pts[:, 1])
            inside = inside_xy & (pts[:, 2] >= box[2]) & (pts[:, 2] <= box[2] + box[5])
            assert inst['num_lidar_pts'] == int(inside.sum()) >= 1
            near = shapely.contains_xy(_footprint(box).buffer(0.2), pts[:, 0], pts[:, 1])
            in_any |= near & (pts[:, 2] >= box[2] - 0.2) & (pts[:, 2] <= box[2] + box[5] + 0.2)
        above += int(high.sum())
        on_boxes += int((high & in_any).sum())
    frac = on_boxes / above
    assert 0.25 < frac < 0.98, frac  # labelled objects, and unlabelled clutter too


def test_ray_caster_closed_form():
    """One box on the x axis: the horizontal ray hits its near face; a nearer box occludes it."""
    az = np.array([-np.pi / 2, 0.0, np.pi / 2, np.pi])  # 4 columns, spacing pi/2
    dirs = np.stack([np.cos(az), np.sin(az), np.zeros(4)], -1)[None]  # 1 beam at elevation 0
    t_hit = np.full((1, 4), 60.0)
    hit_id = np.full((1, 4), -1)
    syn._cast_box(t_hit, hit_id, dirs, az, np.array([10.0, 0.0, -1.0, 2.0, 1.0, 2.0, 0.0]), 1)
    assert t_hit[0, 1] == pytest.approx(9.0) and hit_id[0, 1] == 1
    assert hit_id[0, [0, 2, 3]].tolist() == [-1, -1, -1]
    # Rotated by 90 degrees, the box's near face is its half width away.
    t2 = np.full((1, 4), 60.0)
    id2 = np.full((1, 4), -1)
    syn._cast_box(t2, id2, dirs, az, np.array([10.0, 0.0, -1.0, 2.0, 1.0, 2.0, np.pi / 2]), 1)
    assert t2[0, 1] == pytest.approx(9.5)
    # A nearer box in front occludes; a farther one does not overwrite.
    syn._cast_box(t_hit, hit_id, dirs, az, np.array([5.0, 0.0, -1.0, 1.0, 1.0, 2.0, 0.0]), 2)
    syn._cast_box(t_hit, hit_id, dirs, az, np.array([20.0, 0.0, -1.0, 1.0, 1.0, 2.0, 0.0]), 3)
    assert t_hit[0, 1] == pytest.approx(4.5) and hit_id[0, 1] == 2


def test_density_falls_with_range_and_objects_move():
    rng = np.random.default_rng(11)
    near_density, far_density, speeds, headings = [], [], [], []
    for _ in range(3):
        frame = syn.generate_frame(rng)
        pts, instances = frame.points, frame.instances
        r = np.hypot(pts[:, 0], pts[:, 1])
        near_density.append(((r > 5) & (r < 10)).sum() / (np.pi * (10 ** 2 - 5 ** 2)))
        far_density.append(((r > 18) & (r < 23)).sum() / (np.pi * (23 ** 2 - 18 ** 2)))
        for inst in instances:
            v = np.asarray(inst['velocity'])
            speeds.append(np.hypot(*v))
            if speeds[-1] > 0:
                yaw = inst['bbox_3d'][6]
                headings.append(abs(np.cross([np.cos(yaw), np.sin(yaw)], v / speeds[-1])))
    assert np.mean(near_density) > 3 * np.mean(far_density)
    speeds = np.asarray(speeds)
    assert (speeds == 0).any() and (speeds > 1).any()
    assert max(headings) < 1e-9  # moving along the heading


def _local(points, box):
    """Points in the box's frame: (along the heading, across, height above the bottom / dz)."""
    c, s = np.cos(box[6]), np.sin(box[6])
    dx, dy = points[:, 0] - box[0], points[:, 1] - box[1]
    return c * dx + s * dy, -s * dx + c * dy, (points[:, 2] - box[2]) / box[5]


def test_objects_have_a_front():
    """Every class is asymmetric along its heading, so the points tell front from back: the
    tall part (car cabin, cyclist's rider, pedestrian's body) sits behind the low part."""
    rng = np.random.default_rng(3)
    behind = {c: [] for c in SYNTHETIC_CLASSES}
    for _ in range(6):
        frame = syn.generate_frame(rng)
        pts = frame.points.astype(np.float64)
        for inst in frame.instances:
            box = np.asarray(inst['bbox_3d'])
            p = pts[syn._points_in_boxes(pts, box[None], 0.02)[:, 0]]
            if len(p) < 15:
                continue
            along, _, h = _local(p, box)
            high, low = along[h > 0.6], along[h < 0.45]
            if len(high) >= 3 and len(low) >= 3:
                behind[SYNTHETIC_CLASSES[inst['bbox_label_3d']]].append(
                    high.mean() < low.mean())
    for cls, flags in behind.items():
        # (a symmetric object would give 0.5)
        assert len(flags) >= 8 and np.mean(flags) > 0.65, (cls, len(flags), np.mean(flags))
    # the primitives of a box turned by pi are the mirror image: a front, not a symmetry
    box = np.array([10.0, 0.0, -1.8, 4.5, 1.85, 1.6, 0.0])
    flipped = box.copy()
    flipped[6] = np.pi
    a = syn._primitives('car', box)
    b = syn._primitives('car', flipped)
    assert a[1][0] < box[0] < b[1][0]  # the cabin behind the centre, then in front of it


def test_sweeps_follow_the_motion(small_set):
    """Through mmdet3d's LoadPointsFromMultiSweeps (the data config's pipeline): sweep k carries
    the time lag k * SWEEP_INTERVAL, lands in the key LiDAR frame (the ego motion undone: static
    objects keep their points), and shows every moving object where it was then (its box moved
    back along its velocity)."""
    from mmengine.registry import DATASETS, init_default_scope
    init_default_scope('mmdet3d')
    cfg = _dataset_cfg(small_set, 'val')
    cfg.generate_kwargs = dict(num_train=6, num_val=2, seed=3)
    ds = DATASETS.build(cfg)
    infos = _load(small_set, 'val')['data_list']
    lags = [k * syn.SWEEP_INTERVAL for k in range(syn.NUM_SWEEPS + 1)]
    ego_moving = False
    for i, info in enumerate(infos):
        pts = ds[i]['inputs']['points'].numpy().astype(np.float64)
        assert pts.shape[1] == 5
        np.testing.assert_allclose(np.unique(pts[:, 4]), lags, atol=1e-6)
        key = pts[np.abs(pts[:, 4]) < 1e-6]
        np.testing.assert_array_equal(_rows(key[:, :4]), _rows(_points(small_set, info)[:, :4]))
        boxes = np.array([inst['bbox_3d'] for inst in info['instances']])
        vel = np.array([inst['velocity'] for inst in info['instances']])
        moving = np.hypot(vel[:, 0], vel[:, 1]) > 1.0
        ego_moving |= info['ego_velocity'][0] > 1.0
        key_static = syn._points_in_boxes(key, boxes[~moving], 0.05).sum()
        for lag in lags[1:]:
            sweep = pts[np.abs(pts[:, 4] - lag) < 1e-6]
            then = boxes.copy()
            then[:, :2] -= vel * lag
            # where the object was then but is no longer: its points; where it is now but was
            # not then: (almost) none
            in_then = syn._points_in_boxes(sweep, then[moving], 0.05)
            in_now = syn._points_in_boxes(sweep, boxes[moving], 0.05)
            only_then = (in_then & ~in_now).sum()
            only_now = (in_now & ~in_then).sum()
            assert only_then > 5 * only_now + 20, (i, lag, only_then, only_now)
            static = syn._points_in_boxes(sweep, boxes[~moving], 0.05).sum()
            assert 0.8 * key_static < static < 1.25 * key_static, (i, lag, static, key_static)
    assert ego_moving, 'no frame of this seed has a moving ego: pick another seed'


def test_class_imbalance(tmp_path):
    generate_synthetic_dataset(str(tmp_path), num_train=25, num_val=0, seed=0)
    counts = Counter(inst['bbox_label_3d'] for item in _load(str(tmp_path))['data_list']
                     for inst in item['instances'])
    # placed 0.5 / 0.3 / 0.2; the small objects fit and stay visible more often, so among the
    # annotated ones pedestrians lead (about 45 / 30 / 25 % for pedestrian / car / cyclist)
    cyclist = counts[SYNTHETIC_CLASSES.index('cyclist')]
    most = counts.most_common(1)[0][1]
    assert len(counts) == len(SYNTHETIC_CLASSES)  # every class present
    assert min(counts.values()) == cyclist  # the cyclist the rarest ...
    assert 0 < cyclist < 0.7 * most  # ... and well under the most frequent class


def test_ensure_generates_only_when_needed(tmp_path):
    out = str(tmp_path / 'd')
    assert ensure_synthetic_dataset(out, num_train=2, num_val=1, verbose=False) is True
    meta = json.loads((tmp_path / 'd' / 'synthetic_meta.json').read_text())
    assert meta['num_train'] == 2 and meta['num_val'] == 1
    mtime = os.path.getmtime(os.path.join(out, 'synthetic_infos_train.pkl'))
    assert ensure_synthetic_dataset(out, num_train=2, num_val=1, verbose=False) is False
    assert os.path.getmtime(os.path.join(out, 'synthetic_infos_train.pkl')) == mtime
    assert ensure_synthetic_dataset(out, num_train=3, num_val=1, verbose=False) is True
    assert len(_load(out)['data_list']) == 3
    # Info files without our meta file belong to someone else: left alone.
    os.remove(os.path.join(out, 'synthetic_meta.json'))
    assert ensure_synthetic_dataset(out, num_train=5, num_val=1, verbose=False) is False
    assert len(_load(out)['data_list']) == 3


@pytest.mark.parametrize('kwargs, exc, word', [
    (dict(num_train='3'), TypeError, 'num_train'),
    (dict(num_val=-1), ValueError, 'num_val'),
    (dict(seed=1.5), TypeError, 'seed'),
    (dict(objects_per_frame=(5, 2)), ValueError, 'objects_per_frame'),
])
def test_bad_arguments(tmp_path, kwargs, exc, word):
    with pytest.raises(exc, match=word):
        generate_synthetic_dataset(str(tmp_path), **kwargs)


def test_cli_writes_the_data_set(tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location('create_synthetic_data',
                                                  REPO / 'tools' / 'create_synthetic_data.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main(['--out-dir', str(tmp_path), '--num-train', '2', '--num-val', '1', '--seed', '5'])
    assert len(_load(str(tmp_path))['data_list']) == 2
    assert json.loads((tmp_path / 'synthetic_meta.json').read_text())['seed'] == 5


# ---------------------------------------------------------------- through mmdet3d's pipeline
def _dataset_cfg(data_root, split, **extra):
    from mmengine.config import Config
    cfg = Config.fromfile(str(REPO / 'configs' / '_base_' / 'datasets' / 'synthetic_bev.py'))
    loader = cfg.train_dataloader if split == 'train' else cfg.val_dataloader
    ds = loader.dataset
    ds.data_root = str(data_root)
    ds.generate_kwargs = dict(num_train=3, num_val=2, seed=1)
    ds.update(extra)
    return ds


def test_dataset_and_pipeline_read_the_files(tmp_path):
    from mmengine.registry import DATASETS, init_default_scope
    init_default_scope('mmdet3d')
    # auto_generate=True (the config's default) makes the data set on first use.
    train = DATASETS.build(_dataset_cfg(tmp_path, 'train'))
    assert (tmp_path / 'synthetic_infos_train.pkl').is_file() and len(train) == 3
    info = _load(str(tmp_path))['data_list'][0]
    raw = _points(str(tmp_path), info)

    # The test pipeline (no augmentation) returns the file's points (x, y, z, intensity, lag 0)
    # followed by the sweeps', and the annotated boxes.
    val_cfg = _dataset_cfg(tmp_path, 'val')
    val = DATASETS.build(val_cfg)
    vinfo = _load(str(tmp_path), 'val')['data_list'][0]
    sample = val[0]
    pts = sample['inputs']['points'].numpy()
    key = _points(str(tmp_path), vinfo)
    lag0 = pts[:, 4] == 0
    np.testing.assert_array_equal(_rows(pts[lag0, :4]), _rows(key[:, :4]))
    assert len(pts) > len(key)  # and the sweeps' (shuffled in, as in training)
    ann = sample['data_samples'].eval_ann_info
    boxes = ann['gt_bboxes_3d']
    assert boxes.tensor.shape == (len(vinfo['instances']), 9)
    want = np.array([i['bbox_3d'] for i in vinfo['instances']], dtype=np.float32)
    np.testing.assert_allclose(boxes.bottom_center.numpy(), want[:, :3], atol=1e-5)
    np.testing.assert_allclose(boxes.dims.numpy(), want[:, 3:6], atol=1e-5)
    np.testing.assert_allclose(boxes.tensor[:, 7:9].numpy(),
                               np.array([i['velocity'] for i in vinfo['instances']]), atol=1e-5)
    np.testing.assert_array_equal(ann['gt_labels_3d'],
                                  [i['bbox_label_3d'] for i in vinfo['instances']])

    # The train pipeline (augmented) keeps 5 features (the sweeps' too) and LiDAR boxes with
    # velocity.
    tr = train[0]
    n_all = len(raw) + sum(
        os.path.getsize(os.path.join(str(tmp_path), sw['lidar_points']['lidar_path'])) // 20
        for sw in info['lidar_sweeps'])
    assert tr['inputs']['points'].shape[1] == 5
    assert len(raw) < tr['inputs']['points'].shape[0] <= n_all
    assert tr['data_samples'].gt_instances_3d.bboxes_3d.tensor.shape[1] == 9


def test_missing_data_root_names_it(tmp_path):
    from mmengine.registry import DATASETS, init_default_scope
    init_default_scope('mmdet3d')
    missing = tmp_path / 'nowhere'
    with pytest.raises(FileNotFoundError, match='nowhere'):
        DATASETS.build(_dataset_cfg(missing, 'train', auto_generate=False))


# ---------------------------------------------------------------- the nuScenes variant
REAL = REPO.parent / 'shared' / 'data' / 'real' / 'nuscenes'


@pytest.mark.skipif(not (REAL / 'nuscenes_infos_demo.pkl').is_file(),
                    reason=f'real nuScenes demo frame not found at {REAL}')
def test_nus_bev_config_loads_the_real_frame():
    from mmengine.config import Config
    from mmengine.registry import DATASETS, init_default_scope
    init_default_scope('mmdet3d')
    cfg = Config.fromfile(str(REPO / 'configs' / '_base_' / 'datasets' / 'nus_bev.py'))
    assert len(cfg.class_names) == 10 and cfg.metainfo['classes'] == cfg.class_names
    with open(REAL / 'nuscenes_infos_demo.pkl', 'rb') as f:
        info = pickle.load(f)['data_list'][0]
    raw = np.fromfile(REAL / info['lidar_points']['lidar_path'], np.float32).reshape(-1, 5)
    x0, y0, z0, x1, y1, z1 = cfg.point_cloud_range
    in_range = ((raw[:, 0] > x0) & (raw[:, 0] < x1) & (raw[:, 1] > y0) & (raw[:, 1] < y1)
                & (raw[:, 2] > z0) & (raw[:, 2] < z1))
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.dataset.update(data_root=str(REAL), ann_file='nuscenes_infos_demo.pkl',
                              data_prefix=dict(pts=''))
    val = DATASETS.build(cfg.val_dataloader.dataset)
    sample = val[0]
    pts = sample['inputs']['points'].numpy()
    # x, y, z, intensity and the time lag of the in-range points, the key frame first in file
    # order; this demo info lists no sweeps, so (as mmdet3d pads) the key frame stands in for
    # each of the 9 sweeps, without its close points, at lag 0.
    n_key = int(in_range.sum())
    close = (np.abs(raw[:, 0]) < 1.0) & (np.abs(raw[:, 1]) < 1.0)
    want = np.concatenate([raw[in_range][:, :4]] + [raw[in_range & ~close][:, :4]] * 9)
    assert pts.shape == (n_key + 9 * int((in_range & ~close).sum()), 5)
    assert (pts[:, 4] == 0).all()
    np.testing.assert_array_equal(_rows(pts[:, :4]), _rows(want))  # shuffled, as in training
    ann = sample['data_samples'].eval_ann_info
    assert ann['gt_bboxes_3d'].tensor.shape[1] == 9
    assert len(ann['gt_labels_3d']) == sum(i['num_lidar_pts'] > 0 for i in info['instances'])
    train = DATASETS.build(cfg.train_dataloader.dataset)
    tr = train[0]
    assert tr['inputs']['points'].shape[1] == 5
    boxes = tr['data_samples'].gt_instances_3d.bboxes_3d
    assert len(boxes) > 0 and boxes.tensor.shape[1] == 9
    centre = boxes.gravity_center
    assert (centre[:, :2].abs() <= cfg.point_cloud_range[3] + 1e-4).all()
