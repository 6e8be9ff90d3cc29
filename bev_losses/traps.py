"""Known silent traps of mmdet / mmdet3d heads with a loss given by type: found and warned about.

Three head / loss combinations build and train without an error but compute the wrong loss
(README, "The traps, explained"); ``tools/swap_losses.py`` writes configs without them:

``heatmap_probabilities``
    A ``bev_losses.GaussianFocalLoss(activated=False)`` (it takes logits) inside a head that feeds
    its heatmap loss probabilities. Every mmdet / mmdet3d head does (mmdet's GaussianFocalLoss
    only takes probabilities): mmdet3d's ``CenterHead`` and BEVFusion's ``TransFusionHead`` pass
    ``clip_sigmoid(heatmap)``, which the loss then treats as logits. ``bev_losses.CenterHead``
    passes the logits; a head of your own that does the same declares a class attribute
    ``heatmap_from_logits``.
``use_sigmoid_from_dict``
    A head that sizes its classifier from ``loss_cls.get('use_sigmoid', False)`` (the config
    dict; see :data:`USE_SIGMOID_FROM_DICT`) with a built loss whose ``use_sigmoid`` differs
    (``bev_losses.FocalLoss`` defaults to ``True`` but the dict may not say so): one background
    channel too many, or too few.
``anchor_sampling_by_type_string``
    mmdet3d's ``Anchor3DHead`` (and every descendant: SSN, FreeAnchor, PartA2 / PV-RCNN RPN)
    turns anchor sampling on unless ``loss_cls['type']`` is literally ``'mmdet.FocalLoss'`` or
    ``'mmdet.GHMC'``: a focal loss under any other name is then divided by positives +
    negatives instead of positives (SSN's ``loss_cls`` 2.075 becomes 1.7e-5), or the head needs
    a ``train_cfg.sampler`` it does not have.

Where the warning comes from: ``bev_losses.FocalLoss``, ``CrossEntropyLoss`` and
``GaussianFocalLoss`` call :func:`warn_known_traps` at the end of their constructor. It finds the
head being constructed on the call stack (the nearest ``__init__`` of another ``nn.Module``) and
the config key the loss was built from (the argument of that ``__init__`` that holds the config
dict handed to MMEngine's ``build_from_cfg``), so it fires for mmdet3d's own heads built from any
config, once per head class, key and trap (:class:`BEVLossesTrapWarning`). :func:`find_traps`
checks a built model after the fact (any loss class, mmdet's too). Nothing here imports mmdet or
mmdet3d: heads are recognised by the names of the classes in their MRO.
"""
import sys
import warnings
from typing import Iterator, List, NamedTuple, Optional, Tuple

from torch import nn

__all__ = ['BEVLossesTrapWarning', 'Trap', 'USE_SIGMOID_FROM_DICT', 'find_traps',
           'warn_known_traps', 'use_sigmoid_dict_key']


class BEVLossesTrapWarning(UserWarning):
    """A head and a loss that combine into a known silent trap (see :mod:`bev_losses.traps`)."""


class Trap(NamedTuple):
    """One trap found: where, which, and what to do."""
    path: str        # module path of the loss in the model ('' at construction: the key)
    head: str        # the head's class name
    key: str         # the head's argument / attribute holding the loss
    trap: str        # heatmap_probabilities | use_sigmoid_from_dict | anchor_sampling_...
    message: str

    def __str__(self) -> str:
        return self.message


#: Heads that read ``use_sigmoid`` from the config dict of a loss, by the top-level package of
#: the defining module and the class name (a subclass counts):
#: ``{(package, name): (key, sizes the classifier by it)}``. ``package`` ``None`` matches any
#: package (BEVFusion's head lives in mmdet3d's ``projects/``). mmdet3d 1.4's PartA2 and
#: PointRCNN bbox heads store the value without using it (no trap, but the converter still
#: writes it out); the others add a background channel when it is ``False``.
USE_SIGMOID_FROM_DICT = {
    ('mmdet3d', 'Anchor3DHead'): ('loss_cls', True),
    ('mmdet3d', 'PartA2BboxHead'): ('loss_cls', False),
    ('mmdet3d', 'PointRCNNBboxHead'): ('loss_cls', False),
    ('mmdet3d', 'PVRCNNBBoxHead'): ('loss_cls', True),
    ('mmdet3d', 'ForegroundSegmentationHead'): ('loss_seg', True),
    ('mmdet', 'AnchorHead'): ('loss_cls', True),
    ('mmdet', 'AnchorFreeHead'): ('loss_cls', True),
    ('mmdet', 'RepPointsHead'): ('loss_cls', True),
    ('mmdet', 'SABLRetinaHead'): ('loss_cls', True),
    ('mmdet', 'GuidedAnchorHead'): ('loss_cls', True),
    ('mmdet', 'VFNetHead'): ('loss_cls', True),
    (None, 'TransFusionHead'): ('loss_cls', True),
}

#: Frames searched above a loss constructor for the head that builds it.
_MAX_FRAMES = 24
_WARNED = set()


def _in_mro(cls: type, package: Optional[str], name: str) -> bool:
    for c in cls.__mro__:
        if c.__name__ == name and (package is None
                                   or c.__module__.split('.', 1)[0] == package):
            return True
    return False


def use_sigmoid_dict_key(cls: type, sizing_only: bool = False) -> Optional[str]:
    """The loss argument whose config dict ``cls`` reads ``use_sigmoid`` from, or ``None``.

    ``sizing_only``: only where the head sizes its classifier by it (a trap when it differs
    from the loss). ``None`` also for bev-losses' fixed anchor heads, which read the built loss.
    """
    if getattr(cls, 'bev_losses_fixed_anchor_head', False):
        return None
    for (package, name), (key, sizes) in USE_SIGMOID_FROM_DICT.items():
        if _in_mro(cls, package, name) and (sizes or not sizing_only):
            return key
    return None


def is_mmdet3d_anchor_head(cls: type) -> bool:
    """An mmdet3d ``Anchor3DHead`` descendant without bev-losses' fix."""
    return (_in_mro(cls, 'mmdet3d', 'Anchor3DHead')
            and not getattr(cls, 'bev_losses_fixed_anchor_head', False))


def _is_gaussian_focal(loss) -> bool:
    from bev_losses.losses.gaussian_focal import GaussianFocalLoss
    return isinstance(loss, GaussianFocalLoss)


def _sampling_free(loss) -> bool:
    flag = getattr(loss, 'sampling_free', None)
    if isinstance(flag, bool):
        return flag
    from bev_losses.losses.focal import FocalLoss
    if isinstance(loss, FocalLoss):
        return True
    return any(c.__name__ in ('FocalLoss', 'GHMC') and c.__module__.startswith('mmdet.')
               for c in type(loss).__mro__)


def _check(holder: nn.Module, key: Optional[str], loss: nn.Module,
           dict_use_sigmoid: Optional[bool]) -> Iterator[Tuple[str, str]]:
    """``(trap, message)`` for each trap of ``loss`` held (or being built) by ``holder``.

    ``dict_use_sigmoid``: the ``use_sigmoid`` the head reads from the loss's config dict, when
    known (at construction), else ``None`` (the head's ``use_sigmoid_cls`` is used).
    """
    cls = type(holder)
    head = cls.__name__
    where = f'{head}.{key}' if key else head
    if _is_gaussian_focal(loss) and getattr(loss, 'activated', True) is False \
            and not hasattr(cls, 'heatmap_from_logits'):
        if _in_mro(cls, 'mmdet3d', 'CenterHead'):
            fix = ("use type='bev_losses.CenterHead' (same arguments and weights; it gives the "
                   'loss the logits), or activated=True')
        else:
            fix = ('use activated=True (probabilities), or a head that passes logits (a class '
                   'attribute heatmap_from_logits declares one)')
        yield 'heatmap_probabilities', (
            f'{where}: bev_losses.GaussianFocalLoss(activated=False) takes logits, but {head} '
            'feeds its heatmap loss probabilities (mmdet3d applies clip_sigmoid first): the '
            f'loss reads them as logits and is silently wrong; {fix}.')
    use_sigmoid = getattr(loss, 'use_sigmoid', None)
    if isinstance(use_sigmoid, bool) and key is not None \
            and use_sigmoid_dict_key(cls, sizing_only=True) == key:
        read = dict_use_sigmoid
        if read is None:
            read = holder.__dict__.get('use_sigmoid_cls')
        if isinstance(read, bool) and read != use_sigmoid:
            fix = f"write use_sigmoid={use_sigmoid} in the config of {key}"
            extra = ('one background channel too many' if use_sigmoid
                     else 'no background channel')
            if is_mmdet3d_anchor_head(cls):
                fix += f" or use type='bev_losses.{head}'"
            yield 'use_sigmoid_from_dict', (
                f'{where}: {head} reads use_sigmoid from the config dict of {key} '
                f'(use_sigmoid={read}) but '
                f'the built {type(loss).__name__} has use_sigmoid={use_sigmoid}: the classifier '
                f'gets {extra} and trains silently wrong; {fix} (tools/swap_losses.py does).')
    if key == 'loss_cls' and is_mmdet3d_anchor_head(cls) \
            and holder.__dict__.get('sampling') is True and _sampling_free(loss):
        yield 'anchor_sampling_by_type_string', (
            f"{where}: mmdet3d's {head} turns anchor sampling on because loss_cls['type'] is not "
            "literally 'mmdet.FocalLoss' or 'mmdet.GHMC' (a type-string test): it then needs "
            "train_cfg.sampler (else AttributeError: 'sampler') and, with one, divides the "
            f'focal loss {type(loss).__name__} by positives + negatives instead of positives, '
            f"silently; use type='bev_losses.{head}' (same arguments and weights; "
            'tools/swap_losses.py does).')


def _constructing_head(loss: nn.Module):
    """``(head, key, config dict)`` of the module whose ``__init__`` is building ``loss``."""
    frame = sys._getframe(2)
    cfg = None
    for _ in range(_MAX_FRAMES):
        if frame is None:
            return None, None, None
        code = frame.f_code
        if code.co_name == 'build_from_cfg' and cfg is None:
            cfg = frame.f_locals.get('cfg')
        elif code.co_name == '__init__':
            holder = frame.f_locals.get('self')
            if isinstance(holder, nn.Module) and holder is not loss:
                key = None
                if cfg is not None:
                    for name, value in frame.f_locals.items():
                        if value is cfg and name != 'self':
                            key = name
                            break
                return holder, key, cfg
        frame = frame.f_back
    return None, None, None


def warn_known_traps(loss: nn.Module) -> None:
    """Warn (:class:`BEVLossesTrapWarning`) if the head constructing ``loss`` falls into a trap.

    Call it last in a loss constructor. Once per (head class, key, trap) and process; no-op for
    a loss built outside a module's ``__init__``. Never raises.
    """
    try:
        holder, key, cfg = _constructing_head(loss)
        if holder is None:
            return
        dict_use_sigmoid = None
        if isinstance(cfg, dict) and key is not None:
            dict_use_sigmoid = cfg.get('use_sigmoid', False)
        found = list(_check(holder, key, loss, dict_use_sigmoid))
    except Exception:  # noqa: BLE001 - a diagnostic must never break construction
        return
    for trap, message in found:
        tag = (type(holder), key, trap)
        if tag in _WARNED:
            continue
        _WARNED.add(tag)
        warnings.warn(message, BEVLossesTrapWarning, stacklevel=3)


def find_traps(model: nn.Module) -> List[Trap]:
    """Every known trap in a built model: a head and one of its loss modules (any class).

    ``tools/swap_losses.py`` runs it on the converted model (there must be none) and reports
    the ones of the original.
    """
    found = []
    for path, holder in model.named_modules():
        for key, loss in holder.named_children():
            if not key.startswith('loss') and not key.endswith('loss'):
                continue
            for trap, message in _check(holder, key, loss, None):
                full = f'{path}.{key}' if path else key
                found.append(Trap(full, type(holder).__name__, key, trap, message))
    return found
