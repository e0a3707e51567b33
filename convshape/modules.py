"""convshape's containers as real ``nn.Module``s (the torch side; imports torch).

Each class is named by an entry of :data:`convshape.containers.CONTAINERS` (``torch_class``).
"""

from __future__ import annotations

import torch
from torch import nn


class Merge(nn.Module):
    """Every branch on the same input; the outputs merged by :meth:`merge`.

    A branch of ``None`` is the identity. A branch in ``protect`` starts by overwriting its
    input (an in-place layer first, perhaps behind a view): it gets a copy, so the other
    branches and the identity still see the input the spec describes.
    """

    def __init__(
        self, branches: list[tuple[str, nn.Module | None]], protect: frozenset[str] = frozenset()
    ) -> None:
        super().__init__()
        self.names = [name for name, _ in branches]
        self.protect = protect
        for name, module in branches:
            self.add_module(name, module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        for name in self.names:
            module = self._modules[name]
            if module is None:
                outs.append(x)
            else:
                outs.append(module(x.clone() if name in self.protect else x))
        return self.merge(outs)

    def merge(self, outs: list[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError


class Residual(Merge):
    """``body(x) + shortcut(x)``; no shortcut is the identity."""

    def merge(self, outs: list[torch.Tensor]) -> torch.Tensor:
        return outs[0] + outs[1]


class Concat(Merge):
    """``torch.cat([branch(x) for branch in branches], dim)``; an empty branch is the identity."""

    def __init__(
        self,
        branches: list[tuple[str, nn.Module | None]],
        protect: frozenset[str] = frozenset(),
        dim: int = 1,
    ) -> None:
        super().__init__(branches, protect)
        self.dim = dim

    def merge(self, outs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(outs, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
