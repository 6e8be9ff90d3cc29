"""The ``bev_losses`` registry scope: reachable from any default scope, light to import."""
import subprocess
import sys
import textwrap

import pytest
from mmengine.registry import DefaultScope, init_default_scope

import bev_losses
from bev_losses.registry import MODELS


def _build_in_scope(scope, cfg):
    """Build ``cfg`` from mmengine's root registry with ``scope`` as the default scope."""
    from mmengine.registry import MODELS as ROOT_MODELS
    name = f'test-registry-{scope}'
    if scope is None:
        return ROOT_MODELS.build(cfg)
    with DefaultScope.overwrite_default_scope(scope):
        if not DefaultScope.check_instance_created(name):
            DefaultScope.get_instance(name, scope_name=scope)
        return ROOT_MODELS.build(cfg)


def test_scope_and_parent():
    from mmengine.registry import MODELS as ROOT_MODELS
    assert MODELS.scope == 'bev_losses'
    assert MODELS.parent is ROOT_MODELS
    assert ROOT_MODELS.children['bev_losses'] is MODELS


@pytest.mark.parametrize('scope', ['mmdet3d', 'mmdet', None])
def test_build_from_any_default_scope(scope):
    loss = _build_in_scope(scope, dict(type='bev_losses.L1Loss', loss_weight=0.25))
    assert type(loss).__module__.startswith('bev_losses.')
    assert loss.loss_weight == 0.25


def test_build_through_mmdet3d_registry():
    import mmdet3d.registry
    init_default_scope('mmdet3d')
    loss = mmdet3d.registry.MODELS.build(dict(type='bev_losses.L1Loss'))
    assert type(loss).__name__ == 'L1Loss'
    assert type(loss).__module__.startswith('bev_losses.')


def test_no_name_registered_into_other_packages():
    import mmdet.registry
    import mmdet3d.registry
    for reg in (mmdet.registry.MODELS, mmdet3d.registry.MODELS):
        for name, cls in reg.module_dict.items():
            assert not cls.__module__.startswith('bev_losses'), (reg.scope, name)


def test_import_is_light():
    code = ('import sys, bev_losses; '
            'bad = [m for m in ("mmdet", "mmdet3d", "mmcv.ops") if m in sys.modules]; '
            'print(bad); sys.exit(1 if bad else 0)')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def _run_fresh(code):
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=300)


def test_scope_prefix_without_custom_imports_in_fresh_process():
    """No ``import bev_losses`` anywhere: the ``bev_losses.`` prefix imports the registry."""
    out = _run_fresh("""
        import sys
        from mmengine.registry import init_default_scope
        import mmdet3d.registry
        init_default_scope('mmdet3d')
        assert 'bev_losses' not in sys.modules
        loss = mmdet3d.registry.MODELS.build(dict(type='bev_losses.MSELoss'))
        print(type(loss).__module__)
        """)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().startswith('bev_losses.')


def test_custom_imports_from_config_file(tmp_path):
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text(textwrap.dedent("""
        default_scope = 'mmdet3d'
        custom_imports = dict(imports=['bev_losses'], allow_failed_imports=False)
        loss = dict(type='bev_losses.SmoothL1Loss', beta=0.5, loss_weight=2.0)
        """))
    out = _run_fresh(f"""
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        import mmdet3d.registry
        cfg = Config.fromfile({str(cfg_file)!r})
        init_default_scope(cfg.default_scope)
        loss = mmdet3d.registry.MODELS.build(cfg.loss)
        print(type(loss).__module__, loss.beta, loss.loss_weight)
        """)
    assert out.returncode == 0, out.stderr[-2000:]
    mod, beta, weight = out.stdout.split()
    assert mod.startswith('bev_losses.') and float(beta) == 0.5 and float(weight) == 2.0


def test_unknown_name_is_a_clear_error():
    with pytest.raises(KeyError, match='NoSuchLoss'):
        _build_in_scope('mmdet3d', dict(type='bev_losses.NoSuchLoss'))


def test_version():
    assert isinstance(bev_losses.__version__, str) and bev_losses.__version__.count('.') == 2
