"""A deterministic synthetic LiDAR BEV data set, written in mmdet3d's v1.1 info format.

Every frame is a ray-cast scan of a spinning multi-beam LiDAR at the origin (sensor height
``SENSOR_HEIGHT`` above a flat ground plane), so the points behave like a real sweep: they lie on
the faces visible from the sensor, their density falls with range, nearer objects occlude
farther ones, ranges are noisy and some returns drop out. A scene holds labelled objects of
``SYNTHETIC_CLASSES`` (KITTI's three: car, pedestrian, cyclist) with realistic sizes and a class
imbalance (``CLASS_FREQUENCIES``), built from one or two box primitives each (a car has a
body and a cabin, a cyclist a bike and a rider), moving objects with a velocity along their
heading, and unlabelled clutter (poles, walls, bushes, low boxes) as distractors. Scenes are
busy urban streets: ``OBJECTS_PER_FRAME`` labelled objects in the 38.4 m x 38.4 m range.

Output (``out_dir``)::

    synthetic_infos_train.pkl   dict(metainfo=..., data_list=[...])   (mmdet3d info v1.1)
    synthetic_infos_val.pkl
    points/train_00000.bin      float32 (N, 4): x, y, z, intensity in [0, 1]; LiDAR frame
    points/val_00000.bin
    synthetic_meta.json         the generation arguments (``ensure_synthetic_dataset`` compares)

Each ``data_list`` item::

    dict(sample_idx=int, token=str, timestamp=float,
         lidar_points=dict(num_pts_feats=4, lidar_path='points/train_00000.bin'),
         instances=[dict(bbox_3d=[x, y, z, dx, dy, dz, yaw],   # bottom centre, LiDAR frame
                         bbox_label_3d=int, velocity=[vx, vy],
                         num_lidar_pts=int, bbox_3d_isvalid=True), ...])

Boxes follow mmdet3d's ``LiDARInstance3DBoxes`` convention: ``dx`` is the length along the
heading, ``yaw`` the heading angle from the x axis, ``z`` the bottom of the box. Objects whose
scan has no point inside their box (fully occluded) are not annotated, as nuScenes drops boxes
without LiDAR points from evaluation. Every annotated box lies entirely inside
``POINT_CLOUD_RANGE`` in BEV; the points are cropped to it.

Frames are seeded by ``(seed, split, index)``, so a frame does not depend on the split sizes
and the same arguments write byte-identical files. Only numpy is needed.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import pickle
import tempfile
import time
from dataclasses import dataclass
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

#: Labelled classes, most frequent first (index = ``bbox_label_3d``).
SYNTHETIC_CLASSES: Tuple[str, ...] = ('car', 'pedestrian', 'cyclist')
#: Relative frequency of each class among placed objects (sums to 1). The small objects fit
#: and stay visible more often, so of the annotated boxes about 30 % are cars, 45 % pedestrians,
#: 25 % cyclists: imbalanced (KITTI's training split has 18 cars to 1 cyclist), with enough
#: pedestrians and cyclists per frame for their heading and velocity to be learned in the budget
#: (data v3 had 0.7 / 0.2 / 0.1: cyclist AP 0.38, orientation error 0.71 rad where 0.5 / 0.3 /
#: 0.2 gave 0.58 and 0.53, one seed each; docs/main_job.md).
CLASS_FREQUENCIES: Tuple[float, ...] = (0.5, 0.3, 0.2)
#: Default ``(min, max)`` labelled objects placed per frame (fewer may fit or be visible).
OBJECTS_PER_FRAME: Tuple[int, int] = (36, 52)
#: ``[x_min, y_min, z_min, x_max, y_max, z_max]`` in metres, LiDAR frame.
POINT_CLOUD_RANGE: Tuple[float, ...] = (-19.2, -19.2, -3.0, 19.2, 19.2, 3.0)
#: Height of the sensor above the ground (the ground plane is at ``z = -SENSOR_HEIGHT``).
SENSOR_HEIGHT: float = 1.84
#: Info file names inside ``out_dir``.
TRAIN_INFO_FILE = 'synthetic_infos_train.pkl'
VAL_INFO_FILE = 'synthetic_infos_val.pkl'
META_FILE = 'synthetic_meta.json'
#: Bump when the generator's output changes for the same arguments (forces regeneration).
# 2: three classes, busier scenes; 3: earlier sweeps, ego motion, objects with a front;
# 4: three sweeps 0.15 s apart (were two, 0.1 s), classes 0.5 / 0.3 / 0.2 (were 0.7 / 0.2 / 0.1).
GENERATOR_VERSION = 4
#: Earlier sweeps scanned before every key frame (listed in ``lidar_sweeps``, nearest first).
NUM_SWEEPS: int = 3
#: Seconds between consecutive sweeps. The four scans span 0.45 s, as the ten sweeps (0.05 s
#: apart) of mmdet3d's nuScenes configs do: over 0.2 s a walking pedestrian moves less than a
#: 0.4 m pillar and its motion (and with it its heading) is not visible.
SWEEP_INTERVAL: float = 0.15
#: Seconds between key frames (nuScenes' annotated samples: 2 Hz).
KEY_FRAME_INTERVAL: float = 0.5
#: The ego vehicle drives straight along +x at a speed drawn from this range (m/s) ...
EGO_SPEED_RANGE: Tuple[float, float] = (2.0, 12.0)
#: ... or stands still, with this probability.
EGO_STATIC_PROB: float = 0.3
#: Columns of every points file: x, y, z, intensity, ring (beam index), as nuScenes' files.
NUM_POINT_FEATURES: int = 5
SWEEPS_DIR = 'sweeps'

_SPLIT_CODES = {'train': 0, 'val': 1}


@dataclass(frozen=True)
class _ClassSpec:
    size_mean: Tuple[float, float, float]  # length (dx), width (dy), height (dz) in metres
    size_std: Tuple[float, float, float]
    p_moving: float
    speed_range: Tuple[float, float]  # m/s when moving
    intensity: Tuple[float, float]  # range of the base reflectivity


_CLASS_SPECS: Dict[str, _ClassSpec] = {
    'car': _ClassSpec((4.5, 1.85, 1.6), (0.3, 0.08, 0.1), 0.5, (2.0, 12.0), (0.2, 0.6)),
    'pedestrian': _ClassSpec((0.75, 0.65, 1.75), (0.08, 0.06, 0.1), 0.75, (0.5, 2.0),
                             (0.1, 0.4)),
    'cyclist': _ClassSpec((1.8, 0.65, 1.7), (0.1, 0.05, 0.08), 0.8, (2.5, 7.0), (0.15, 0.5)),
}


def _beam_elevations(num_beams: int) -> np.ndarray:
    """Elevation angles (radians, ``(num_beams,)``), increasing, from -25 to +8 degrees.

    Like a VLP-32C, the beams are concentrated around the horizon (-8 to +2 degrees, where
    the objects of a 25 m range are), sparser towards the ground near the sensor and the sky.
    """
    # Piecewise-linear beam density: a quarter of the beams over [-25, -8], most over [-8, 1.5].
    deg = np.interp(np.linspace(0.0, 1.0, num_beams), [0.0, 0.25, 0.875, 1.0],
                    [-25.0, -8.0, 1.5, 8.0])
    return np.deg2rad(deg)


def _wrap(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2 * np.pi) - np.pi


def _primitives(cls: str, box: np.ndarray) -> List[np.ndarray]:
    """Split an object's box into primitives that approximate its shape, with a front.

    Every labelled class is asymmetric along its heading, so its points tell front from back
    (the heading is observable beyond the 180-degree ambiguity of a box): a car's cabin sits
    towards the rear (long low bonnet in front, short boot behind), a cyclist's rider sits
    over the rear wheel, a pedestrian is a tall body with a low forward part (the leading leg
    of a stride, or a bag carried in front).

    Args:
        cls: class name.
        box: ``(7,)`` bottom-centre box ``x, y, z, dx, dy, dz, yaw``.

    Returns:
        A list of ``(7,)`` bottom-centre boxes with the object's yaw, inside ``box``.
    """
    x, y, z, dx, dy, dz, yaw = box
    c, s = np.cos(yaw), np.sin(yaw)

    def sub(offset_long: float, length: float, w: float, z0: float, h: float) -> np.ndarray:
        return np.array([x + c * offset_long, y + s * offset_long, z + z0, length, w, h, yaw])

    if cls == 'car':  # body over the whole length; cabin over [-0.4, +0.1] of the length
        return [sub(0.0, dx, dy, 0.0, 0.5 * dz),
                sub(-0.15 * dx, 0.5 * dx, 0.92 * dy, 0.5 * dz, 0.5 * dz)]
    if cls == 'cyclist':  # bike over the whole length; rider over [-0.375, -0.025]
        return [sub(0.0, dx, 0.25 * dy, 0.0, 0.55 * dz),
                sub(-0.2 * dx, 0.35 * dx, dy, 0.35 * dz, 0.65 * dz)]
    if cls == 'pedestrian':  # body over [-0.47, +0.03], low forward part over [+0.06, +0.48]
        return [sub(-0.22 * dx, 0.5 * dx, dy, 0.0, dz),
                sub(0.27 * dx, 0.42 * dx, 0.45 * dy, 0.0, 0.5 * dz)]
    return [box.astype(np.float64)]


def _bev_corners(box: np.ndarray) -> np.ndarray:
    """BEV corners ``(4, 2)`` of a ``(7,)`` box."""
    x, y, _, dx, dy, _, yaw = box
    c, s = np.cos(yaw), np.sin(yaw)
    local = np.array([[dx, dy], [dx, -dy], [-dx, -dy], [-dx, dy]]) / 2
    rot = np.array([[c, -s], [s, c]])
    return local @ rot.T + np.array([x, y])


def _sample_objects(rng: np.random.Generator, ground_z: float, num_range: Tuple[int, int],
                    xy_limit: float) -> Tuple[List[np.ndarray], List[int], List[np.ndarray]]:
    """Place non-overlapping labelled objects. Returns boxes, labels, velocities."""
    n_target = int(rng.integers(num_range[0], num_range[1] + 1))
    boxes: List[np.ndarray] = []
    labels: List[int] = []
    vels: List[np.ndarray] = []
    radii: List[float] = []
    probs = np.asarray(CLASS_FREQUENCIES, dtype=np.float64)
    probs = probs / probs.sum()
    attempts = 0
    while len(boxes) < n_target and attempts < n_target * 30:
        attempts += 1
        label = int(rng.choice(len(SYNTHETIC_CLASSES), p=probs))
        cls = SYNTHETIC_CLASSES[label]
        spec = _CLASS_SPECS[cls]
        size = np.maximum(rng.normal(spec.size_mean, spec.size_std),
                          0.5 * np.asarray(spec.size_mean))
        xy = rng.uniform(-xy_limit, xy_limit, size=2)
        if np.hypot(*xy) < 3.0 + size[0] / 2:
            continue
        if cls == 'car' and rng.random() < 0.7:
            # Vehicles mostly follow a street grid.
            yaw = rng.integers(0, 4) * np.pi / 2 + rng.normal(0.0, 0.08)
        else:
            yaw = rng.uniform(-np.pi, np.pi)
        yaw = float(_wrap(np.asarray(yaw)))
        box = np.array([xy[0], xy[1], ground_z, size[0], size[1], size[2], yaw])
        corners = _bev_corners(box)
        if np.abs(corners).max() > xy_limit:
            continue
        radius = 0.5 * float(np.hypot(size[0], size[1]))
        if any(np.hypot(*(xy - b[:2])) < radius + r + 0.3 for b, r in zip(boxes, radii)):
            continue
        if rng.random() < spec.p_moving:
            speed = rng.uniform(*spec.speed_range)
            vel = speed * np.array([np.cos(yaw), np.sin(yaw)])
        else:
            vel = np.zeros(2)
        boxes.append(box)
        labels.append(label)
        vels.append(vel)
        radii.append(radius)
    return boxes, labels, vels


def _sample_clutter(rng: np.random.Generator, ground_z: float, occupied: List[np.ndarray],
                    xy_limit: float) -> Tuple[List[np.ndarray], List[float], List[float]]:
    """Unlabelled distractors. Returns primitive boxes, their intensity and surface jitter."""
    prims: List[np.ndarray] = []
    intens: List[float] = []
    jitter: List[float] = []
    occ = [(b[:2], 0.5 * float(np.hypot(b[3], b[4]))) for b in occupied]

    def free(xy: np.ndarray, r: float) -> bool:
        return np.hypot(*xy) > 2.5 + r and all(
            np.hypot(*(xy - c)) > rr + r + 0.2 for c, rr in occ)

    def place(size: np.ndarray, yaw: float, ins: float, jit: float, lim: float) -> None:
        for _ in range(20):
            xy = rng.uniform(-lim, lim, size=2)
            r = 0.5 * float(np.hypot(size[0], size[1]))
            if free(xy, r):
                prims.append(np.array([xy[0], xy[1], ground_z, *size, yaw]))
                intens.append(ins)
                jitter.append(jit)
                occ.append((xy, r))
                return

    for _ in range(int(rng.integers(3, 9))):  # poles / tree trunks
        d = rng.uniform(0.15, 0.35)
        place(np.array([d, d, rng.uniform(2.5, 5.5)]), rng.uniform(-np.pi, np.pi),
              rng.uniform(0.3, 0.9), 0.01, xy_limit + 3)
    for _ in range(int(rng.integers(0, 3))):  # walls / fences
        yaw = rng.integers(0, 4) * np.pi / 2 + rng.normal(0, 0.05)
        place(np.array([rng.uniform(4.0, 14.0), rng.uniform(0.2, 0.4), rng.uniform(1.0, 2.8)]),
              yaw, rng.uniform(0.05, 0.3), 0.01, xy_limit + 2)
    for _ in range(int(rng.integers(2, 7))):  # bushes: fuzzy surfaces
        place(rng.uniform([0.8, 0.8, 0.6], [2.5, 2.5, 1.6]), rng.uniform(-np.pi, np.pi),
              rng.uniform(0.05, 0.2), 0.15, xy_limit)
    for _ in range(int(rng.integers(0, 4))):  # low boxes (benches, bins, planters)
        place(rng.uniform([0.6, 0.5, 0.4], [2.5, 1.2, 1.1]), rng.uniform(-np.pi, np.pi),
              rng.uniform(0.1, 0.5), 0.02, xy_limit)
    return prims, intens, jitter


def _cast_box(t_hit: np.ndarray, hit_id: np.ndarray, dirs: np.ndarray, az: np.ndarray,
              box: np.ndarray, ident: int) -> None:
    """Intersect the rays with one bottom-centre box and keep the nearest hits, in place.

    Args:
        t_hit: ``(B, A)`` current nearest hit distance per ray (beam, azimuth column).
        hit_id: ``(B, A)`` id of the surface hit (int).
        dirs: ``(B, A, 3)`` unit ray directions from the origin.
        az: ``(A,)`` azimuth of each column, increasing, spacing ``2 pi / A``.
        box: ``(7,)`` box; ``ident``: id written where this box is the nearest hit.
    """
    x, y, z, dx, dy, dz, yaw = box
    num_az = az.shape[0]
    corners = _bev_corners(box)
    centre_az = np.arctan2(y, x)
    rel = _wrap(np.arctan2(corners[:, 1], corners[:, 0]) - centre_az)
    step = 2 * np.pi / num_az
    lo = int(np.floor((centre_az + rel.min() - az[0]) / step)) - 1
    hi = int(np.ceil((centre_az + rel.max() - az[0]) / step)) + 1
    cols = np.arange(lo, hi + 1) % num_az
    d = dirs[:, cols]  # (B, C, 3)
    c, s = np.cos(yaw), np.sin(yaw)
    centre = np.array([x, y, z + dz / 2])
    # Ray origin (0) and direction expressed in the box frame.
    o_local = np.array([-(c * centre[0] + s * centre[1]), -(-s * centre[0] + c * centre[1]),
                        -centre[2]])
    d_local = np.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1],
                        d[..., 2]], axis=-1)
    half = np.array([dx, dy, dz]) / 2
    with np.errstate(divide='ignore', invalid='ignore'):
        inv = 1.0 / d_local
        t1 = (-half - o_local) * inv
        t2 = (half - o_local) * inv
    t_near = np.nanmax(np.minimum(t1, t2), axis=-1)
    t_far = np.nanmin(np.maximum(t1, t2), axis=-1)
    hit = (t_far >= t_near) & (t_near > 0)
    sub_t = t_hit[:, cols]
    sub_id = hit_id[:, cols]
    closer = hit & (t_near < sub_t)
    sub_t[closer] = t_near[closer]
    sub_id[closer] = ident
    t_hit[:, cols] = sub_t
    hit_id[:, cols] = sub_id


def _points_in_boxes(points: np.ndarray, boxes: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """``(N, M)`` bool: point ``n`` inside bottom-centre box ``m`` (expanded by ``margin``)."""
    if boxes.shape[0] == 0:
        return np.zeros((points.shape[0], 0), dtype=bool)
    rel = points[:, None, :3] - boxes[None, :, :3]
    c, s = np.cos(boxes[:, 6]), np.sin(boxes[:, 6])
    lx = c * rel[..., 0] + s * rel[..., 1]
    ly = -s * rel[..., 0] + c * rel[..., 1]
    return ((np.abs(lx) <= boxes[:, 3] / 2 + margin) & (np.abs(ly) <= boxes[:, 4] / 2 + margin)
            & (rel[..., 2] >= -margin) & (rel[..., 2] <= boxes[:, 5] + margin))


class SyntheticSweep(NamedTuple):
    """One earlier sweep of a frame: points in the sensor frame of its own time."""
    points: np.ndarray  #: float32 ``(M, 5)``: x, y, z, intensity, ring (beam index)
    time_lag: float  #: seconds before the key frame (``timestamp - sweep timestamp``)
    sensor2lidar_translation: np.ndarray  #: ``(3,)`` sensor position in the key LiDAR frame


class SyntheticFrame(NamedTuple):
    """A generated key frame with its earlier sweeps (``generate_frame``)."""
    points: np.ndarray  #: float32 ``(N, 5)``: x, y, z, intensity, ring; key LiDAR frame
    instances: List[dict]  #: annotations of the key frame (mmdet3d v1.1 instance dicts)
    sweeps: List[SyntheticSweep]  #: nearest first
    ego_velocity: np.ndarray  #: ``(2,)`` m/s in the key LiDAR frame (the ego drives along +x)


def _scan(rng: np.random.Generator, ground_z: float, prims: Sequence[np.ndarray],
          prim_int: Sequence[float], prim_jit: Sequence[float], num_beams: int,
          num_azimuth: int, range_noise: float, dropout: float) -> np.ndarray:
    """Ray-cast one revolution of the LiDAR at the origin against the ground and ``prims``.

    Returns float32 ``(N, 5)``: x, y, z, intensity, ring (beam index), sensor frame, uncropped.
    """
    elev = _beam_elevations(num_beams) + rng.normal(0.0, np.deg2rad(0.05), size=num_beams)
    az = -np.pi + (np.arange(num_azimuth) + rng.uniform()) * (2 * np.pi / num_azimuth)
    ce = np.cos(elev)[:, None]
    dirs = np.stack([ce * np.cos(az)[None], ce * np.sin(az)[None],
                     np.broadcast_to(np.sin(elev)[:, None], (num_beams, num_azimuth))], -1)
    max_range = 60.0
    with np.errstate(divide='ignore'):
        t_ground = np.where(dirs[..., 2] < 0, ground_z / dirs[..., 2], np.inf)
    t_hit = np.minimum(t_ground, max_range)
    hit_id = np.where(np.isfinite(t_ground) & (t_ground < max_range), 0, -1).astype(np.int64)
    # Ids: 0 ground, 1.. the primitives in order.
    for ident, prim in enumerate(prims, 1):
        _cast_box(t_hit, hit_id, dirs, az, prim, ident)
    ring = np.broadcast_to(np.arange(num_beams)[:, None], hit_id.shape)
    valid = (hit_id >= 0) & (rng.random(hit_id.shape) >= dropout)
    t = t_hit[valid]
    ids = hit_id[valid]
    d = dirs[valid]
    jit_all = np.concatenate([[0.0], np.asarray(prim_jit, dtype=np.float64)])[ids]
    t = t + rng.normal(0.0, range_noise, size=t.shape) + rng.normal(0.0, 1.0, t.shape) * jit_all
    xyz = d * t[:, None]
    int_base = np.concatenate([[0.0], np.asarray(prim_int, dtype=np.float64)])[ids]
    ground_int = rng.uniform(0.02, 0.15, size=t.shape)
    intensity = np.where(ids == 0, ground_int,
                         int_base * rng.uniform(0.8, 1.2, size=t.shape) / (1 + 0.01 * t))
    # A few retro-reflective returns (plates, signs) on objects.
    bright = (ids > 0) & (rng.random(t.shape) < 0.01)
    intensity = np.where(bright, rng.uniform(0.8, 1.0, size=t.shape), intensity)
    return np.concatenate([xyz, np.clip(intensity, 0.0, 1.0)[:, None],
                           ring[valid][:, None].astype(np.float64)], axis=1).astype(np.float32)


def _in_range_mask(xyz: np.ndarray) -> np.ndarray:
    pcr = POINT_CLOUD_RANGE
    return ((xyz[:, 0] > pcr[0]) & (xyz[:, 0] < pcr[3]) & (xyz[:, 1] > pcr[1])
            & (xyz[:, 1] < pcr[4]) & (xyz[:, 2] > pcr[2]) & (xyz[:, 2] < pcr[5]))


def generate_frame(rng: np.random.Generator, num_beams: int = 32, num_azimuth: int = 900,
                   objects_per_frame: Tuple[int, int] = OBJECTS_PER_FRAME,
                   num_sweeps: int = NUM_SWEEPS, sweep_interval: float = SWEEP_INTERVAL,
                   range_noise: float = 0.02, dropout: float = 0.05) -> SyntheticFrame:
    """Generate one scene: the key frame and ``num_sweeps`` earlier sweeps.

    The ego vehicle drives straight along +x at ``EGO_SPEED_RANGE`` (or stands), objects move
    at constant velocity along their heading; sweep ``k`` (``k = 1..num_sweeps``) is scanned
    ``k * sweep_interval`` seconds before the key frame from where the sensor was then, with
    every object moved back along its velocity. The sensor does not rotate between sweeps
    (``sensor2lidar`` is a pure translation; see ``generate_synthetic_dataset``).

    Args:
        rng: the frame's random generator.
        num_beams: LiDAR beams (elevations from -25 to +8 degrees).
        num_azimuth: azimuth steps per revolution.
        objects_per_frame: inclusive range of labelled objects placed (fewer may fit or be
            visible).
        num_sweeps: earlier sweeps scanned (0: the key frame only).
        sweep_interval: seconds between consecutive sweeps.
        range_noise: std of the range noise (metres).
        dropout: probability that a return is lost.

    Returns:
        ``SyntheticFrame``: key-frame points cropped to ``POINT_CLOUD_RANGE``, the instance
        dicts, the sweeps (sensor frame of their time; cropped to the range once moved into
        the key frame) and the ego velocity.
    """
    ground_z = -SENSOR_HEIGHT + float(rng.normal(0.0, 0.03))
    xy_limit = POINT_CLOUD_RANGE[3] - 0.1
    boxes, labels, vels = _sample_objects(rng, ground_z, objects_per_frame, xy_limit)
    clutter, clutter_int, clutter_jit = _sample_clutter(rng, ground_z, boxes, xy_limit)
    obj_int = [rng.uniform(*_CLASS_SPECS[SYNTHETIC_CLASSES[lb]].intensity) for lb in labels]
    ego_speed = 0.0 if rng.random() < EGO_STATIC_PROB else float(rng.uniform(*EGO_SPEED_RANGE))
    ego_vel = np.array([ego_speed, 0.0])

    def scan_at(lag: float) -> Tuple[np.ndarray, np.ndarray]:
        """Points of the scan ``lag`` seconds before the key frame, in that sensor's frame,
        and the sensor position in the key frame."""
        sensor = np.array([-ego_vel[0] * lag, -ego_vel[1] * lag, 0.0])
        prims, p_int, p_jit = [], [], []
        for box, label, vel, ins in zip(boxes, labels, vels, obj_int):
            moved = np.array(box, dtype=np.float64)
            moved[:2] -= vel * lag + sensor[:2]
            for prim in _primitives(SYNTHETIC_CLASSES[label], moved):
                prims.append(prim)
                p_int.append(ins)
                p_jit.append(0.01)
        for prim, ins, jit in zip(clutter, clutter_int, clutter_jit):
            moved = np.array(prim, dtype=np.float64)
            moved[:2] -= sensor[:2]
            prims.append(moved)
            p_int.append(ins)
            p_jit.append(jit)
        pts = _scan(rng, ground_z, prims, p_int, p_jit, num_beams, num_azimuth, range_noise,
                    dropout)
        return pts, sensor

    points, _ = scan_at(0.0)
    points = points[_in_range_mask(points)]
    sweeps: List[SyntheticSweep] = []
    for k in range(1, num_sweeps + 1):
        lag = k * sweep_interval
        pts, sensor = scan_at(lag)
        pts = pts[_in_range_mask(pts[:, :3] + sensor.astype(np.float32))]
        sweeps.append(SyntheticSweep(pts, float(lag), sensor))

    instances: List[dict] = []
    if boxes:
        box_arr = np.stack(boxes)
        counts = _points_in_boxes(points.astype(np.float64), box_arr, 0.0).sum(0)
        for box, label, vel, n in zip(boxes, labels, vels, counts):
            if n < 1:
                continue  # fully occluded or out of the scan: not annotated (as nuScenes)
            instances.append(dict(
                bbox_3d=[float(v) for v in box],
                bbox_label_3d=int(label),
                velocity=[float(v) for v in vel],
                num_lidar_pts=int(n),
                bbox_3d_isvalid=True))
    return SyntheticFrame(points, instances, sweeps, ego_vel)


def _metainfo() -> dict:
    return dict(
        classes=list(SYNTHETIC_CLASSES),
        categories={name: i for i, name in enumerate(SYNTHETIC_CLASSES)},
        dataset='synthetic_bev',
        version='v1.0-synthetic',
        info_version='1.1',
        point_cloud_range=list(POINT_CLOUD_RANGE))


def _generation_args(num_train: int, num_val: int, seed: int, num_beams: int,
                     num_azimuth: int, objects_per_frame: Sequence[int], num_sweeps: int,
                     sweep_interval: float) -> dict:
    return dict(num_train=int(num_train), num_val=int(num_val), seed=int(seed),
                num_beams=int(num_beams), num_azimuth=int(num_azimuth),
                objects_per_frame=[int(v) for v in objects_per_frame],
                num_sweeps=int(num_sweeps), sweep_interval=float(sweep_interval),
                generator_version=GENERATOR_VERSION)


def _atomic_write_bytes(path: str, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=osp.dirname(path), prefix='.tmp_')
    with os.fdopen(fd, 'wb') as f:
        f.write(data)
    os.replace(tmp, path)


def _eye_with_translation(t: Sequence[float]) -> List[List[float]]:
    m = np.eye(4)
    m[:3, 3] = t
    return m.tolist()


def _write_frame(out_dir: str, split: str, i: int, seed: int, num_beams: int,
                 num_azimuth: int, objects_per_frame: Tuple[int, int], num_sweeps: int,
                 sweep_interval: float) -> dict:
    """Generate frame ``i`` of ``split``, write its points files, return its info dict."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, _SPLIT_CODES[split], i]))
    frame = generate_frame(rng, num_beams, num_azimuth, objects_per_frame, num_sweeps,
                           sweep_interval)
    token = f'{split}_{i:05d}'
    rel = f'points/{token}.bin'
    _atomic_write_bytes(osp.join(out_dir, rel), frame.points.tobytes())
    timestamp = float(i) * KEY_FRAME_INTERVAL
    sweeps = []
    for k, sweep in enumerate(frame.sweeps, 1):
        srel = f'{SWEEPS_DIR}/{token}_{k}.bin'
        _atomic_write_bytes(osp.join(out_dir, srel), sweep.points.tobytes())
        t = np.asarray(sweep.sensor2lidar_translation, dtype=np.float64)
        sweeps.append(dict(
            timestamp=timestamp - sweep.time_lag,
            sample_data_token=f'{token}_sweep{k}',
            ego2global=_eye_with_translation(t),
            # mmdet3d's LoadPointsFromMultiSweeps maps the sweep into the key frame with
            # ``p @ lidar2sensor[:3, :3] - lidar2sensor[:3, 3]``; the sensor does not rotate
            # between sweeps, so this inverse of sensor2lidar = (I, t) is exact.
            lidar_points=dict(num_pts_feats=NUM_POINT_FEATURES, lidar_path=srel,
                              lidar2ego=np.eye(4).tolist(),
                              lidar2sensor=_eye_with_translation(-t))))
    return dict(
        sample_idx=i,
        token=token,
        timestamp=timestamp,
        ego2global=np.eye(4).tolist(),
        ego_velocity=[float(v) for v in frame.ego_velocity],
        lidar_points=dict(num_pts_feats=NUM_POINT_FEATURES, lidar_path=rel,
                          lidar2ego=np.eye(4).tolist()),
        lidar_sweeps=sweeps,
        instances=frame.instances)


def _write_frame_star(args) -> dict:
    return _write_frame(*args)


def generate_synthetic_dataset(out_dir: str, num_train: int = 300, num_val: int = 60,
                               seed: int = 0, num_beams: int = 32, num_azimuth: int = 900,
                               objects_per_frame: Sequence[int] = OBJECTS_PER_FRAME,
                               num_sweeps: int = NUM_SWEEPS,
                               sweep_interval: float = SWEEP_INTERVAL,
                               verbose: bool = False, workers: int = 1) -> Dict[str, str]:
    """Write the synthetic train/val splits to ``out_dir`` (overwriting).

    Args:
        out_dir: output folder (created).
        num_train / num_val: frames per split (>= 0).
        seed: base seed; frame ``i`` of a split uses ``SeedSequence([seed, split, i])``.
        num_beams / num_azimuth: LiDAR resolution (rays per scan = product).
        objects_per_frame: ``(min, max)`` labelled objects placed per frame.
        num_sweeps: earlier sweeps per key frame (``lidar_sweeps``, nearest first).
        sweep_interval: seconds between sweeps.
        verbose: print progress.
        workers: processes generating frames in parallel (the files are the same for any
            number).

    Returns:
        ``dict(train=path, val=path)`` of the info files.
    """
    for name, val in (('num_train', num_train), ('num_val', num_val), ('seed', seed),
                      ('num_beams', num_beams), ('num_azimuth', num_azimuth),
                      ('num_sweeps', num_sweeps), ('workers', workers)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)):
            raise TypeError(f'{name} must be an int, got {type(val).__name__} ({val!r})')
    if num_train < 0 or num_val < 0:
        raise ValueError(f'num_train and num_val must be >= 0, got {num_train}, {num_val}')
    if seed < 0:
        raise ValueError(f'seed must be >= 0, got {seed}')
    if num_beams < 1 or num_azimuth < 8:
        raise ValueError(f'num_beams must be >= 1 and num_azimuth >= 8, got {num_beams}, '
                         f'{num_azimuth}')
    if num_sweeps < 0 or workers < 1:
        raise ValueError(f'num_sweeps must be >= 0 and workers >= 1, got {num_sweeps}, '
                         f'{workers}')
    if (isinstance(sweep_interval, bool) or not isinstance(sweep_interval, (int, float))
            or not 0 < sweep_interval < KEY_FRAME_INTERVAL):
        raise ValueError(f'sweep_interval must be a number in (0, {KEY_FRAME_INTERVAL}) s, '
                         f'got {sweep_interval!r}')
    objects_per_frame = tuple(int(v) for v in objects_per_frame)
    if len(objects_per_frame) != 2 or not 0 <= objects_per_frame[0] <= objects_per_frame[1]:
        raise ValueError(f'objects_per_frame must be (min, max) with 0 <= min <= max, got '
                         f'{objects_per_frame}')
    os.makedirs(osp.join(out_dir, 'points'), exist_ok=True)
    os.makedirs(osp.join(out_dir, SWEEPS_DIR), exist_ok=True)
    args = _generation_args(num_train, num_val, seed, num_beams, num_azimuth, objects_per_frame,
                            num_sweeps, sweep_interval)
    paths = {}
    start = time.time()
    pool = None
    if workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context('fork'))
    try:
        for split, num in (('train', num_train), ('val', num_val)):
            jobs = [(out_dir, split, i, seed, num_beams, num_azimuth, objects_per_frame,
                     num_sweeps, float(sweep_interval)) for i in range(num)]
            results = (pool.map(_write_frame_star, jobs, chunksize=4) if pool is not None
                       else map(_write_frame_star, jobs))
            data_list = []
            for i, item in enumerate(results):
                data_list.append(item)
                if verbose and (i + 1) % 50 == 0:
                    print(f'[synthetic] {split}: {i + 1}/{num} frames '
                          f'({time.time() - start:.1f} s)', flush=True)
            info = dict(metainfo=_metainfo(), data_list=data_list)
            path = osp.join(out_dir, TRAIN_INFO_FILE if split == 'train' else VAL_INFO_FILE)
            _atomic_write_bytes(path, pickle.dumps(info, protocol=4))
            paths[split] = path
    finally:
        if pool is not None:
            pool.shutdown()
    # The meta file is written last: its presence marks a complete data set.
    _atomic_write_bytes(osp.join(out_dir, META_FILE),
                        json.dumps(args, indent=2, sort_keys=True).encode())
    if verbose:
        print(f'[synthetic] wrote {num_train} train + {num_val} val frames '
              f'({num_sweeps} earlier sweeps each) to {out_dir} in '
              f'{time.time() - start:.1f} s', flush=True)
    return paths


def read_generation_meta(out_dir: str) -> Optional[dict]:
    """The generation arguments stored in ``out_dir``, or None when absent/unreadable."""
    path = osp.join(out_dir, META_FILE)
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def ensure_synthetic_dataset(out_dir: str, num_train: int = 300, num_val: int = 60,
                             seed: int = 0, num_beams: int = 32, num_azimuth: int = 900,
                             objects_per_frame: Sequence[int] = OBJECTS_PER_FRAME,
                             num_sweeps: int = NUM_SWEEPS,
                             sweep_interval: float = SWEEP_INTERVAL,
                             verbose: bool = True, workers: int = 1) -> bool:
    """Generate the data set in ``out_dir`` unless it is there with the same arguments.

    It (re)generates when an info file is missing, or when ``synthetic_meta.json`` records
    different arguments. A folder holding info files but no meta file is not ours and is left
    alone. Concurrent callers (several ranks of a distributed run) serialise on a lock file, so
    only one generates.

    Returns:
        True when it generated, False when the data set was already there.
    """
    args = _generation_args(num_train, num_val, seed, num_beams, num_azimuth,
                            objects_per_frame, num_sweeps, sweep_interval)
    os.makedirs(out_dir, exist_ok=True)
    lock_path = osp.join(out_dir, '.generate.lock')
    with open(lock_path, 'a') as lock:
        try:
            import fcntl
            fcntl.flock(lock, fcntl.LOCK_EX)
        except (ImportError, OSError):  # pragma: no cover - no locking on this platform
            pass
        have_infos = all(osp.isfile(osp.join(out_dir, f))
                         for f in (TRAIN_INFO_FILE, VAL_INFO_FILE))
        meta = read_generation_meta(out_dir)
        if have_infos and (meta is None or meta == args):
            return False
        generate_synthetic_dataset(out_dir, verbose=verbose, workers=workers, **{
            k: v for k, v in args.items() if k != 'generator_version'})
        return True
