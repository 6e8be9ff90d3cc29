"""tools/train.py, tools/test.py and tools/dist_train.sh end to end on a tiny synthetic data set.

* a 2-iteration training writes scalars.json (losses and the validation metrics) and checkpoints;
* a bad config (unknown loss type, loss argument of the wrong type, missing data root) stops
  before training with a message naming the key and the bad value;
* a run killed after a checkpoint and resumed with ``--resume`` ends with the same weights,
  losses and metrics as an uninterrupted run with the same seed;
* two CPU processes under torchrun (gloo) give the losses of one process on the same global
  batch where the maths says they must: see ``test_torchrun_two_processes_match_one_process``.
"""
import os.path as osp
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

from _tool_helpers import (CENTERPOINT_CFG, PY, REPO, TOOLS, assert_ok, data_options,
                           fast_options, load_state, make_tiny_dataset, read_scalars, run_tool,
                           tool_env, train_losses)

sys.path.insert(0, str(TOOLS))


def _tool(name):
    """tools/<name>.py as a module (``test`` would otherwise be Python's own test package)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(f'bev_tools_{name}', TOOLS / f'{name}.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory):
    return make_tiny_dataset(str(tmp_path_factory.mktemp('tiny_synthetic')))


def _train_cmd(cfg, work_dir, data_root, extra=()):
    return [str(TOOLS / 'train.py'), cfg, '--work-dir', str(work_dir), '--cfg-options',
            *data_options(data_root), *extra]


@pytest.mark.slow
def test_two_iterations_write_scalars_and_checkpoint(tiny_data, tmp_path):
    work = tmp_path / 'work'
    proc = run_tool(_train_cmd(CENTERPOINT_CFG, work, tiny_data, fast_options(2)))
    assert_ok(proc)
    recs = read_scalars(str(work))
    train = [r for r in recs if 'loss' in r]
    assert [r['step'] for r in train] == [1, 2]
    for r in train:
        assert torch.isfinite(torch.tensor(r['loss']))
        assert 'task0.loss_heatmap' in r and 'task0.loss_bbox' in r
    val = [r for r in recs if 'bev/mAP' in r]
    assert len(val) == 1 and 0.0 <= val[0]['bev/mAP'] <= 1.0
    assert (work / 'iter_2.pth').is_file()
    assert (work / 'last_checkpoint').read_text().strip().endswith('iter_2.pth')


# ----------------------------------------------------------------------------------------------
# bad configs: stopped before training, message naming the key and the value
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize('option, expected', [
    ('model.pts_bbox_head.loss_cls.type=bev_losses.FocalLos',
     ["model.pts_bbox_head.loss_cls.type", "'bev_losses.FocalLos'", 'unknown loss type']),
    ('model.pts_bbox_head.loss_bbox.loss_weight=heavy',
     ['model.pts_bbox_head.loss_bbox.loss_weight', "'heavy'", 'expected a number']),
    ('model.pts_bbox_head.loss_cls.gamma=[2,3]',
     ['model.pts_bbox_head.loss_cls.gamma', '[2, 3]', 'expected a number']),
    ('model.pts_bbox_head.loss_cls.reduction=avg',
     ['model.pts_bbox_head.loss_cls', "'avg'", 'reduction']),
    ('model.pts_bbox_head.loss_bbox.not_an_arg=1',
     ['model.pts_bbox_head.loss_bbox.not_an_arg', 'has no argument']),
])
def test_bad_loss_config_stops_before_training(tiny_data, tmp_path, capsys, option, expected):
    train = _tool('train')
    work = tmp_path / 'work'
    rc = train.main([CENTERPOINT_CFG, '--work-dir', str(work), '--cfg-options',
                     *data_options(tiny_data), option])
    err = capsys.readouterr().err
    assert rc == 2
    for text in expected:
        assert text in err, err
    assert not work.exists()  # nothing started: no log, no checkpoint


def test_missing_data_root_stops_before_training(tmp_path, capsys):
    train = _tool('train')
    missing = str(tmp_path / 'no_such_folder') + '/'
    work = tmp_path / 'work'
    rc = train.main([CENTERPOINT_CFG, '--work-dir', str(work), '--cfg-options',
                     'train_dataloader.dataset.auto_generate=False',
                     f'train_dataloader.dataset.data_root={missing}'])
    err = capsys.readouterr().err
    assert rc == 2
    assert 'train_dataloader.dataset.data_root' in err and repr(missing) in err, err
    assert not work.exists()


def test_missing_ann_file_and_checkpoint_named(tiny_data, tmp_path, capsys):
    test_tool = _tool('test')
    train = _tool('train')
    rc = train.main([CENTERPOINT_CFG, '--work-dir', str(tmp_path / 'w'), '--cfg-options',
                     *data_options(tiny_data), 'val_dataloader.dataset.auto_generate=False',
                     'val_dataloader.dataset.ann_file=nope.pkl'])
    err = capsys.readouterr().err
    assert rc == 2 and 'val_dataloader.dataset.ann_file' in err and "'nope.pkl'" in err, err
    rc = test_tool.main([CENTERPOINT_CFG, str(tmp_path / 'missing.pth'),
                         '--work-dir', str(tmp_path / 'w')])
    err = capsys.readouterr().err
    assert rc == 2 and 'missing.pth' in err


def test_amp_without_cuda_is_a_clear_error(tiny_data, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip('this machine has CUDA: --amp is valid')
    train = _tool('train')
    rc = train.main([CENTERPOINT_CFG, '--amp', '--work-dir', str(tmp_path / 'w'),
                     '--cfg-options', *data_options(tiny_data)])
    assert rc == 2 and '--amp' in capsys.readouterr().err


def test_resume_flag_parsing(tiny_data, tmp_path):
    train = _tool('train')
    args = train.parse_args([CENTERPOINT_CFG, '--resume'])
    cfg = train.build_cfg(args)
    assert cfg.resume is True and cfg.load_from is None
    ckpt = tmp_path / 'x.pth'
    ckpt.write_bytes(b'')
    cfg = train.build_cfg(train.parse_args([CENTERPOINT_CFG, '--resume', str(ckpt)]))
    assert cfg.resume is True and cfg.load_from == str(ckpt)
    cfg = train.build_cfg(train.parse_args([CENTERPOINT_CFG]))
    assert cfg.work_dir == osp.join('./work_dirs', 'centerpoint_synthetic')


# ----------------------------------------------------------------------------------------------
# resume after a kill == uninterrupted
# ----------------------------------------------------------------------------------------------
def _last_ckpt(work) -> str:
    p = work / 'last_checkpoint'
    return p.read_text().strip() if p.is_file() else ''


@pytest.mark.slow
def test_killed_and_resumed_run_equals_uninterrupted_run(tiny_data, tmp_path):
    iters = 8
    opts = fast_options(iters, ckpt_interval=2)
    full, cut = tmp_path / 'full', tmp_path / 'cut'
    assert_ok(run_tool(_train_cmd(CENTERPOINT_CFG, full, tiny_data, opts)))

    # the same run, killed (SIGKILL) as soon as its first checkpoint is written
    proc = subprocess.Popen([PY] + _train_cmd(CENTERPOINT_CFG, cut, tiny_data, opts),
                            cwd=str(REPO), env=tool_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    try:
        while not _last_ckpt(cut) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    killed_at = _last_ckpt(cut)
    assert killed_at, 'the run wrote no checkpoint before it ended'
    assert not killed_at.endswith(f'iter_{iters}.pth'), 'the run finished before the kill'

    resumed = run_tool(_train_cmd(CENTERPOINT_CFG, cut, tiny_data, opts + []) + ['--resume'])
    assert_ok(resumed)
    assert 'Advance dataloader' in resumed.stdout + resumed.stderr

    a = load_state(str(full / f'iter_{iters}.pth'))
    b = load_state(str(cut / f'iter_{iters}.pth'))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f'{k} differs after resume'
    la, lb = train_losses(str(full)), train_losses(str(cut))
    assert sorted(la) == sorted(lb) == list(range(1, iters + 1))
    assert la == lb
    ma = [r for r in read_scalars(str(full)) if 'bev/mAP' in r][-1]
    mb = [r for r in read_scalars(str(cut)) if 'bev/mAP' in r][-1]
    assert {k: v for k, v in ma.items() if k.startswith('bev/')} == \
        {k: v for k, v in mb.items() if k.startswith('bev/')}


# ----------------------------------------------------------------------------------------------
# 2 processes under torchrun == 1 process on the same global batch
# ----------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _same_frame_config(tmp_path, tiny_data) -> str:
    """The CenterPoint config training on copies of ONE frame, without random augmentation.

    With identical samples, the maths says a 2-process run (1 sample per rank, DDP averages the
    two equal gradients) and a 1-process run (2 copies in one batch) must agree: batch-norm sees
    the same mean and (biased) variance for [x, x] as for [x]; CenterHead's losses are sums over
    the batch divided by the number of positives in the batch, equal for [x, x] and [x].
    """
    from mmengine.config import Config
    cfg = Config.fromfile(CENTERPOINT_CFG)
    ds = cfg.train_dataloader.dataset
    ds.data_root = tiny_data.rstrip('/') + '/'
    ds.generate_kwargs = dict(num_train=8, num_val=4, seed=0)
    ds.indices = 1
    ds.pipeline = [
        *cfg.load_points,  # the key frame and its sweeps, as the config loads them
        dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
        dict(type='PointsRangeFilter', point_cloud_range=cfg.point_cloud_range),
        dict(type='ObjectRangeFilter', point_cloud_range=cfg.point_cloud_range),
        dict(type='Pack3DDetInputs', keys=['points', 'gt_bboxes_3d', 'gt_labels_3d']),
    ]
    cfg.train_dataloader.dataset = dict(type='RepeatDataset', times=16, dataset=ds)
    cfg.train_dataloader.sampler = dict(type='DefaultSampler', shuffle=False)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    path = str(tmp_path / 'same_frame.py')
    cfg.dump(path)
    return path


@pytest.mark.slow
def test_torchrun_two_processes_match_one_process(tiny_data, tmp_path):
    """Where the maths says so (identical samples), the losses and weights agree.

    Where it does not (documented in docs/main_job.md): with *different* samples per rank,
    batch-norm normalises each rank's half-batch with its own statistics (torch's SyncBatchNorm
    needs CUDA), and CenterHead divides each rank's loss by that rank's positives, so the DDP
    gradient (mean of per-rank gradients) is not the gradient of the global-batch loss.
    """
    cfg = _same_frame_config(tmp_path, tiny_data)
    iters = 3
    opts = ['--cfg-options', f'train_cfg.max_iters={iters}', 'default_hooks.logger.interval=1',
            f'param_scheduler.0.total_steps={iters}', f'param_scheduler.0.end={iters}',
            f'default_hooks.checkpoint.interval={iters}']
    env = tool_env()
    env['OMP_NUM_THREADS'] = '1'
    one = tmp_path / 'one'
    proc = subprocess.run([PY, str(TOOLS / 'train.py'), cfg, '--work-dir', str(one)] + opts
                          + ['train_dataloader.batch_size=2'], cwd=str(REPO), env=env,
                          capture_output=True, text=True, timeout=600)
    assert_ok(proc)
    two = tmp_path / 'two'
    env2 = dict(env, PYTHON=PY, PORT=str(_free_port()))
    proc = subprocess.run(['bash', str(TOOLS / 'dist_train.sh'), cfg, '2', '--work-dir',
                           str(two)] + opts + ['train_dataloader.batch_size=1'],
                          cwd=str(REPO), env=env2, capture_output=True, text=True, timeout=600)
    assert_ok(proc)
    assert 'gloo' in proc.stdout + proc.stderr or torch.cuda.is_available()

    l1, l2 = train_losses(str(one)), train_losses(str(two))
    assert sorted(l1) == sorted(l2) == list(range(1, iters + 1))
    for step in l1:
        assert l2[step] == pytest.approx(l1[step], rel=1e-4), (step, l1, l2)
    # Weights: the two runs differ only by float rounding (batch-norm over 1 vs 2 copies, the
    # all-reduce). Adam divides each gradient by its running RMS, so a parameter whose gradient
    # is rounding noise can move by up to ~lr per step either way: bound every weight by the
    # summed learning rates, and the bulk of them much tighter.
    lr_sum = sum(r['lr'] for r in read_scalars(str(one)) if 'lr' in r)
    a = load_state(str(one / f'iter_{iters}.pth'))
    b = load_state(str(two / f'iter_{iters}.pth'))
    diffs = []
    for k in a:
        if a[k].is_floating_point():
            d = (a[k] - b[k]).abs()
            assert d.max().item() <= 2 * lr_sum, (k, d.max().item(), lr_sum)
            diffs.append(d.flatten())
    diffs = torch.cat(diffs)
    # (median measured 1.5e-6 with three sweeps of 5-feature points per frame)
    assert diffs.median().item() < 1e-5, diffs.median().item()
