"""tools/swap_losses.py and bev_losses.convert.

* Every config shipped in the mmdet3d wheel: converted and written; where its model builds here,
  the written file loads back equal, differs from the original exactly at the reported changes,
  builds with the original's ``state_dict`` keys and shapes, holds bev-losses' modules for
  every loss of a type bev-losses provides (except the listed ones no config key reaches), has
  no known trap, and every converted loss gives the original loss's values and gradients on
  probe inputs. The count at the end: 108 of 108 with mmdet3d 1.4.0.
* The rules on small configs: losses under any key, nested and in lists, ``_scope_``; what is
  left alone and why; argument mapping; the fixed heads, the sampling kept as the original
  decided it, ``use_sigmoid`` written out, a head's default losses written out.
* The command line (exit codes, dry run, messages), a user's own Anchor3DHead subclass through
  ``custom_imports`` in fresh processes, and a converted config trained with tools/train.py.
"""
import copy
import functools
import re
import subprocess
import sys
import textwrap

import pytest
import torch

mmdet3d = pytest.importorskip('mmdet3d', reason='the OpenMMLab stack (make setup) is not installed')

from mmengine.config import Config, ConfigDict  # noqa: E402

from bev_losses import convert  # noqa: E402
from bev_losses.convert import (LOSS_MAP, ConversionError, convert_config,  # noqa: E402
                                main, probe_loss_pair, swap_losses, write_config)
from bev_losses.traps import find_traps  # noqa: E402

from _swap_helpers import REPO, build, conversion, mim_configs, shipped_configs  # noqa: E402
from _tool_helpers import (assert_ok, data_options, fast_options,  # noqa: E402
                           make_tiny_dataset, read_scalars, run_tool)

SHIPPED = shipped_configs()
#: rel -> 'converted' | 'does not build here: ...' | 'unreadable: ...' (filled by the tests)
_OUTCOME = {}
#: losses of a type bev-losses provides that no config key reaches (filled by the tests)
_UNREACHABLE = []


def _config_diff(a, b, path=()):
    """``{dotted path: (a, b)}`` of every leaf where two plain config trees differ."""
    missing = object()
    out = {}

    def walk(x, y, p):
        if isinstance(x, dict) and isinstance(y, dict):
            for k in list(x) + [k for k in y if k not in x]:
                walk(x.get(k, missing), y.get(k, missing), p + (k,))
        elif isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)) and len(x) == len(y):
            for i, (u, v) in enumerate(zip(x, y)):
                walk(u, v, p + (i,))
        elif x is missing or y is missing or x != y:
            out['.'.join(map(str, p))] = (None if x is missing else x, None if y is missing else y)

    walk(a, b, tuple(path))
    return out


@functools.lru_cache(maxsize=None)
def _probe(old: str, new: str, scope: str):
    """probe_loss_pair, once per distinct pair (most shipped configs share their loss dicts)."""
    return probe_loss_pair(eval(old), eval(new), scope)  # noqa: S307 - our own repr of dicts


def _absent_as_none(v):
    return None if isinstance(v, type(convert._ABSENT)) else v


@pytest.mark.parametrize('rel', SHIPPED)
def test_shipped_config_converts_builds_and_holds_bev_losses(rel, tmp_path):
    src = mim_configs() / rel
    try:
        conv = conversion(rel)
    except ConversionError as exc:
        _OUTCOME[rel] = f'unreadable: {exc}'
        assert 'cannot be read' in str(exc)
        pytest.skip(f'the config itself cannot be read: {exc}')
    out = write_config(conv, str(tmp_path / 'converted.py'))
    original_dict = Config.fromfile(src).to_dict()
    written = Config.fromfile(out)
    assert written.to_dict() == conv.cfg.to_dict()
    # nothing but the reported changes
    diff = _config_diff(original_dict, written.to_dict())
    assert {c.path: (_absent_as_none(c.old), _absent_as_none(c.new))
            for c in conv.changes} == diff
    assert all(path.startswith('model.') for path in diff)
    try:
        original = build(Config.fromfile(src).model, init=False)
    except Exception as exc:  # noqa: BLE001 - a CUDA-only or missing optional dependency
        _OUTCOME[rel] = f'does not build here: {type(exc).__name__}: {str(exc)[:100]}'
        pytest.skip(f'the original model does not build here: {type(exc).__name__}: {exc}')
    ours = build(written.model, init=False)
    ref, mine = original.state_dict(), ours.state_dict()
    assert list(ref) == list(mine) and all(ref[k].shape == mine[k].shape for k in ref)
    # only bev-losses' modules for the loss types bev-losses provides, except those left alone
    # (an argument bev-losses lacks) and those no config key reaches (built by a head's code)
    alone = {item.path: item.why for item in conv.left_alone}
    written_dict = written.to_dict()
    n_ours = 0
    for name, module in ours.named_modules():
        cls = type(module)
        if f'{cls.__module__}.{cls.__qualname__}' in LOSS_MAP:
            path = f'model.{name}'
            if path in alone:
                assert 'use_mask=True' in alone[path], (path, alone[path])
            else:
                assert convert._get_path(written_dict, path) is None, (path, cls)
                _UNREACHABLE.append(f'{rel}: {name}')
        n_ours += type(module).__module__.startswith('bev_losses.losses')
    assert n_ours > 0
    assert find_traps(ours) == []
    for loss in conv.losses:
        assert _probe(repr(loss.old), repr(loss.new), loss.scope) is None, loss.path
    _OUTCOME[rel] = 'converted'


def test_zz_shipped_configs_count():
    """After the parametrized test: which shipped configs convert and build, and why not."""
    if len(_OUTCOME) < len(SHIPPED):
        pytest.skip('run together with test_shipped_config_converts_builds_and_holds_bev_losses')
    converted = sorted(k for k, v in _OUTCOME.items() if v == 'converted')
    not_built = {k: v for k, v in _OUTCOME.items() if v.startswith('does not build')}
    unreadable = [k for k, v in _OUTCOME.items() if v.startswith('unreadable')]
    assert len(converted) + len(not_built) + len(unreadable) == len(SHIPPED)
    if mmdet3d.__version__ == '1.4.0':
        # the count: every shipped config whose model builds here (all hold a loss
        # of a type bev-losses provides); the others need MinkowskiEngine / torchsparse or
        # pass mmdet 2.x's 'pretrained' argument (nuImages), or miss a _base_ file (mvfcos3d)
        assert len(converted) == 108
        assert unreadable == ['mvfcos3d/multiview-fcos3d_r101-dcn_centerhead_16xb2_waymoD5-3d'
                              '-3class.py']
        reasons = ' '.join(not_built.values())
        assert all(k.split('/')[0] in ('fcaf3d', 'minkunet', 'spvcnn', 'nuimages')
                   for k in not_built), reasons
        # Cylinder3DHead's parent builds a default loss_decode its config cannot set (and its
        # loss does not use: it computes loss_ce and loss_lovasz)
        assert sorted(_UNREACHABLE) == [
            'cylinder3d/cylinder3d_4xb4-3x_semantickitti.py: decode_head.loss_decode',
            'cylinder3d/cylinder3d_8xb2-laser-polar-mix-3x_semantickitti.py: '
            'decode_head.loss_decode']


# --------------------------------------------------------------------------------------------
# The rules, on small configs (converted, not built).

def _convert(model, **top):
    return convert_config(Config(dict(default_scope='mmdet3d', model=model, **top)))


def _changes(conv):
    return {c.path: (_absent_as_none(c.old), _absent_as_none(c.new)) for c in conv.changes}


def _left(conv):
    return {item.path: item.why for item in conv.left_alone}


def test_losses_under_any_key_nested_and_in_lists_are_found_by_type():
    conv = _convert(dict(
        type='NotARegisteredDetector',
        heads=[dict(type='Whatever',
                    semantic_loss=dict(type='mmdet.CrossEntropyLoss', reduction='sum',
                                       loss_weight=0.5)),
               dict(vote_loss=dict(type='mmdet.SmoothL1Loss', beta=0.5, reduction='sum'))],
        deep=dict(deeper=dict(center_loss=dict(type='mmdet.L1Loss'),
                              in_a_tuple=(dict(type='mmdet.MSELoss', loss_weight=2.0),))),
        img_head=dict(_scope_='mmdet', cls_loss=dict(type='FocalLoss', gamma=1.5)),
        match_cost=dict(type='mmdet.FocalLossCost', weight=2.0),      # TASK_UTILS, not a loss
        loss_lookalike=dict(type='mmdet.GIoULoss', loss_weight=2.0)))
    changes = _changes(conv)
    assert changes == {
        'model.heads.0.semantic_loss.type': ('mmdet.CrossEntropyLoss',
                                             'bev_losses.CrossEntropyLoss'),
        'model.heads.0.semantic_loss.mean_convention': (None, 'mmdet'),
        'model.heads.1.vote_loss.type': ('mmdet.SmoothL1Loss', 'bev_losses.SmoothL1Loss'),
        'model.deep.deeper.center_loss.type': ('mmdet.L1Loss', 'bev_losses.L1Loss'),
        'model.deep.deeper.in_a_tuple.0.type': ('mmdet.MSELoss', 'bev_losses.MSELoss'),
        'model.img_head.cls_loss.type': ('FocalLoss', 'bev_losses.FocalLoss'),
        'model.loss_lookalike.type': ('mmdet.GIoULoss', 'bev_losses.GIoULoss'),
    }
    assert isinstance(conv.cfg.model.deep.deeper.in_a_tuple, tuple)
    assert conv.cfg.model.img_head.cls_loss == dict(type='bev_losses.FocalLoss', gamma=1.5)
    assert conv.cfg.model.img_head._scope_ == 'mmdet'
    assert conv.left_alone == []
    for loss in conv.losses:
        assert probe_loss_pair(loss.old, loss.new, loss.scope) is None, loss.path


def test_what_is_left_alone_and_why():
    from mmdet.models.losses import FocalLoss as MMDetFocalLoss
    from mmdet3d.registry import MODELS

    class MyFocal(MMDetFocalLoss):
        pass

    MODELS.register_module(name='MyFocalForSwapTest', module=MyFocal, force=True)
    conv = _convert(dict(
        type='X',
        loss_lovasz=dict(type='LovaszLoss', loss_weight=1.0),
        loss_depth=dict(type='UncertainSmoothL1Loss', alpha=1.0, beta=3.0),
        loss_mask=dict(type='mmdet.CrossEntropyLoss', use_mask=True),
        loss_kd=dict(type='mmdet.KnowledgeDistillationKLDivLoss', T=2),
        loss_sub=dict(type='MyFocalForSwapTest'),
        loss_extra=dict(type='mmdet.SmoothL1Loss', beta=0.1, foo=1),
        loss_bad=dict(type='mmdet.FocalLoss', gamma=-1.0),
        loss_typo=dict(type='mmdet.FocalLos'),
        loss_ours=dict(type='bev_losses.FocalLoss')))
    assert conv.changes == [] and conv.losses == []
    left = _left(conv)
    assert left['model.loss_lovasz'] == 'bev-losses provides no LovaszLoss'
    assert left['model.loss_depth'] == 'bev-losses provides no UncertainSmoothL1Loss'
    assert 'use_mask=True' in left['model.loss_mask']
    assert 'averages the KL divergence over the classes' in left['model.loss_kd']
    assert 'subclass of mmdet.models.losses.focal_loss.FocalLoss' in left['model.loss_sub']
    assert 'no equivalent of foo=1' in left['model.loss_extra']
    assert 'rejects its arguments' in left['model.loss_bad'] and 'gamma' in left['model.loss_bad']
    assert 'not found' in left['model.loss_typo']
    assert 'model.loss_ours' not in left                    # already bev-losses': nothing to say
    assert 'changed: nothing' in conv.report() and 'left alone (8):' in conv.report()


def test_argument_mapping():
    conv = _convert(dict(
        type='X',
        loss_ce=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=False, use_mask=False,
                     ignore_index=None, class_weight=[1.0, 2.0], avg_non_ignore=True),
        loss_bce=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=True, ignore_index=3),
        loss_focal=dict(type='mmdet.FocalLoss', activated=True, alpha=0.5),
        loss_heat=dict(type='mmdet.GaussianFocalLoss', pos_weight=2.0, neg_weight=0.5),
        loss_giou=dict(type='mmdet.GIoULoss', eps=1e-5)))
    model = conv.cfg.model
    assert model.loss_ce == dict(type='bev_losses.CrossEntropyLoss', use_sigmoid=False,
                                 class_weight=[1.0, 2.0], avg_non_ignore=True,
                                 mean_convention='mmdet')
    assert model.loss_bce == dict(type='bev_losses.CrossEntropyLoss', use_sigmoid=True,
                                  ignore_index=3)                 # sigmoid: no mean_convention
    assert model.loss_focal == dict(type='bev_losses.FocalLoss', activated=True, alpha=0.5)
    assert model.loss_heat == dict(type='bev_losses.GaussianFocalLoss', pos_weight=2.0,
                                   neg_weight=0.5)
    assert model.loss_giou == dict(type='bev_losses.GIoULoss', eps=1e-5)
    why = {c.path: c.why for c in conv.changes}
    assert '-100' in why['model.loss_ce.ignore_index']
    assert 'default' in why['model.loss_ce.use_mask']
    for loss in conv.losses:
        assert probe_loss_pair(loss.old, loss.new, loss.scope) is None, loss.path


def test_probes_catch_a_wrong_mapping(monkeypatch):
    # SmoothL1 "mapped" onto L1 would change the values: the check must say so
    wrong = dict(type='bev_losses.L1Loss', loss_weight=1.0)
    assert 'bev-losses gives' in probe_loss_pair(dict(type='mmdet.SmoothL1Loss', beta=0.5),
                                                 wrong)
    # torch's mean instead of mmdet's on a class-weighted softmax CE differs too
    old = dict(type='mmdet.CrossEntropyLoss', class_weight=[0.2, 1.0, 3.0, 1.0, 0.5])
    assert probe_loss_pair(old, dict(old, type='bev_losses.CrossEntropyLoss')) is not None
    assert probe_loss_pair(old, dict(old, type='bev_losses.CrossEntropyLoss',
                                     mean_convention='mmdet')) is None


def _pp_model(**head):
    model = copy.deepcopy(Config.fromfile(
        mim_configs() / 'pointpillars/pointpillars_hv_secfpn_8xb6-160e_kitti-3d-3class.py'
    ).to_dict()['model'])
    model['bbox_head'].update(head)
    return model


def test_anchor_head_becomes_the_fixed_head_and_the_sampling_trap_is_fixed():
    conv = _convert(_pp_model())
    assert conv.cfg.model.bbox_head.type == 'bev_losses.Anchor3DHead'
    assert 'sampling' not in conv.cfg.model.bbox_head and conv.notes == []
    # 'FocalLoss' in mmdet's scope: mmdet3d's string test turns sampling on (with a sampler it
    # builds and divides the focal loss by positives + negatives): the trap is fixed, and said
    model = _pp_model(loss_cls=dict(type='FocalLoss', _scope_='mmdet', use_sigmoid=True))
    model['train_cfg']['sampler'] = dict(type='PseudoSampler')
    conv = _convert(model)
    head = conv.cfg.model.bbox_head
    assert head.type == 'bev_losses.Anchor3DHead' and 'sampling' not in head
    assert len(conv.notes) == 1 and 'anchor_sampling_by_type_string trap' in conv.notes[0]
    built = build(ConfigDict(dict(head, train_cfg=conv.cfg.model.train_cfg)))
    reference = build(ConfigDict(dict(model['bbox_head'], train_cfg=model['train_cfg'])))
    assert reference.sampling is True and built.sampling is False
    assert find_traps(reference) and not find_traps(built)
    # a hand-converted loss in mmdet3d's head (the same trap): the head is swapped too
    conv = _convert(_pp_model(loss_cls=dict(type='bev_losses.FocalLoss')))
    changes = _changes(conv)
    assert changes['model.bbox_head.type'] == ('Anchor3DHead', 'bev_losses.Anchor3DHead')
    assert changes['model.bbox_head.loss_cls.use_sigmoid'] == (None, True)
    assert not any(k.startswith('model.bbox_head.loss_cls.') and k != 'model.bbox_head.loss_cls'
                   '.use_sigmoid' for k in changes)
    # a loss_cls that is not converted: the head stays mmdet3d's
    conv = _convert(_pp_model(loss_cls=dict(type='mmdet.GHMC')))
    assert conv.cfg.model.bbox_head.type == 'Anchor3DHead'
    assert 'model.bbox_head.loss_cls' in _left(conv)


def test_use_sigmoid_written_where_a_head_reads_it_from_the_dict():
    # Anchor3DHead with a focal loss that does not spell it: the original's trap, fixed + noted
    conv = _convert(_pp_model(loss_cls=dict(type='mmdet.FocalLoss', gamma=2.0)))
    assert conv.cfg.model.bbox_head.loss_cls == dict(type='bev_losses.FocalLoss', gamma=2.0,
                                                     use_sigmoid=True)
    assert any('use_sigmoid_from_dict trap' in n for n in conv.notes)
    # PV-RCNN's bbox head with a cross-entropy that does not spell it: written, same value
    rel = 'pv_rcnn/pv_rcnn_8xb2-80e_kitti-3d-3class.py'
    model = Config.fromfile(mim_configs() / rel).to_dict()['model']
    del model['roi_head']['bbox_head']['loss_cls']['use_sigmoid']
    model['roi_head']['semantic_head']['loss_seg'].pop('use_sigmoid')
    conv = _convert(model)
    assert conv.cfg.model.roi_head.bbox_head.loss_cls.use_sigmoid is False
    assert conv.cfg.model.roi_head.semantic_head.loss_seg.use_sigmoid is True
    assert conv.notes and 'ForegroundSegmentationHead' in ' '.join(conv.notes)
    # a head that does not read it: not written
    conv = _convert(dict(type='X', loss_focal=dict(type='mmdet.FocalLoss')))
    assert conv.cfg.model.loss_focal == dict(type='bev_losses.FocalLoss')


def test_a_heads_default_losses_are_written_out_converted():
    rel = 'parta2/parta2_hv_secfpn_8xb2-cyclic-80e_kitti-3d-3class.py'
    model = Config.fromfile(mim_configs() / rel).to_dict()['model']
    for key in ('loss_cls', 'loss_bbox', 'loss_dir'):
        del model['rpn_head'][key]
    conv = _convert(model)
    head = conv.cfg.model.rpn_head
    assert head.type == 'bev_losses.PartA2RPNHead'
    assert head.loss_cls == dict(type='bev_losses.CrossEntropyLoss', use_sigmoid=True,
                                 loss_weight=1.0)
    assert head.loss_bbox == dict(type='bev_losses.SmoothL1Loss', beta=1.0 / 9.0,
                                  loss_weight=2.0)
    assert head.loss_dir == dict(type='bev_losses.CrossEntropyLoss', loss_weight=0.2,
                                 mean_convention='mmdet')
    assert 'from its default' in {c.path: c.why for c in conv.changes}['model.rpn_head.loss_cls']
    assert 'sampling' not in head            # mmdet's CE and ours: a sampler either way


def test_center_head_becomes_bev_losses_center_head_but_not_a_subclass():
    rel = 'centerpoint/centerpoint_pillar02_second_secfpn_8xb4-cyclic-20e_nus-3d.py'
    model = Config.fromfile(mim_configs() / rel).to_dict()['model']
    conv = _convert(copy.deepcopy(model))
    assert conv.cfg.model.pts_bbox_head.type == 'bev_losses.CenterHead'
    # already bev-losses' logits loss in mmdet3d's head (the trap): the head is swapped
    trapped = copy.deepcopy(model)
    trapped['pts_bbox_head']['loss_cls'] = dict(type='bev_losses.GaussianFocalLoss',
                                                activated=False)
    trapped['pts_bbox_head']['loss_bbox']['type'] = 'bev_losses.L1Loss'
    conv = _convert(trapped)
    assert _changes(conv) == {'model.pts_bbox_head.type': ('CenterHead',
                                                           'bev_losses.CenterHead')}
    # a subclass of mmdet3d's CenterHead keeps its type (its own code)
    from mmdet3d.models.dense_heads import CenterHead
    from mmdet3d.registry import MODELS

    class MyCenterHead(CenterHead):
        pass

    MODELS.register_module(name='MyCenterHeadForSwapTest', module=MyCenterHead, force=True)
    sub = copy.deepcopy(model)
    sub['pts_bbox_head']['type'] = 'MyCenterHeadForSwapTest'
    conv = _convert(sub)
    assert conv.cfg.model.pts_bbox_head.type == 'MyCenterHeadForSwapTest', conv.report()
    assert conv.cfg.model.pts_bbox_head.loss_cls.type == 'bev_losses.GaussianFocalLoss', \
        conv.report()


def test_converting_twice_changes_nothing_more():
    conv = conversion('ssn/ssn_hv_secfpn_sbn-all_16xb2-2x_nus-3d.py')
    again = convert_config(conv.cfg)
    assert again.changes == [] and again.cfg.to_dict() == conv.cfg.to_dict()


# --------------------------------------------------------------------------------------------
# The command line.

PP_KITTI = 'pointpillars/pointpillars_hv_secfpn_8xb6-160e_kitti-3d-3class.py'


def test_command_line_writes_a_config_that_loads(tmp_path):
    out = tmp_path / 'pp_bev.py'
    proc = run_tool([str(REPO / 'tools' / 'swap_losses.py'), str(mim_configs() / PP_KITTI),
                     '-o', str(out)], timeout=300)
    assert_ok(proc)
    text = proc.stdout
    assert "model.bbox_head.type: 'Anchor3DHead' -> 'bev_losses.Anchor3DHead'" in text
    assert "model.bbox_head.loss_cls.type: 'mmdet.FocalLoss' -> 'bev_losses.FocalLoss'" in text
    assert re.search(r'the same \d+ state_dict keys and shapes', text)
    assert 'probe inputs: 3 of 3' in text
    assert f'wrote {out}' in text
    cfg = Config.fromfile(out)
    assert cfg.model.bbox_head.loss_dir.type == 'bev_losses.CrossEntropyLoss'
    assert out.read_text().startswith('# Written by tools/swap_losses.py')


def test_main_dry_run_and_errors(tmp_path, capsys):
    out = tmp_path / 'never.py'
    assert main([str(mim_configs() / PP_KITTI), '-o', str(out), '--dry-run']) == 0
    assert not out.exists()
    assert 'dry run: nothing written' in capsys.readouterr().out
    assert main([str(tmp_path / 'missing.py'), '-o', str(out)]) == 1
    assert 'no such config file' in capsys.readouterr().err
    broken = tmp_path / 'broken.py'
    broken.write_text('model = dict(type=\n')
    assert main([str(broken), '-o', str(out)]) == 1
    assert 'cannot be read' in capsys.readouterr().err
    nomodel = tmp_path / 'nomodel.py'
    nomodel.write_text('x = 1\n')
    assert main([str(nomodel), '-o', str(out)]) == 1
    assert 'no model dict' in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main([str(mim_configs() / PP_KITTI)])                 # neither -o nor --dry-run
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main([str(mim_configs() / PP_KITTI), '-o', str(tmp_path / 'x.json')])
    assert exc.value.code == 2
    assert not out.exists()


def test_check_failure_is_an_error_and_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.setitem(LOSS_MAP, 'mmdet.models.losses.smooth_l1_loss.SmoothL1Loss',
                        convert.LossMapping('L1Loss', ('reduction', 'loss_weight'),
                                            drop_if=(('beta', 1.0 / 9.0, 'wrong on purpose'),)))
    out = tmp_path / 'out.py'
    with pytest.raises(ConversionError, match='bev-losses gives'):
        swap_losses(str(mim_configs() / PP_KITTI), str(out))
    assert not out.exists()


USER_HEAD = '''
from mmdet3d.models.dense_heads import Anchor3DHead
from mmdet3d.registry import MODELS


@MODELS.register_module()
class SwapTestUserHead(Anchor3DHead):
    """A user's own anchor head."""
'''


@pytest.mark.slow
def test_user_subclass_through_custom_imports_in_fresh_processes(tmp_path):
    (tmp_path / 'swap_test_user_heads.py').write_text(USER_HEAD)
    src = tmp_path / 'user.py'
    src.write_text(textwrap.dedent(f'''
        _base_ = [{str(mim_configs() / PP_KITTI)!r}]
        custom_imports = dict(imports=['swap_test_user_heads'], allow_failed_imports=False)
        model = dict(bbox_head=dict(type='SwapTestUserHead'))
        '''))
    out = tmp_path / 'user_bev.py'
    proc = _run_with_path([str(REPO / 'tools' / 'swap_losses.py'), str(src), '-o', str(out)],
                          tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "'SwapTestUserHead' -> 'bev_losses.SwapTestUserHead'" in proc.stdout
    code = textwrap.dedent(f'''
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        from mmdet3d.registry import MODELS
        cfg = Config.fromfile({str(out)!r})
        init_default_scope('mmdet3d')
        head = MODELS.build(cfg.model).bbox_head
        print(type(head).__name__, [c.__name__ for c in type(head).__mro__[:3]],
              head.sampling, type(head.loss_cls).__module__)
        ''')
    proc = _run_with_path(['-c', code], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("SwapTestUserHead ['SwapTestUserHead', 'AnchorHeadFixMixin', "
                           "'SwapTestUserHead'] False bev_losses.losses"), last


def _run_with_path(args, folder):
    """Python with ``args`` in a fresh process, the repository and ``folder`` importable."""
    import os
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(folder)]))
    return subprocess.run([sys.executable] + list(args), cwd=str(REPO), env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory):
    return make_tiny_dataset(str(tmp_path_factory.mktemp('tiny_synthetic_swap')))


@pytest.mark.slow
def test_converted_config_trains_with_tools_train(tiny_data, tmp_path):
    """configs/compare/00_mmdet_baseline.py (mmdet3d's CenterHead, mmdet's losses), converted,
    trains two iterations with tools/train.py."""
    out = tmp_path / 'baseline_bev.py'
    conv = swap_losses(str(REPO / 'configs' / 'compare' / '00_mmdet_baseline.py'), str(out))
    assert {c.path for c in conv.changes} == {
        'model.pts_bbox_head.type', 'model.pts_bbox_head.loss_cls.type',
        'model.pts_bbox_head.loss_bbox.type'}
    work = tmp_path / 'work'
    proc = run_tool([str(REPO / 'tools' / 'train.py'), str(out), '--work-dir', str(work),
                     '--cfg-options', *data_options(tiny_data), *fast_options(2)])
    assert_ok(proc)
    train = [r for r in read_scalars(str(work)) if 'loss' in r]
    assert [r['step'] for r in train] == [1, 2]
    assert all(torch.isfinite(torch.tensor(r['loss'])) for r in train)
    assert (work / 'iter_2.pth').is_file()
    saved = torch.load(work / 'iter_2.pth', map_location='cpu', weights_only=False)
    assert 'pts_bbox_head.task_heads.0.heatmap.1.weight' in saved['state_dict']
