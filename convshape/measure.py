"""Memory as torch sees it (the torch side): the proof of :mod:`convshape.footprint`.

Two measurements, on any device (``meta`` allocates nothing and gives the same bytes as cpu):

* **Saved for backward**: one training-mode forward under
  ``torch.autograd.graph.saved_tensors_hooks``. Every saved tensor is keyed by its storage
  (``untyped_storage()._cdata``, the StorageImpl address: ``data_ptr()`` is 0 for every meta
  tensor) and counted once, as a whole storage, for the innermost module running when autograd
  first saved it. Parameters and buffers are not activations and are left out; the model input
  is counted when a layer saves it.
* **Inference peak**: one eval forward under ``no_grad`` inside a dispatch mode that sees every
  storage an op returns and, through a weak reference, when it is freed: the most activation
  bytes alive at once, the input included (the caller holds it all along).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


def _key(t: torch.Tensor) -> int:
    return int(t.untyped_storage()._cdata)


def _resident(model: nn.Module) -> set[int]:
    """Storage keys of the parameters and buffers."""
    return {_key(t) for t in (*model.parameters(), *model.buffers())}


class _Stack:
    """Forward pre/post hooks on every module: which module is running now."""

    def __init__(self, model: nn.Module, paths: set[str]) -> None:
        self.paths = [""]
        self.handles = []
        for path, module in model.named_modules():
            if path in paths and path:
                self.handles.append(module.register_forward_pre_hook(self._enter(path)))
                self.handles.append(module.register_forward_hook(self._leave))

    def _enter(self, path: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any) -> None:
            self.paths.append(path)

        return hook

    def _leave(self, module: nn.Module, args: Any, output: Any) -> None:
        self.paths.pop()

    @property
    def current(self) -> str:
        return self.paths[-1]

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


class TrainingFailure(Exception):
    """torch raised in the training-mode forward, inside the module at ``path``."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


@dataclass
class Saved:
    """What one training forward saved for backward, by storage."""

    total: int = 0
    by_module: dict[str, int] = field(default_factory=dict)  # path -> bytes it added ("" root)


def saved_for_backward(model: nn.Module, x: torch.Tensor, paths: set[str]) -> Saved:
    """Run ``model`` in training mode on ``x`` once and account what autograd saves, each
    storage to the innermost of the modules at ``paths`` running when it was first saved.

    The model's train/eval mode is restored afterwards.
    """
    result = Saved()
    resident = _resident(model)
    keep: list[torch.Tensor] = []  # saved tensors stay alive: no storage address is reused
    seen: set[int] = set()
    stack = _Stack(model, paths)

    def pack(t: torch.Tensor) -> int:
        keep.append(t)
        key = _key(t)
        if key not in resident and key not in seen:
            seen.add(key)
            size = t.untyped_storage().nbytes()
            result.total += size
            path = stack.current
            result.by_module[path] = result.by_module.get(path, 0) + size
        return len(keep) - 1

    def unpack(index: int) -> torch.Tensor:
        return keep[index]

    was_training = model.training
    # BatchNorm with momentum=None reads num_batches_tracked as a Python number, which a meta
    # tensor cannot give; momentum only weighs the running-stat update, which saves nothing
    cumulative = [
        m
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.momentum is None
    ] if x.device.type == "meta" else []  # fmt: skip
    try:
        model.train()
        for m in cumulative:
            m.momentum = 0.1
        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, unpack):
            try:
                model(x)
            except Exception as exc:
                raise TrainingFailure(stack.current) from exc
    finally:
        stack.remove()
        model.train(was_training)
        for m in cumulative:
            m.momentum = None
    return result


@dataclass
class Live:
    """Activation bytes alive during one eval forward."""

    peak: int = 0
    current: int = 0
    peak_in: dict[str, int] = field(default_factory=dict)  # leaf path -> most alive while it ran
    after: dict[str, int] = field(default_factory=dict)  # leaf path -> alive when it returned


class _LiveMode(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """Count every storage an op returns until it is freed (params and buffers excluded)."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        """No "disable dynamo" wrapper: its first call imports torch._dynamo (2 s)."""
        return False

    def __init__(self, live: Live, resident: set[int]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.live = live
        self.resident = resident
        self.sizes: dict[int, int] = {}
        self.window = 0  # the most alive since the current leaf started

    def track(self, t: torch.Tensor) -> None:
        storage = t.untyped_storage()
        key = int(storage._cdata)
        if key in self.resident:
            return
        size = storage.nbytes()
        if key in self.sizes:  # resize_ grows a storage in place (CrossMapLRN2d's output)
            self.live.current += size - self.sizes[key]
            self.sizes[key] = size
            self._mark()
            return
        self.sizes[key] = size
        self.live.current += size
        self._mark()
        weakref.finalize(storage, self._free, key)

    def _mark(self) -> None:
        self.live.peak = max(self.live.peak, self.live.current)
        self.window = max(self.window, self.live.current)

    def _free(self, key: int) -> None:
        self.live.current -= self.sizes.pop(key)

    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: Any = (),
        kwargs: Any = None,
    ) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self.track(t)
        return out


@contextmanager
def live_bytes(model: nn.Module, x: torch.Tensor, leaves: set[str]) -> Iterator[Live]:
    """Track activation storages while the body runs the eval forward of ``model`` on ``x``;
    per module at ``leaves`` too."""
    live = Live()
    mode = _LiveMode(live, _resident(model))
    mode.track(x)
    handles = []

    def enter(module: nn.Module, args: Any) -> None:
        mode.window = live.current

    def leave(path: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            live.peak_in[path] = mode.window
            live.after[path] = live.current

        return hook

    for path, module in model.named_modules():
        if path in leaves:
            handles.append(module.register_forward_pre_hook(enter))
            handles.append(module.register_forward_hook(leave(path)))
    try:
        with mode:
            yield live
    finally:
        for handle in handles:
            handle.remove()
