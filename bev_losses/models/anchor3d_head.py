"""mmdet3d's anchor heads (``Anchor3DHead`` and every descendant) for any loss class.

mmdet3d 1.4's ``Anchor3DHead.__init__`` decides two things from the *config dict* of
``loss_cls`` rather than from the built loss, and every subclass (``ShapeAwareHead`` of SSN,
``FreeAnchor3DHead``, ``PartA2RPNHead`` of PartA2 / PV-RCNN, a user's own) inherits them:

* ``sampling = loss_cls['type'] not in ['mmdet.FocalLoss', 'mmdet.GHMC']``: any other type
  string (``'bev_losses.FocalLoss'``, ``'FocalLoss'`` with ``_scope_``, a class object) turns
  anchor sampling on. The head then needs ``train_cfg.sampler`` (PointPillars' config has none:
  ``AttributeError`` at construction), and if one is given, ``avg_factor`` silently becomes
  positives + negatives instead of positives (SSN's ``loss_cls`` drops from ~2 to ~1e-5).
* ``use_sigmoid_cls = loss_cls.get('use_sigmoid', False)``: a loss whose ``use_sigmoid`` defaults
  to ``True`` (``bev_losses.FocalLoss``) but is not spelled in the config gets a softmax-sized
  classifier (``num_classes + 1`` outputs per anchor).

:class:`AnchorHeadFixMixin` takes both from the built module (``self.loss_cls``). One more fix,
for a softmax classification loss only: mmdet3d labels background anchors ``num_classes``,
which for a softmax-sized classifier (``num_classes`` already counts the background) is one past
the last column, so every softmax loss fails on it (labels out of range). The per-level loss
(``_loss_by_feat_single``, and ``ShapeAwareHead.loss_single``) sees them as the background
column ``num_classes - 1``. Nothing else changes: same arguments, same layers, same
``state_dict`` keys (checkpoints of the mmdet3d head load as they are).

:func:`fix_anchor_head` applies the mixin to a class programmatically and registers the result
as ``bev_losses.<ClassName>``. It is applied here to every ``Anchor3DHead`` descendant that
mmdet3d registers (``bev_losses.Anchor3DHead``, ``bev_losses.ShapeAwareHead``,
``bev_losses.FreeAnchor3DHead``, ``bev_losses.PartA2RPNHead``); a user's own subclass either
calls it, or is found by name: ``type='bev_losses.MyHead'`` looks ``MyHead`` up in mmdet3d's
registry and fixes it on first use (``bev_losses.registry``).
"""
import inspect
import sys
from typing import Dict, List, Optional

import torch
from mmdet3d.models.dense_heads import Anchor3DHead as _MMDet3DAnchor3DHead
from torch import nn

from bev_losses.registry import MODELS

__all__ = ['Anchor3DHead', 'ShapeAwareHead', 'FreeAnchor3DHead', 'PartA2RPNHead',
           'AnchorHeadFixMixin', 'fix_anchor_head', 'fix_registered_anchor_heads',
           'is_fixed_anchor_head', 'is_sampling_free_cls_loss']

#: Per-level loss methods whose ``labels`` (4th positional argument) get the softmax fix.
_PER_LEVEL_LOSSES = ('_loss_by_feat_single', 'loss_single')


def _sampling_free_classes() -> tuple:
    """Loss classes that weigh every anchor themselves (focal-type), so need no sampler."""
    classes = []
    try:  # the mmdet classes mmdet3d's string test means
        from mmdet.models.losses import GHMC, FocalLoss
        classes += [FocalLoss, GHMC]
    except ImportError:  # pragma: no cover - mmdet is installed with mmdet3d
        pass
    import bev_losses.losses as bev_losses_losses
    focal = getattr(bev_losses_losses, 'FocalLoss', None)
    if focal is not None:
        classes.append(focal)
    return tuple(classes)


def is_sampling_free_cls_loss(loss: nn.Module) -> bool:
    """Whether an anchor head should train ``loss`` on all anchors without a sampler.

    True for focal-type losses (mmdet's ``FocalLoss`` and ``GHMC``, ``bev_losses.FocalLoss`` and
    subclasses of any of them), and for any module with a boolean attribute
    ``sampling_free = True`` (a hook for user losses). False otherwise, as in mmdet3d.
    """
    flag = getattr(loss, 'sampling_free', None)
    if isinstance(flag, bool):
        return flag
    return isinstance(loss, _sampling_free_classes())


class AnchorHeadFixMixin:
    """Put before an ``Anchor3DHead`` subclass: sampling and sigmoid from the built ``loss_cls``.

    Adds one argument to the head's own:

    Args:
        sampling: ``None`` (default) decides from the built classification loss: no sampler for a
            focal-type loss (see :func:`is_sampling_free_cls_loss`), a sampler otherwise, which
            matches mmdet3d for ``'mmdet.FocalLoss'`` / ``'mmdet.GHMC'`` and extends it to every
            spelling of those and to ``bev_losses.FocalLoss``. ``True`` / ``False`` force it.

    ``use_sigmoid_cls`` is the built loss's ``use_sigmoid`` attribute when it has one (else the
    config value, as in mmdet3d), and ``num_classes`` gets the background class only for a
    softmax loss. Outputs, targets and the loss dict are those of the mmdet3d head.

    Use :func:`fix_anchor_head` rather than subclassing by hand: it also registers the class.
    """

    #: Marker read by :func:`is_fixed_anchor_head` and by ``bev_losses.traps``.
    bev_losses_fixed_anchor_head = True

    def __init__(self, *args, sampling: Optional[bool] = None, **kwargs) -> None:
        if sampling is not None and not isinstance(sampling, bool):
            raise TypeError(f'sampling must be None or a bool, got {sampling!r}')
        # Set before the parent constructor, which calls the two hooks below.
        object.__setattr__(self, '_sampling_override', sampling)
        super().__init__(*args, **kwargs)

    def _init_layers(self) -> None:
        # Called by Anchor3DHead.__init__ after ``self.loss_cls`` is built and before any layer
        # exists (ShapeAwareHead builds its branches here, from ``self.num_classes`` too).
        use_sigmoid = getattr(self.loss_cls, 'use_sigmoid', None)
        if isinstance(use_sigmoid, bool) and use_sigmoid != self.use_sigmoid_cls:
            # The parent added a background class iff the config dict said softmax.
            self.num_classes += -1 if use_sigmoid else 1
            self.use_sigmoid_cls = use_sigmoid
        super()._init_layers()

    def _init_assigner_sampler(self) -> None:
        # Called by Anchor3DHead.__init__ after ``self.loss_cls`` is built; replaces the
        # type-string test.
        override = self._sampling_override
        self.sampling = (not is_sampling_free_cls_loss(self.loss_cls)
                         if override is None else override)
        super()._init_assigner_sampler()

    def _fit_background_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """With a softmax loss, background ``num_classes`` becomes the last column's index.

        ``labels`` hold a class in ``[0, C)`` for positive anchors and ``num_classes`` for the
        others. With a sigmoid loss ``num_classes == C``, which is the background index that loss
        expects: unchanged. With a softmax loss ``num_classes == C + 1`` (the classifier's width,
        background column ``C``): those labels become ``C``. The box and direction terms are
        unaffected: their weights are zero off the positives.
        """
        if self.use_sigmoid_cls:
            return labels
        return torch.where(labels == self.num_classes,
                           torch.full_like(labels, self.num_classes - 1), labels)

    def _loss_by_feat_single(self, cls_score, bbox_pred, dir_cls_pred, labels, *args,
                             **kwargs):
        """The parent's per-level loss with :meth:`_fit_background_labels` applied."""
        return super()._loss_by_feat_single(cls_score, bbox_pred, dir_cls_pred,
                                            self._fit_background_labels(labels), *args,
                                            **kwargs)


def _level_loss_with_fitted_labels(name: str):
    """``name`` of the parent, with :meth:`AnchorHeadFixMixin._fit_background_labels`."""

    def method(self, cls_score, bbox_pred, dir_cls_pred, labels, *args, **kwargs):
        parent = getattr(super(AnchorHeadFixMixin, self), name)
        return parent(cls_score, bbox_pred, dir_cls_pred, self._fit_background_labels(labels),
                      *args, **kwargs)

    method.__name__ = name
    method.__doc__ = (f"The parent's ``{name}`` with the softmax background labels fitted "
                      '(``AnchorHeadFixMixin._fit_background_labels``).')
    return method


def _signature_with_sampling(cls: type) -> Optional[inspect.Signature]:
    """``cls``'s call signature plus the keyword-only ``sampling=None``."""
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):  # pragma: no cover - every nn.Module has one
        return None
    params = [p for p in sig.parameters.values() if p.name != 'sampling']
    extra = inspect.Parameter('sampling', inspect.Parameter.KEYWORD_ONLY, default=None,
                              annotation=Optional[bool])
    var_kw = [i for i, p in enumerate(params) if p.kind is inspect.Parameter.VAR_KEYWORD]
    at = var_kw[0] if var_kw else len(params)
    return sig.replace(parameters=params[:at] + [extra] + params[at:])


#: mmdet3d class -> its fixed class.
_FIXED: Dict[type, type] = {}


def is_fixed_anchor_head(obj) -> bool:
    """Whether ``obj`` (a class or an instance) has :class:`AnchorHeadFixMixin`'s fix."""
    cls = obj if isinstance(obj, type) else type(obj)
    return issubclass(cls, AnchorHeadFixMixin)


def fix_anchor_head(cls: type, name: Optional[str] = None, register: bool = True) -> type:
    """The fixed version of an mmdet3d ``Anchor3DHead`` subclass, registered as ``bev_losses.X``.

    Returns ``class X(AnchorHeadFixMixin, cls)`` (``X`` = ``name`` or ``cls.__name__``): the same
    arguments as ``cls`` plus ``sampling``, the same layers and ``state_dict`` keys; sampling and
    ``use_sigmoid`` are taken from the built ``loss_cls`` and a softmax loss gets the background
    column (module docstring). The class is made once per ``cls`` (later calls return it) and,
    with ``register``, registered in the ``bev_losses`` scope (``type='bev_losses.X'``).

    Use it for your own subclass (mmdet3d's are done on import)::

        from bev_losses.models import fix_anchor_head
        MyHeadFixed = fix_anchor_head(MyHead)     # type='bev_losses.MyHead' in a config

    A class that already has the fix is returned unchanged. A later call with another ``name``
    returns the same class, registered under that name too.

    Raises:
        TypeError: ``cls`` is not a subclass of mmdet3d's ``Anchor3DHead``.
        KeyError: another class is registered as ``bev_losses.X`` (pass another ``name``).
    """
    if not (isinstance(cls, type) and issubclass(cls, _MMDet3DAnchor3DHead)):
        raise TypeError(f'fix_anchor_head expects a subclass of mmdet3d Anchor3DHead, got '
                        f'{cls!r}')
    if issubclass(cls, AnchorHeadFixMixin):
        return cls
    if cls in _FIXED:
        fixed = _FIXED[cls]
    else:
        name = name or cls.__name__
        existing = MODELS.module_dict.get(name)
        if register and existing is not None:
            raise KeyError(f'bev_losses.{name} is already registered '
                           f'({existing.__module__}.{existing.__qualname__}); pass another '
                           f'name to fix_anchor_head({cls.__qualname__}, name=...)')
        namespace = {
            '__module__': __name__,
            '__qualname__': name,
            '__doc__': (f'``{cls.__module__}.{cls.__qualname__}`` with bev-losses\' anchor-head '
                        'fix: sampling and ``use_sigmoid`` from the built ``loss_cls``, the '
                        'softmax background column (see ``bev_losses.models.anchor3d_head``). '
                        'Same arguments, plus ``sampling=None|True|False``; same weights.'
                        + (f'\n\nOriginal documentation:\n\n{inspect.getdoc(cls)}'
                           if inspect.getdoc(cls) else '')),
            'bev_losses_fixes': cls,
        }
        for method in _PER_LEVEL_LOSSES[1:]:  # the first one is the mixin's own
            if callable(getattr(cls, method, None)):
                namespace[method] = _level_loss_with_fitted_labels(method)
        fixed = type(name, (AnchorHeadFixMixin, cls), namespace)
        signature = _signature_with_sampling(cls)
        if signature is not None:
            fixed.__signature__ = signature
        _FIXED[cls] = fixed
        module = sys.modules[__name__]
        if not hasattr(module, name):  # picklable by module + qualname
            setattr(module, name, fixed)
    if register:
        for alias in dict.fromkeys([fixed.__name__, name or fixed.__name__]):
            if MODELS.module_dict.get(alias) is not fixed:
                MODELS.register_module(name=alias, module=fixed)
    return fixed


def fix_registered_anchor_heads() -> List[type]:
    """Fix every ``Anchor3DHead`` descendant registered in mmdet3d's ``MODELS`` now.

    Called on import for mmdet3d's own heads; call it again after importing modules that
    register more (or use ``type='bev_losses.<Name>'``, which fixes a head on first use).
    Returns the fixed classes. Names already taken in the ``bev_losses`` scope are skipped.
    """
    from mmdet3d.registry import MODELS as MMDET3D_MODELS
    fixed = []
    for cls in list(MMDET3D_MODELS.module_dict.values()):
        if not (isinstance(cls, type) and issubclass(cls, _MMDet3DAnchor3DHead)) \
                or issubclass(cls, AnchorHeadFixMixin):
            continue
        taken = MODELS.module_dict.get(cls.__name__)
        if taken is not None and getattr(taken, 'bev_losses_fixes', None) is not cls:
            continue
        fixed.append(fix_anchor_head(cls))
    return fixed


def fixed_head_for(name: str) -> Optional[type]:
    """The fixed class for ``name`` of an ``Anchor3DHead`` descendant in mmdet3d's registry.

    The registry's fallback for ``type='bev_losses.<name>'`` when ``<name>`` is not registered
    in the ``bev_losses`` scope (a user's subclass registered after import). ``None`` when
    mmdet3d has no such class or it is not an ``Anchor3DHead`` descendant.
    """
    from mmdet3d.registry import MODELS as MMDET3D_MODELS
    try:
        cls = MMDET3D_MODELS.get(name)
    except Exception:  # noqa: BLE001 - an unknown name is simply not ours
        return None
    if not (isinstance(cls, type) and issubclass(cls, _MMDet3DAnchor3DHead)):
        return None
    return fix_anchor_head(cls, name=name)


# mmdet3d's own: explicit names for ``from bev_losses.models import ...``, then any other
# descendant mmdet3d registers.
from mmdet3d.models.dense_heads import FreeAnchor3DHead as _MMDet3DFreeAnchor3DHead  # noqa: E402
from mmdet3d.models.dense_heads import PartA2RPNHead as _MMDet3DPartA2RPNHead  # noqa: E402
from mmdet3d.models.dense_heads import ShapeAwareHead as _MMDet3DShapeAwareHead  # noqa: E402

Anchor3DHead = fix_anchor_head(_MMDet3DAnchor3DHead)
ShapeAwareHead = fix_anchor_head(_MMDet3DShapeAwareHead)
FreeAnchor3DHead = fix_anchor_head(_MMDet3DFreeAnchor3DHead)
PartA2RPNHead = fix_anchor_head(_MMDet3DPartA2RPNHead)
fix_registered_anchor_heads()
