"""Helpers of the converter / fixed-head tests: mmdet3d's shipped configs, converted and built."""
import contextlib
import copy
import functools
import warnings
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / 'shared' / 'data' / 'real'


def mim_configs() -> Path:
    import mmdet3d
    return Path(mmdet3d.__file__).resolve().parent / '.mim' / 'configs'


def shipped_configs():
    """Relative paths of every config shipped in the mmdet3d wheel (``_base_`` excluded)."""
    root = mim_configs()
    return sorted(str(p.relative_to(root)) for p in root.rglob('*.py')
                  if '_base_' not in p.parts and '__pycache__' not in p.parts)


@functools.lru_cache(maxsize=None)
def conversion(rel: str):
    """``bev_losses.convert.convert_config`` of a shipped config (cached: read-only use)."""
    from bev_losses.convert import convert_config
    return convert_config(str(mim_configs() / rel))


@contextlib.contextmanager
def structure_only():
    """Skip torch's parameter initialisation (the values stay uninitialised memory): for tests
    that compare module trees and ``state_dict`` keys / shapes only. 2-3x faster builds."""
    names = [n for n in dir(torch.nn.init) if n.endswith('_') and not n.startswith('_')]
    saved = {n: getattr(torch.nn.init, n) for n in names}
    try:
        for n in names:
            setattr(torch.nn.init, n, lambda tensor, *args, **kwargs: tensor)
        yield
    finally:
        for n, f in saved.items():
            setattr(torch.nn.init, n, f)


def build(model_cfg, seed: int = 0, scope: str = 'mmdet3d', init: bool = True):
    """Build a model / head config in ``scope`` with a fixed seed (warnings silenced).
    ``init=False``: :func:`structure_only`."""
    from mmdet3d.registry import MODELS
    from mmengine.registry import DefaultScope
    torch.manual_seed(seed)
    with warnings.catch_warnings(), (contextlib.nullcontext() if init else structure_only()):
        warnings.simplefilter('ignore')
        with DefaultScope.overwrite_default_scope(scope):
            return MODELS.build(copy.deepcopy(model_cfg))


#: The detector's train_cfg / test_cfg part a head gets (as the detectors inject them).
_CFG_PART = {'bbox_head': None, 'pts_bbox_head': 'pts', 'rpn_head': 'rpn'}


def head_pair(rel: str, *keys: str):
    """(original, converted) of the module at ``model.<keys...>`` of a shipped config, the
    converted one holding the original's weights. A top-level head gets its part of the
    detector's ``train_cfg`` / ``test_cfg`` as the detector would pass it."""
    conv = conversion(rel)
    a, b = conv.original.model, conv.cfg.model
    for k in keys:
        a, b = a[k], b[k]
    a, b = a.copy(), b.copy()
    if len(keys) == 1 and keys[0] in _CFG_PART:
        part = _CFG_PART[keys[0]]
        for which in ('train_cfg', 'test_cfg'):
            whole = conv.original.model.get(which)
            if whole is not None:
                value = whole if part is None else whole.get(part)
                a.setdefault(which, value)
                b.setdefault(which, value)
    original, converted = build(a), build(b, seed=1)
    converted.load_state_dict(original.state_dict())
    return original, converted


def assert_same_losses(actual: dict, expected: dict, rtol=1e-5, atol=1e-7) -> None:
    """Same keys in the same order, each value equal (lists element-wise)."""
    assert list(actual) == list(expected)
    for key, exp in expected.items():
        act = actual[key]
        exps = exp if isinstance(exp, (list, tuple)) else [exp]
        acts = act if isinstance(act, (list, tuple)) else [act]
        assert len(acts) == len(exps), key
        for i, (x, y) in enumerate(zip(acts, exps)):
            torch.testing.assert_close(x.detach(), y.detach(), rtol=rtol, atol=atol,
                                       msg=lambda m, k=key, i=i: f'{k}[{i}]: {m}')
