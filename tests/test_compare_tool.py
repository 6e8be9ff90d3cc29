"""tools/compare_losses.py (bev_losses.compare) end to end on two configs and a broken one, with
a tiny budget and two seeds, two runs side by side.

One scenario, to keep CI time down: the comparison is killed while the second config trains,
then started again with the same arguments. Checked: the first config is not trained again, the
second resumes from its checkpoint, the broken config is reported as failed (naming the bad value)
without stopping the others, and the report (verdicts, differences with intervals), the csv (one
row per config and seed) and the plots are written.
"""
import csv
import json
import os
import signal
import subprocess
import time

import pytest

from _tool_helpers import PY, REPO, TOOLS, data_options, make_tiny_dataset, tool_env

A = str(REPO / 'configs' / 'compare' / '00_mmdet_baseline.py')
B = str(REPO / 'configs' / 'compare' / '03_smooth_l1.py')


def _compare_cmd(configs, work_dir, data_root, iters=4):
    return [PY, str(TOOLS / 'compare_losses.py'), *configs, '--work-dir', str(work_dir),
            '--max-iters', str(iters), '--seeds', '0', '1', '--jobs', '2', '--bootstrap', '50',
            '--cfg-options', *data_options(data_root), 'default_hooks.checkpoint.interval=2',
            'default_hooks.logger.interval=1']


@pytest.mark.slow
def test_compare_survives_failure_and_interruption(tmp_path):
    data = make_tiny_dataset(str(tmp_path / 'data'))
    bad = tmp_path / 'bad_loss.py'
    bad.write_text(f"_base_ = {A!r}\n"
                   "model = dict(pts_bbox_head=dict(loss_cls=dict(type='bev_losses.NoSuchLoss')))\n")
    configs = [A, str(bad), B]
    work = tmp_path / 'cmp'
    b_dir = work / '03_smooth_l1' / 'seed0'
    a_results = [work / '00_mmdet_baseline' / f'seed{s}' / 'results.json' for s in (0, 1)]

    # 1) run until B has written its first checkpoint (A evaluated), then kill the tool and its
    #    children
    proc = subprocess.Popen(_compare_cmd(configs, work, data), cwd=str(REPO), env=tool_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    deadline = time.time() + 900
    try:
        while (not ((b_dir / 'last_checkpoint').is_file()
                    and all(p.is_file() for p in a_results))
               and proc.poll() is None and time.time() < deadline):
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        first_out = proc.communicate()[0]
    assert (b_dir / 'last_checkpoint').is_file(), first_out[-3000:]
    assert not (b_dir / 'results.json').exists(), 'B finished before the interruption'
    assert all(p.is_file() for p in a_results), first_out[-3000:]
    a_mtime = a_results[0].stat().st_mtime
    assert 'iter ' in first_out and 'comparison ETA' in first_out  # progress lines
    assert '2 side by side, 1 thread each' in first_out

    # 2) the same command again: A skipped, B resumed, the broken config reported
    proc = subprocess.run(_compare_cmd(configs, work, data), cwd=str(REPO), env=tool_env(),
                          capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]  # the broken config's runs failed
    assert '00_mmdet_baseline seed 0: done before, skipped' in out
    assert a_results[0].stat().st_mtime == a_mtime
    b_log = (b_dir / 'train.log').read_text()
    assert '--resume' in b_log and 'Advance dataloader' in b_log
    assert 'OMP_NUM_THREADS=1' in b_log
    assert (b_dir / 'results.json').is_file()

    table = (work / 'comparison.md').read_text()
    head = table.split('\n## ')[0]
    assert 'What the comparison found' in head and 'How sure' in head
    assert '2 seeds (0, 1)' in head and '`00_mmdet_baseline`' in head
    assert '00_mmdet_baseline' in table and '03_smooth_l1' in table
    assert 'bad_loss' in table and 'failed' in table and 'bev_losses.NoSuchLoss' in table
    assert 'mmdet.GaussianFocalLoss' in table and 'bev_losses.SmoothL1Loss' in table
    assert 'verdict' in table and '(baseline)' in table
    row_b = next(line for line in table.splitlines() if line.startswith('| 03_smooth_l1 |'))
    assert any(v in row_b for v in ('no difference detected', 'better', 'worse')), row_b
    with open(work / 'comparison.csv') as f:
        rows = list(csv.DictReader(f))
    assert [(r['config'], r['seed'], r['status']) for r in rows] == [
        ('00_mmdet_baseline', '0', 'ok'), ('00_mmdet_baseline', '1', 'ok'),
        ('bad_loss', '0', 'failed'), ('bad_loss', '1', 'failed'),
        ('03_smooth_l1', '0', 'ok'), ('03_smooth_l1', '1', 'ok')]
    for r in rows:
        if r['status'] == 'ok':
            assert 0.0 <= float(r['mAP']) <= 1.0 and 0.0 <= float(r['NDS']) <= 1.0
            assert float(r['final_train_loss']) > 0 and float(r['sec_per_iter']) > 0
    for png in ('loss_curves.png', 'metrics.png', 'bev_scenes.png'):
        data_png = (work / png).read_bytes()
        assert data_png[:8] == b'\x89PNG\r\n\x1a\n' and len(data_png) > 5000, png
    res = json.loads((b_dir / 'results.json').read_text())
    assert res['status'] == 'ok' and 'bev/mAP' in res['metrics'] and res['bootstrap']
    import numpy as np
    boot = np.load(b_dir / 'bootstrap.npz')
    assert boot['metrics'].shape == (50, 6) and int(boot['num_frames']) == 4
    assert (b_dir / 'predictions.npz').is_file()


def test_rescale_schedule_and_defaults():
    from mmengine.config import Config

    from bev_losses.compare import runs as cl
    names = [cl.config_name(c) for c in cl.default_configs()]
    assert names[0] == '00_mmdet_baseline' and names == sorted(names)
    assert not any(n.startswith('_') for n in names)
    cfg = Config(dict(
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=600, val_interval=600),
        param_scheduler=[
            dict(type='LinearLR', by_epoch=False, begin=0, end=50),
            dict(type='CosineAnnealingLR', by_epoch=False, begin=50, end=600, T_max=550),
            dict(type='OneCycleLR', by_epoch=False, total_steps=600, end=600),
            dict(type='MultiStepLR', by_epoch=True, milestones=[8], end=12)],
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=100))))
    cl.rescale_schedule(cfg, 60)
    assert cfg.train_cfg.max_iters == 60 and cfg.train_cfg.val_interval == 60
    s = cfg.param_scheduler
    assert (s[0].begin, s[0].end) == (0, 5)
    assert (s[1].begin, s[1].end, s[1].T_max) == (5, 60, 55)
    assert (s[2].total_steps, s[2].end) == (60, 60)
    assert s[3].end == 12  # epoch-based: untouched
    assert cfg.default_hooks.checkpoint.interval == 60


def test_mean_std_and_loss_description():
    from bev_losses.compare import report, runs as cl
    assert report.mean_std([0.5]) == '0.500'
    assert report.mean_std([0.4, 0.6]) == '0.500 ± 0.141'
    assert report.mean_std([float('nan')]) == '-'
    assert cl.describe_loss(dict(type='bev_losses.FocalLoss', use_sigmoid=False,
                                 loss_weight=2.0)) == 'bev_losses.FocalLoss(use_sigmoid=False, w=2)'


def test_changed_config_discards_the_previous_run(tmp_path):
    from bev_losses.compare import runs as cl
    run_dir = tmp_path / 'run'
    cl.write_run_config(A, str(run_dir), 0, 4, None)
    (run_dir / 'results.json').write_text('{}')
    (run_dir / 'config.py').write_text('# rewritten by the Runner of tools/train.py\n')
    cl.write_run_config(A, str(run_dir), 0, 4, None)  # same request: kept
    assert (run_dir / 'results.json').is_file()
    cl.write_run_config(A, str(run_dir), 0, 6, None)  # other --max-iters: discarded
    assert not (run_dir / 'results.json').exists()
    assert (run_dir / 'config.sha256').is_file()


def test_validation_cache_is_the_same_in_every_process(tmp_path):
    """The cached validation inputs (shuffled points) do not depend on the global random state:
    a comparison continued in a new process scores its runs on the same inputs."""
    import torch

    from bev_losses.compare import evaluate as E
    from bev_losses.compare import runs as cl
    data = make_tiny_dataset(str(tmp_path / 'data'))
    opts = {}
    for item in data_options(data):
        k, v = item.split('=', 1)
        opts[k] = int(v) if v.isdigit() else v
    cfg = cl.write_run_config(A, str(tmp_path / 'run'), 0, 4, opts)
    torch.manual_seed(1)
    a = E.ValCache().get(cfg)
    torch.manual_seed(2)
    state = torch.get_rng_state()
    b = E.ValCache().get(cfg)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's state is left alone
    assert a['num_frames'] == b['num_frames'] == 4
    for x, y in zip(a['batches'], b['batches']):
        for p, q in zip(x['inputs']['points'], y['inputs']['points']):
            assert torch.equal(p, q)
