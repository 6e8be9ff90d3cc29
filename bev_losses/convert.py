"""Convert an mmdet3d config to bev-losses: the library behind ``tools/swap_losses.py``.

:func:`swap_losses` reads a config (its ``_base_`` chain resolved by MMEngine), converts it with
:func:`convert_config`, checks the result with :func:`check_conversion` and writes it::

    from bev_losses.convert import swap_losses
    result = swap_losses('pointpillars_kitti.py', 'pointpillars_kitti_bev.py')
    print(result.report())

What the conversion does, and nothing else:

* every loss module of a type bev-losses provides becomes bev-losses' (:data:`LOSS_MAP`),
  whatever key holds it (``loss_cls``, ``semantic_loss``, ``vote_loss``, inside lists, in any
  nested module): a dict is a loss by the class its ``type`` resolves to in the registry scope
  it is built in (the config's ``default_scope``, ``_scope_`` keys). Losses a head builds from
  its own default arguments (absent from the config) are written out, converted. Arguments
  are mapped so that the values are mmdet's in every call (softmax ``CrossEntropyLoss`` gets
  ``mean_convention='mmdet'``); a loss with an argument bev-losses does not support is left
  alone, and so is every loss type bev-losses does not provide; each with the reason;
* every head with a known trap (:mod:`bev_losses.traps`) whose loss is converted becomes
  bev-losses' fixed head: an mmdet3d ``Anchor3DHead`` descendant becomes
  ``bev_losses.<its name>`` (sampling kept as the original decided it), mmdet3d's
  ``CenterHead`` becomes ``bev_losses.CenterHead``;
* ``use_sigmoid`` is written out in the loss dict a head reads it from
  (:data:`bev_losses.traps.USE_SIGMOID_FROM_DICT`), with the built loss's value.

The check builds the original and the converted model: the ``state_dict`` keys and shapes must
be the same (checkpoints load), no loss of a type bev-losses provides may be left, no known
trap may be left, and every converted loss must give the original loss's value and gradient on
probe inputs (:func:`probe_loss_pair`). A config whose original does not build here (a missing
CUDA-only or optional dependency) is converted and said to be unchecked.

Imports mmdet / mmdet3d when called, not on import.
"""
import argparse
import copy
import inspect
import os
import os.path as osp
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config

__all__ = ['LOSS_MAP', 'NOT_EQUAL', 'Change', 'LeftAlone', 'Conversion', 'ConversionError',
           'convert_config', 'check_conversion', 'swap_losses', 'probe_loss_pair', 'main']


class ConversionError(RuntimeError):
    """A config that cannot be converted (the message says why and what to do)."""


@dataclass(frozen=True)
class LossMapping:
    """How one mmdet loss class maps onto a bev-losses class with the same values."""
    target: str                                  # bev-losses class name
    same: Tuple[str, ...]                        # arguments with the same meaning
    drop_if: Tuple[Tuple[str, Any, str], ...] = ()   # (argument, value, why): dropped
    passthrough: Tuple[str, ...] = ()            # read (and removed) by the head, kept


#: mmdet class (``module.qualname``) -> the bev-losses class with the same values. Exact class
#: only: a subclass may behave differently and is left alone.
LOSS_MAP: Dict[str, LossMapping] = {
    'mmdet.models.losses.focal_loss.FocalLoss': LossMapping(
        'FocalLoss', ('use_sigmoid', 'gamma', 'alpha', 'reduction', 'loss_weight', 'activated')),
    'mmdet.models.losses.cross_entropy_loss.CrossEntropyLoss': LossMapping(
        'CrossEntropyLoss',
        ('use_sigmoid', 'reduction', 'class_weight', 'ignore_index', 'loss_weight',
         'avg_non_ignore'),
        drop_if=(('use_mask', False, "use_mask=False is mmdet's default (bev-losses has no "
                  'mask mode)'),
                 ('ignore_index', None, "ignore_index=None means -100 in mmdet, bev-losses' "
                  'default')),
        passthrough=('bg_cls_weight',)),
    'mmdet.models.losses.smooth_l1_loss.SmoothL1Loss': LossMapping(
        'SmoothL1Loss', ('beta', 'reduction', 'loss_weight')),
    'mmdet.models.losses.smooth_l1_loss.L1Loss': LossMapping(
        'L1Loss', ('reduction', 'loss_weight')),
    'mmdet.models.losses.mse_loss.MSELoss': LossMapping('MSELoss', ('reduction', 'loss_weight')),
    'mmdet.models.losses.gaussian_focal_loss.GaussianFocalLoss': LossMapping(
        'GaussianFocalLoss',
        ('alpha', 'gamma', 'reduction', 'loss_weight', 'pos_weight', 'neg_weight')),
    'mmdet.models.losses.iou_loss.GIoULoss': LossMapping(
        'GIoULoss', ('eps', 'reduction', 'loss_weight')),
}

#: mmdet classes close to a bev-losses class but not equal in value: left alone, with the reason.
NOT_EQUAL: Dict[str, str] = {
    'mmdet.models.losses.kd_loss.KnowledgeDistillationKLDivLoss': (
        'mmdet averages the KL divergence over the classes of each sample before the reduction '
        'and detaches the teacher; bev_losses.KLDivLoss(from_logits=True) reduces over every '
        'element, so with weight, avg_factor or reduction="sum" the values differ (by the '
        'number of classes)'),
}

#: The type strings mmdet3d's Anchor3DHead trains without a sampler (its own test).
_MMDET3D_SAMPLING_FREE_TYPES = ('mmdet.FocalLoss', 'mmdet.GHMC')


@dataclass
class Change:
    """One leaf of the config that the conversion changed."""
    path: str
    old: Any
    new: Any
    why: str = ''

    def __str__(self) -> str:
        old = '(absent)' if self.old is _ABSENT else repr(self.old)
        new = '(removed)' if self.new is _ABSENT else repr(self.new)
        return f'{self.path}: {old} -> {new}' + (f'  ({self.why})' if self.why else '')


@dataclass
class LeftAlone:
    """A loss (or head) the conversion did not change, and why."""
    path: str
    type: str
    why: str

    def __str__(self) -> str:
        return f'{self.path} ({self.type}): {self.why}'


@dataclass
class ConvertedLoss:
    """A converted loss: where, the original and the new config, and the scope it builds in."""
    path: str
    old: dict
    new: dict
    scope: str


class _Absent:
    def __repr__(self) -> str:
        return '(absent)'


_ABSENT = _Absent()


@dataclass
class Conversion:
    """The result of :func:`convert_config` (and of :func:`check_conversion`)."""
    source: Optional[str]
    original: Config
    cfg: Config
    changes: List[Change] = field(default_factory=list)
    left_alone: List[LeftAlone] = field(default_factory=list)
    losses: List[ConvertedLoss] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    checked: Optional[bool] = None     # None: not checked; False: could not be built here
    check_lines: List[str] = field(default_factory=list)
    written: Optional[str] = None

    def report(self) -> str:
        """What changed, what was left alone and why, and the check: the CLI's output."""
        lines = [f'swap_losses: {self.source or "(config)"}']
        lines.append(f'changed ({len(self.changes)}):' if self.changes
                     else 'changed: nothing (no loss of a type bev-losses provides)')
        lines += [f'  {c}' for c in self.changes]
        if self.left_alone:
            lines.append(f'left alone ({len(self.left_alone)}):')
            lines += [f'  {item}' for item in self.left_alone]
        lines += [f'note: {n}' for n in self.notes]
        lines += [f'check: {line}' for line in self.check_lines]
        if self.written:
            lines.append(f'wrote {self.written}')
        return '\n'.join(lines)


# ------------------------------------------------------------------------------ resolution
def _ensure_registered() -> None:
    """Import mmdet3d's (and so mmdet's) modules into their registries, once."""
    from mmdet3d.utils import register_all_modules
    register_all_modules(init_default_scope=False)


def _class_path(cls: type) -> str:
    return f'{cls.__module__}.{cls.__qualname__}'


def _resolve(type_: Any, scope: str) -> Optional[type]:
    """The class ``type_`` builds in ``scope`` (as MMEngine's ``build_from_cfg`` would)."""
    if isinstance(type_, type):
        return type_
    if not isinstance(type_, str):
        return None
    from mmdet3d.registry import MODELS
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        try:
            with MODELS.switch_scope_and_registry(scope) as registry:
                obj = registry.get(type_)
        except Exception:  # noqa: BLE001 - an unknown name is just not a model class here
            return None
    return obj if isinstance(obj, type) else None


def _is_loss_class(cls: type, key: Optional[str] = None) -> bool:
    """A loss module class: it or a base class is defined in a ``losses`` package or a
    ``*_loss`` module (mmdet's, mmdet3d's, bev-losses', most projects') or named ``*Loss``."""
    for c in cls.__mro__[:-1]:
        parts = c.__module__.split('.')
        if 'losses' in parts or any(p.endswith('_loss') for p in parts) \
                or c.__name__.endswith('Loss'):
            return True
    return False


def _bev_class(name: str) -> type:
    import bev_losses.losses as L
    return getattr(L, name)


def _bev_loss_classes() -> Tuple[type, ...]:
    import bev_losses.losses as L
    from bev_losses.losses.base import BaseLoss
    return tuple(c for c in vars(L).values() if isinstance(c, type) and issubclass(c, BaseLoss))


# ------------------------------------------------------------------------------ defaults
def _default_loss_args(cls: type) -> Dict[str, dict]:
    """``{argument: default dict}`` of ``cls.__init__`` (and parents reached via ``**kwargs``)
    whose default is a config dict with a ``type``."""
    found: Dict[str, dict] = {}
    for c in cls.__mro__:
        if '__init__' not in c.__dict__:
            continue
        try:
            params = inspect.signature(c.__dict__['__init__']).parameters
        except (TypeError, ValueError):
            break
        for name, p in params.items():
            if name not in found and isinstance(p.default, dict) and 'type' in p.default:
                found[name] = p.default
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            break
    return found


# ------------------------------------------------------------------------------ conversion
class _Converter:
    def __init__(self, source: Optional[str], root_scope: str) -> None:
        self.source = source
        self.root_scope = root_scope
        self.why: Dict[str, str] = {}
        self.left_alone: List[LeftAlone] = []
        self.losses: List[ConvertedLoss] = []
        self.notes: List[str] = []

    # one loss dict --------------------------------------------------------------------------
    def convert_loss(self, node: dict, cls: type, path: str, scope: str) -> Optional[dict]:
        """The bev-losses dict for ``node`` (a loss of class ``cls``), or ``None`` (left alone)."""
        cpath = _class_path(cls)
        type_name = node['type'] if isinstance(node['type'], str) else cls.__name__
        if cpath not in LOSS_MAP:
            if issubclass(cls, _bev_loss_classes()):
                return None  # already ours
            if cpath in NOT_EQUAL:
                why = NOT_EQUAL[cpath]
            else:
                parents = [_class_path(b) for b in cls.__mro__[1:]]
                sub = next((p for p in parents if p in LOSS_MAP), None)
                why = (f'a subclass of {sub}, which may behave differently: not converted' if sub
                       else f'bev-losses provides no {cls.__name__}')
            self.left_alone.append(LeftAlone(path, type_name, why))
            return None
        mapping = LOSS_MAP[cpath]
        new = {'type': f'bev_losses.{mapping.target}'}
        unsupported = []
        dropped = {}
        for key, value in node.items():
            if key == 'type':
                continue
            why = next((w for k, v, w in mapping.drop_if
                        if k == key and type(value) is type(v) and value == v), None)
            if why is not None:
                dropped[f'{path}.{key}'] = why
            elif key == '_scope_' or key in mapping.same or key in mapping.passthrough:
                new[key] = copy.deepcopy(value)
            else:
                unsupported.append(f'{key}={value!r}')
        if unsupported:
            self.left_alone.append(LeftAlone(
                path, type_name, f'bev_losses.{mapping.target} has no equivalent of '
                f'{", ".join(unsupported)}'))
            return None
        if mapping.target == 'CrossEntropyLoss' and not new.get('use_sigmoid', False):
            new['mean_convention'] = 'mmdet'
            self.why[f'{path}.mean_convention'] = (
                "keeps mmdet's mean for calls without weight/avg_factor; torch's differs with "
                'class_weight or ignored labels')
        # bev-losses must accept the arguments (e.g. a negative gamma raises here)
        probe = {k: v for k, v in new.items()
                 if k not in ('type', '_scope_') and k not in mapping.passthrough}
        try:
            _bev_class(mapping.target)(**probe)
        except Exception as exc:  # noqa: BLE001
            self.left_alone.append(LeftAlone(
                path, type_name, f'bev_losses.{mapping.target} rejects its arguments: '
                f'{type(exc).__name__}: {exc}'))
            return None
        self.why.update(dropped)
        self.losses.append(ConvertedLoss(path, copy.deepcopy(node), copy.deepcopy(new), scope))
        return new

    # the tree -------------------------------------------------------------------------------
    def walk(self, node: Any, path: str, scope: str, key: Optional[str]) -> Any:
        """``node`` converted (a new object where something changed)."""
        if isinstance(node, (list, tuple)):
            items = [self.walk(v, f'{path}.{i}', scope, key) for i, v in enumerate(node)]
            return type(node)(items)
        if not isinstance(node, dict):
            return node
        scope = node.get('_scope_', scope) or scope
        cls = _resolve(node.get('type'), scope) if 'type' in node else None
        if cls is None and 'type' in node and key is not None and 'loss' in str(key).lower():
            self.left_alone.append(LeftAlone(
                path, str(node['type']), f'not found in the registry scope {scope!r} (the '
                'original cannot build it either)'))
            return node
        if cls is not None and _is_loss_class(cls, key):
            new = self.convert_loss(node, cls, path, scope)
            return node if new is None else new
        out = {k: self.walk(v, f'{path}.{k}', scope, k) for k, v in node.items()}
        if cls is not None:
            self.add_default_losses(out, cls, path, scope)
            out = self.fix_head(node, out, cls, path, scope)
        return out

    def add_default_losses(self, out: dict, cls: type, path: str, scope: str) -> None:
        for name, default in _default_loss_args(cls).items():
            if name in out:
                continue
            dcls = _resolve(default['type'], scope)
            if dcls is None or not _is_loss_class(dcls, name):
                continue
            sub = f'{path}.{name}'
            n_left = len(self.left_alone)
            new = self.convert_loss(dict(default), dcls, sub, scope)
            if new is None:
                for item in self.left_alone[n_left:]:
                    item.why += f' (a default of {cls.__name__}, not in the config)'
                continue
            out[name] = new
            self.why[sub] = (f'{cls.__name__} builds this loss from its default '
                             f'{_short(default)}: written out, converted')

    def converted(self, path: str) -> Optional[ConvertedLoss]:
        return next((loss for loss in self.losses if loss.path == path), None)

    def bev_loss_at(self, out: dict, key: str, path: str, scope: str) -> Optional[dict]:
        """The config of the bev-losses loss at ``out[key]``: converted here, or already ours."""
        if self.converted(f'{path}.{key}') is not None:
            return out[key]
        cfg = out.get(key)
        if isinstance(cfg, dict) and 'type' in cfg:
            cls = _resolve(cfg['type'], cfg.get('_scope_', scope))
            if cls is not None and issubclass(cls, _bev_loss_classes()):
                return cfg
        return None

    def fix_head(self, node: dict, out: dict, cls: type, path: str, scope: str) -> dict:
        from bev_losses.traps import is_mmdet3d_anchor_head, use_sigmoid_dict_key
        key = use_sigmoid_dict_key(cls)
        loss_cfg = self.bev_loss_at(out, key, path, scope) if key is not None else None
        if loss_cfg is not None and 'use_sigmoid' not in loss_cfg:
            value = bool(getattr(_build_bev(loss_cfg), 'use_sigmoid', False))
            out[key] = dict(loss_cfg, use_sigmoid=value)
            loss = self.converted(f'{path}.{key}')
            if loss is not None:
                loss.new = dict(loss.new, use_sigmoid=value)
            why = f'{cls.__name__} reads use_sigmoid from this dict, not from the loss'
            if value is not False:
                why += (f'; the original head read False here although the loss is '
                        f'use_sigmoid={value} (the use_sigmoid_from_dict trap): fixed, the '
                        'classifier loses its extra background channel, so checkpoints of '
                        'the original do not load')
                self.notes.append(f'{path}: {why}')
            self.why[f'{path}.{key}.use_sigmoid'] = why
        if is_mmdet3d_anchor_head(cls):
            return self.fix_anchor_head(node, out, cls, path, scope)
        if _class_path(cls) == 'mmdet3d.models.dense_heads.centerpoint_head.CenterHead':
            if any(loss.path.startswith(f'{path}.') for loss in self.losses) or \
                    _is_logits_heatmap(out.get('loss_cls'), scope):
                out = dict(out, type='bev_losses.CenterHead')
                self.why[f'{path}.type'] = (
                    'same arguments and weights; a logits heatmap loss (activated=False) gets '
                    "the logits, not clip_sigmoid's probabilities; takes loss_iou")
                if _is_logits_heatmap(node.get('loss_cls'), scope):
                    self.notes.append(
                        f"{path}: the original fed clip_sigmoid's probabilities to a logits "
                        'heatmap loss (the heatmap_probabilities trap): fixed, its heatmap '
                        'loss values change')
        return out

    def fix_anchor_head(self, node: dict, out: dict, cls: type, path: str, scope: str) -> dict:
        loss_cfg = self.bev_loss_at(out, 'loss_cls', path, scope)
        if loss_cfg is None:
            return out
        from bev_losses.models.anchor3d_head import (fix_anchor_head,
                                                     is_sampling_free_cls_loss)
        from bev_losses.registry import MODELS as BEV_MODELS
        from mmdet3d.registry import MODELS as MMDET3D_MODELS
        # the name the config uses for it (a registered name may differ from the class name)
        name = node['type'].rsplit('.', 1)[-1] if isinstance(node['type'], str) \
            else cls.__name__
        registered = BEV_MODELS.module_dict.get(name)
        if registered is None or getattr(registered, 'bev_losses_fixes', None) is not cls:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                reachable = MMDET3D_MODELS.get(name) is cls
            if not reachable:
                raise ConversionError(
                    f'{path}: {_class_path(cls)} is an Anchor3DHead subclass that bev-losses '
                    f"cannot reach as 'bev_losses.{name}' (mmdet3d's registry has no {name!r} "
                    "for it); call bev_losses.models.fix_anchor_head("
                    f'{cls.__name__}, name={name!r}) in the module that defines it, then '
                    'convert again')
            fix_anchor_head(cls, name=name)
        out = dict(out, type=f'bev_losses.{name}')
        self.why[f'{path}.type'] = (
            f"mmdet3d's {name} decides anchor sampling from the type string of loss_cls and "
            f'use_sigmoid from its dict; bev_losses.{name} decides both from the built loss; '
            'same arguments and weights')
        original = node.get('loss_cls', _default_loss_args(cls).get('loss_cls', {}))
        original_type = original.get('type') if isinstance(original, dict) else None
        original_sampling = original_type not in _MMDET3D_SAMPLING_FREE_TYPES
        ours = not is_sampling_free_cls_loss(_build_bev(out['loss_cls']))
        if 'sampling' not in out and original_sampling and not ours:
            # only possible for a focal-type loss not spelled 'mmdet.FocalLoss': the trap
            self.notes.append(
                f"{path}: the original trained its focal loss with anchor sampling, turned on "
                f"by mmdet3d's type-string test ({original_type!r} is not 'mmdet.FocalLoss'), "
                'which divides the loss by positives + negatives (the '
                'anchor_sampling_by_type_string trap): fixed, no sampler now and the loss '
                'values change (sampling=True on the head would keep them)')
        return out


def _short(d: dict) -> str:
    return 'dict(' + ', '.join(f'{k}={v!r}' for k, v in d.items()) + ')'


def _build_bev(cfg: dict):
    args = {k: v for k, v in cfg.items() if k not in ('type', '_scope_', 'bg_cls_weight')}
    return _bev_class(cfg['type'].split('.', 1)[1])(**args)


def _is_logits_heatmap(cfg: Any, scope: str) -> bool:
    if not isinstance(cfg, dict) or 'type' not in cfg:
        return False
    cls = _resolve(cfg['type'], scope)
    from bev_losses.losses import GaussianFocalLoss
    return (cls is not None and issubclass(cls, GaussianFocalLoss)
            and cfg.get('activated', True) is False)


def _diff(a: Any, b: Any, path: str) -> Iterator[Tuple[str, Any, Any]]:
    """``(path, old, new)`` for every leaf where two config trees differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            yield from _diff(a.get(key, _ABSENT), b.get(key, _ABSENT), f'{path}.{key}')
    elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            yield from _diff(x, y, f'{path}.{i}')
    elif a is _ABSENT or b is _ABSENT or type(a) is not type(b) or a != b:
        yield path, a, b


def _why_for(why: Dict[str, str], path: str) -> str:
    while path:
        if path in why:
            return why[path]
        if '.' not in path:
            break
        path = path.rsplit('.', 1)[0]
    return ''


def convert_config(cfg: Any) -> Conversion:
    """Convert a config (a path or a :class:`Config`); nothing is built or written.

    Raises:
        ConversionError: a head that must become bev-losses' fixed head cannot be reached.
    """
    source = None
    if not isinstance(cfg, Config):
        source = str(cfg)
        cfg = _load(source)
    else:
        source = cfg.filename
    if 'model' not in cfg or not isinstance(cfg.model, dict):
        raise ConversionError(f'{source}: no model dict in the config: nothing to convert')
    _ensure_registered()
    original = cfg.to_dict()
    scope = original.get('default_scope') or 'mmdet3d'
    converter = _Converter(source, scope)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        new_model = converter.walk(original['model'], 'model', scope, 'model')
    converted = copy.deepcopy(original)
    converted['model'] = new_model
    changes = [Change(p, old, new, _why_for(converter.why, p))
               for p, old, new in _diff(original['model'], new_model, 'model')]
    return Conversion(source, Config(original, filename=source),
                      Config(converted, filename=source), changes, converter.left_alone,
                      converter.losses, converter.notes)


def _load(path: str) -> Config:
    if not osp.isfile(path):
        raise ConversionError(f'{path}: no such config file')
    try:
        return Config.fromfile(path)
    except Exception as exc:  # noqa: BLE001 - say which file and why
        raise ConversionError(f'{path}: cannot be read as an MMEngine config: '
                              f'{type(exc).__name__}: {exc}') from exc


# ------------------------------------------------------------------------------ the check
def _build_model(cfg: Config, scope: str):
    import torch
    from mmdet3d.registry import MODELS
    from mmengine.registry import DefaultScope
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with DefaultScope.overwrite_default_scope(scope):
            return MODELS.build(copy.deepcopy(cfg.model))


def _build_error(exc: BaseException) -> str:
    text = f'{type(exc).__name__}: {exc}'.strip()
    if 'cuda' in text.lower() or 'gpu' in text.lower():
        text += ' (this build needs CUDA)'
    return text.splitlines()[0][:300] if text else type(exc).__name__


def check_conversion(conv: Conversion, probes: bool = True) -> Conversion:
    """Build the original and the converted model and compare them (module docstring).

    Sets ``conv.checked`` (``True``; ``False`` when the original does not build here) and
    ``conv.check_lines``.

    Raises:
        ConversionError: the converted model does not build (while the original does), its
            ``state_dict`` differs, it still holds a loss of a type bev-losses provides, it has a
            known trap, or a converted loss gives another value than the original's.
    """
    from bev_losses.traps import find_traps
    scope = conv.cfg.get('default_scope') or 'mmdet3d'
    try:
        original = _build_model(conv.original, scope)
    except Exception as exc:  # noqa: BLE001
        conv.checked = False
        conv.check_lines.append(
            f'NOT CHECKED: the original model does not build here either ({_build_error(exc)}); '
            'the converted config was written from the same rules but not built')
        return conv
    try:
        ours = _build_model(conv.cfg, scope)
    except Exception as exc:  # noqa: BLE001
        raise ConversionError(f'{conv.source}: the original model builds but the converted one '
                              f'does not: {_build_error(exc)}') from exc
    problems = []
    ref_state, our_state = original.state_dict(), ours.state_dict()
    if list(ref_state) != list(our_state) or any(
            ref_state[k].shape != our_state[k].shape for k in ref_state):
        missing = [k for k in ref_state if k not in our_state][:3]
        extra = [k for k in our_state if k not in ref_state][:3]
        shapes = [k for k in ref_state if k in our_state
                  and ref_state[k].shape != our_state[k].shape][:3]
        problems.append(f'state_dict differs (missing {missing}, extra {extra}, other shapes '
                        f'{shapes})')
    left = [(name, _class_path(type(m))) for name, m in ours.named_modules()
            if _class_path(type(m)) in LOSS_MAP]
    alone = {item.path for item in conv.left_alone}
    converted_dict = conv.cfg.to_dict()
    missed = []
    for name, cpath in left:
        path = f'model.{name}'
        if path in alone:
            continue
        if _get_path(converted_dict, path) is not None:
            missed.append(f'{name} ({cpath})')  # a config key holds it: the converter missed it
        else:
            conv.left_alone.append(LeftAlone(
                path, cpath.rsplit('.', 1)[1],
                'built by the head\'s own code (no config key reaches it), so it stays '
                'mmdet\'s'))
    if missed:
        problems.append('still holds losses of a type bev-losses provides at config keys: '
                        + ', '.join(missed))
    traps = find_traps(ours)
    if traps:
        problems.append('known traps left: ' + '; '.join(str(t) for t in traps))
    n_equal = 0
    if probes and not problems:
        for loss in conv.losses:
            mismatch = probe_loss_pair(loss.old, loss.new, loss.scope)
            if mismatch:
                problems.append(f'{loss.path}: {mismatch}')
            else:
                n_equal += 1
    if problems:
        raise ConversionError(f'{conv.source}: the converted config fails the check:\n  '
                              + '\n  '.join(problems))
    n_params = sum(p.numel() for p in ours.parameters())
    conv.checked = True
    conv.check_lines.append(
        f'built the original and the converted model: the same {len(our_state)} state_dict '
        f'keys and shapes ({n_params:,} parameters; checkpoints of the original load)')
    n_ours = sum(1 for m in ours.modules() if isinstance(m, _bev_loss_classes()))
    conv.check_lines.append(
        f'bev-losses loss modules: {n_ours}; of the types bev-losses provides, '
        + (f'{len(left)} left as mmdet\'s, as listed above' if left else 'none left as mmdet\'s'))
    if probes:
        conv.check_lines.append(f'converted losses giving the original\'s values and gradients '
                                f'on probe inputs: {n_equal} of {len(conv.losses)}')
    for trap in find_traps(original):
        conv.check_lines.append(f'the original had a trap, now fixed: {trap}')
    conv.check_lines.append('no known head/loss trap left')
    return conv


def _get_path(d: Any, path: str) -> Any:
    """The value at a dotted config path (list indices as numbers), or ``None``."""
    node = d
    for key in path.split('.'):
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, (list, tuple)) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return None
    return node


# ------------------------------------------------------------------------------ probes
#: dtype of the probe inputs: what heads pass (mmdet casts some targets to float32 anyway).
DTYPE = torch.float32


def probe_loss_pair(old: dict, new: dict, scope: str = 'mmdet3d',
                    seed: int = 0) -> Optional[str]:
    """Compare an original loss config and its conversion on probe inputs.

    Both are built (``old`` in ``scope``) and called the ways mmdet / mmdet3d heads call that
    loss (plain; with ``weight`` and ``avg_factor``; ``reduction_override``; the shapes of each
    mode), in float32 as heads call them. Returns ``None`` when every value and gradient agrees
    to 1e-5 relative (1e-7 absolute), else a description of the first difference. (A different
    mapping differs far more: a class-weighted mean, a factor of the class count.)
    """
    import torch
    from mmdet3d.registry import MODELS
    from mmengine.registry import DefaultScope
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with DefaultScope.overwrite_default_scope(scope):
            ref = MODELS.build(copy.deepcopy(old))
        ours = _build_bev(new)
    target = new['type'].split('.', 1)[1]
    gen = torch.Generator().manual_seed(seed)
    compared = []
    for name, make in _PROBES[target](ours, gen):
        args, kwargs = make()
        try:
            expected = ref(*args, **kwargs)
        except Exception:  # noqa: BLE001 - a call the original does not take: not a probe
            continue
        args2, kwargs2 = _fresh(args), _fresh(kwargs)
        try:
            actual = ours(*args2, **kwargs2)
        except Exception as exc:  # noqa: BLE001
            return f'{name}: the original takes this call, bev-losses raises {exc!r}'
        compared.append(name)
        if expected.shape != actual.shape or not torch.allclose(
                actual.detach().double(), expected.detach().double(), rtol=1e-5, atol=1e-7,
                equal_nan=True):
            return (f'{name}: bev-losses gives {actual.detach().flatten()[:4].tolist()}, mmdet '
                    f'{expected.detach().flatten()[:4].tolist()}')
        pred, pred2 = args[0], args2[0]
        if pred.requires_grad:
            g1, = torch.autograd.grad(expected.sum(), pred, allow_unused=True)
            g2, = torch.autograd.grad(actual.sum(), pred2, allow_unused=True)
            if (g1 is None) != (g2 is None) or (g1 is not None and not torch.allclose(
                    g1.double(), g2.double(), rtol=1e-5, atol=1e-7, equal_nan=True)):
                return f'{name}: gradients differ'
    if not compared:
        return 'the original loss takes none of the probe calls: nothing compared'
    return None


def _fresh(x):
    import torch
    if isinstance(x, torch.Tensor):
        return x.detach().clone().requires_grad_(x.requires_grad)
    if isinstance(x, (list, tuple)):
        return type(x)(_fresh(v) for v in x)
    if isinstance(x, dict):
        return {k: _fresh(v) for k, v in x.items()}
    return x


def _probes_focal(loss, gen):
    import torch
    n, c = 37, 4
    activated = loss.activated

    def pred():
        x = torch.randn(n, c, generator=gen, dtype=DTYPE) * 2
        return (x.sigmoid() if activated else x).requires_grad_()

    def labels():
        return torch.randint(0, c + 1, (n,), generator=gen)

    def onehot():
        return torch.nn.functional.one_hot(labels(), c + 1)[:, :c].to(DTYPE)

    yield 'labels, plain', lambda: ((pred(), labels()), {})
    yield 'labels, weight (N,) + avg_factor', lambda: (
        (pred(), labels(), torch.rand(n, generator=gen, dtype=DTYPE)),
        dict(avg_factor=5.0))
    yield 'one-hot, weight (N, C) + avg_factor', lambda: (
        (pred(), onehot(), torch.rand(n, c, generator=gen, dtype=DTYPE)),
        dict(avg_factor=3.0))
    for red in ('none', 'sum'):
        yield f'labels, reduction_override={red}', lambda red=red: (
            (pred(), labels()), dict(reduction_override=red))
    yield 'single logit per sample (N, 1), labels in {0, 1}', lambda: (
        ((torch.randn(n, 1, generator=gen, dtype=DTYPE).sigmoid() if activated
          else torch.randn(n, 1, generator=gen, dtype=DTYPE)).requires_grad_(),
         torch.randint(0, 2, (n,), generator=gen),
         torch.rand(n, generator=gen, dtype=DTYPE)), dict(reduction_override='sum'))


def _probes_cross_entropy(loss, gen):
    import torch
    c = len(loss.class_weight) if loss.class_weight is not None else 5
    n = 41
    ignore = loss.ignore_index

    def logits(*shape):
        return (torch.randn(*shape, generator=gen, dtype=DTYPE) * 2).requires_grad_()

    if loss.use_sigmoid:
        def sigmoid_labels():
            return torch.randint(0, c + 1, (n,), generator=gen)
        yield 'labels in [0, C], plain', lambda: ((logits(n, c), sigmoid_labels()), {})
        yield 'labels, weight (N,) + avg_factor', lambda: (
            (logits(n, c), sigmoid_labels(), torch.rand(n, generator=gen, dtype=DTYPE)),
            dict(avg_factor=6.0))
        yield 'soft targets (N, C), weight (N, C)', lambda: (
            (logits(n, c), torch.rand(n, c, generator=gen, dtype=DTYPE),
             torch.rand(n, c, generator=gen, dtype=DTYPE)), dict(avg_factor=4.0))
        if loss.class_weight is None:
            yield 'one logit per sample (N,), soft targets', lambda: (
                (logits(n), torch.rand(n, generator=gen, dtype=DTYPE)), {})
        yield 'labels, reduction_override=none', lambda: (
            (logits(n, c), sigmoid_labels()), dict(reduction_override='none'))
        return

    def labels(*shape):
        t = torch.randint(0, c, shape, generator=gen)
        t.view(-1)[::7] = ignore  # some ignored labels, as segmentation heads pass
        return t

    yield '(N, C), plain, some labels ignored', lambda: ((logits(n, c), labels(n)), {})
    yield '(N, C), ignore_index passed, plain', lambda: (
        (logits(n, c), labels(n)), dict(ignore_index=ignore))
    yield '(N, C), weight (N,) + avg_factor', lambda: (
        (logits(n, c), labels(n), torch.rand(n, generator=gen, dtype=DTYPE)),
        dict(avg_factor=9.0))
    yield '(N, C), weight (N,), no avg_factor', lambda: (
        (logits(n, c), labels(n), torch.rand(n, generator=gen, dtype=DTYPE)), {})
    yield '(B, C, M) + (B, M), weight (B, M)', lambda: (
        (logits(2, c, 13), labels(2, 13), torch.rand(2, 13, generator=gen,
                                                     dtype=DTYPE)), {})
    for red in ('none', 'sum'):
        yield f'(N, C), reduction_override={red}', lambda red=red: (
            (logits(n, c), labels(n)), dict(reduction_override=red))


def _probes_regression(loss, gen):
    import torch
    n, k = 29, 7

    def pair():
        return (torch.randn(n, k, generator=gen, dtype=DTYPE).requires_grad_(),
                torch.randn(n, k, generator=gen, dtype=DTYPE))

    yield 'plain', lambda: (pair(), {})
    yield 'weight (N, K) + avg_factor', lambda: (
        pair() + (torch.rand(n, k, generator=gen, dtype=DTYPE),), dict(avg_factor=5.0))
    yield 'weight (N, K), no avg_factor', lambda: (
        pair() + (torch.rand(n, k, generator=gen, dtype=DTYPE),), {})
    yield 'all-zero weight', lambda: (
        pair() + (torch.zeros(n, k, dtype=DTYPE),),
        dict(avg_factor=2.0) if loss.reduction == 'mean' else {})
    for red in ('none', 'sum'):
        yield f'reduction_override={red}', lambda red=red: (
            pair(), dict(reduction_override=red))


def _probes_gaussian_focal(loss, gen):
    import torch

    def heat():
        pred = torch.randn(2, 3, 8, 8, generator=gen, dtype=DTYPE).sigmoid()
        pred = pred.clamp(1e-4, 1 - 1e-4).requires_grad_()
        target = torch.rand(2, 3, 8, 8, generator=gen, dtype=DTYPE) ** 4
        target[0, 1, 3, 4] = target[1, 2, 5, 1] = target[1, 0, 0, 7] = 1.0
        return pred, target

    yield 'heatmap, avg_factor (CenterPoint)', lambda: (heat(), dict(avg_factor=3.0))
    yield 'heatmap, plain', lambda: (heat(), {})
    yield 'heatmap, reduction_override=none', lambda: (heat(), dict(reduction_override='none'))

    def pos():
        pred = torch.randn(20, 3, generator=gen, dtype=DTYPE).sigmoid()
        target = torch.rand(20, 3, generator=gen, dtype=DTYPE) ** 3
        inds = torch.tensor([1, 4, 9, 15])
        labels = torch.tensor([0, 2, 1, 2])
        target[inds, labels] = 1.0
        return (pred.requires_grad_(), target, inds, labels), dict(avg_factor=4.0)

    yield 'pos_inds / pos_labels, avg_factor', pos


def _probes_giou(loss, gen):
    import torch
    n = 23

    def boxes():
        xy = torch.rand(n, 2, generator=gen, dtype=DTYPE) * 10
        wh = torch.rand(n, 2, generator=gen, dtype=DTYPE) * 4 + 0.1
        return torch.cat([xy, xy + wh], 1)

    def pair():
        return boxes().requires_grad_(), boxes()

    yield 'plain', lambda: (pair(), {})
    yield 'weight (N,) + avg_factor', lambda: (
        pair() + (torch.rand(n, generator=gen, dtype=DTYPE),), dict(avg_factor=4.0))
    yield 'weight (N, 4) + avg_factor', lambda: (
        pair() + (torch.rand(n, 4, generator=gen, dtype=DTYPE),), dict(avg_factor=4.0))
    yield 'reduction_override=none', lambda: (pair(), dict(reduction_override='none'))


_PROBES: Dict[str, Callable] = {
    'FocalLoss': _probes_focal,
    'CrossEntropyLoss': _probes_cross_entropy,
    'SmoothL1Loss': _probes_regression,
    'L1Loss': _probes_regression,
    'MSELoss': _probes_regression,
    'GaussianFocalLoss': _probes_gaussian_focal,
    'GIoULoss': _probes_giou,
}


# ------------------------------------------------------------------------------ the command
_WIDTH = 99


def _py_inline(value: Any) -> str:
    if isinstance(value, dict):
        if all(isinstance(k, str) and k.isidentifier() for k in value):
            return 'dict(' + ', '.join(f'{k}={_py_inline(v)}' for k, v in value.items()) + ')'
        return '{' + ', '.join(f'{_py_inline(k)}: {_py_inline(v)}' for k, v in value.items()) + '}'
    if isinstance(value, list):
        return '[' + ', '.join(_py_inline(v) for v in value) + ']'
    if isinstance(value, tuple):
        return '(' + ', '.join(_py_inline(v) for v in value) + (',)' if len(value) == 1 else ')')
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    raise ConversionError(f'cannot write a config value of type {type(value).__name__} '
                          f'({value!r}) as Python source')


def _py(value: Any, indent: int = 0, prefix: str = '') -> str:
    """Python source for a config value, dict keys in their order (MMEngine's ``pretty_text``
    sorts them, which reorders e.g. CenterHead's ``common_heads`` and so the ``state_dict``).
    A value that fits on its line stays on it; longer ones get one item per line."""
    inline = _py_inline(value)
    if indent + len(prefix) + len(inline) <= _WIDTH or not isinstance(value, (dict, list, tuple)) \
            or not value:
        return inline
    pad = ' ' * (indent + 4)
    if isinstance(value, dict):
        if all(isinstance(k, str) and k.isidentifier() for k in value):
            items = [f'{pad}{k}={_py(v, indent + 4, f"{k}=")}' for k, v in value.items()]
            return 'dict(\n' + ',\n'.join(items) + ')'
        items = [f'{pad}{_py_inline(k)}: {_py(v, indent + 4, _py_inline(k) + ": ")}'
                 for k, v in value.items()]
        return '{\n' + ',\n'.join(items) + '}'
    left, right = ('[', ']') if isinstance(value, list) else ('(', ')')
    items = [f'{pad}{_py(v, indent + 4)}' for v in value]
    trailing = ',' if isinstance(value, tuple) and len(value) == 1 else ''
    return left + '\n' + ',\n'.join(items) + trailing + right


def config_text(cfg: Config) -> str:
    """The Python source of a config, top-level and nested keys in their order."""
    return '\n'.join(f'{k} = {_py(v, 0, f"{k} = ")}' for k, v in cfg.to_dict().items()) + '\n'


def _key_order(value: Any) -> Any:
    if isinstance(value, dict):
        return [(k, _key_order(v)) for k, v in value.items()]
    if isinstance(value, (list, tuple)):
        return [_key_order(v) for v in value]
    return None


def write_config(conv: Conversion, out: str) -> str:
    """Write ``conv.cfg`` to ``out`` (a ``.py`` config); check it loads back equal, in order."""
    out_dir = osp.dirname(osp.abspath(out))
    os.makedirs(out_dir, exist_ok=True)
    header = ['# Written by tools/swap_losses.py (bev-losses) from',
              f'#   {conv.source}',
              '# with its _base_ chain resolved. Changes:']
    header += [f'#   {c.path}: {c.old!r} -> {c.new!r}' for c in conv.changes] or ['#   none']
    text = '\n'.join(line.replace('\n', ' ') for line in header) + '\n' + config_text(conv.cfg)
    with open(out, 'w', encoding='utf-8') as f:
        f.write(text)
    back = Config.fromfile(out).to_dict()
    ours = conv.cfg.to_dict()
    if back != ours or _key_order(back) != _key_order(ours):
        raise ConversionError(f'{out}: the written config does not load back equal to the '
                              'converted one (please report this)')
    conv.written = out
    return out


def swap_losses(src: Any, out: Optional[str] = None, dry_run: bool = False,
                check: bool = True, probes: bool = True) -> Conversion:
    """Convert ``src`` (a path or a :class:`Config`), check it, write it to ``out``.

    ``dry_run``: convert and check, write nothing. ``check=False``: build nothing.
    Returns the :class:`Conversion` (``.report()`` is what the command prints).

    Raises:
        ConversionError: the config cannot be converted, or the converted config fails the
            check (nothing is written then).
    """
    conv = convert_config(src)
    if check:
        check_conversion(conv, probes=probes)
    if out is not None and not dry_run:
        write_config(conv, out)
    return conv


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``tools/swap_losses.py``: 0 converted (and checked), 1 cannot be converted, 2 usage."""
    parser = argparse.ArgumentParser(
        prog='tools/swap_losses.py',
        description='Write a copy of an mmdet3d config in which every loss of a type bev-losses '
                    'provides is bev-losses\', and every head with a known trap is bev-losses\' '
                    'fixed head. Prints each change and what was left alone, and why.')
    parser.add_argument('config', help='the mmdet3d config to convert (its _base_ chain is read)')
    parser.add_argument('-o', '--out', help='where to write the converted config (.py)')
    parser.add_argument('--dry-run', action='store_true',
                        help='convert and check, print the changes, write nothing')
    parser.add_argument('--no-check', action='store_true',
                        help='do not build the models (no state_dict / loss value check)')
    args = parser.parse_args(argv)
    if not args.dry_run and not args.out:
        parser.error('give -o OUT_CONFIG, or --dry-run')
    if args.out and not args.out.endswith('.py'):
        parser.error(f'OUT_CONFIG must be a .py file, got {args.out!r}')
    try:
        conv = swap_losses(args.config, args.out, dry_run=args.dry_run,
                           check=not args.no_check)
    except ConversionError as exc:
        print(f'swap_losses: cannot convert: {exc}', file=sys.stderr)
        return 1
    print(conv.report())
    if args.dry_run:
        print('dry run: nothing written')
    return 0
