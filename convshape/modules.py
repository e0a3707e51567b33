"""convshape's containers as real ``nn.Module``s (the torch side; imports torch)."""

from __future__ import annotations

import torch
from torch import nn


class Residual(nn.Module):
    """``body(x) + shortcut(x)``; no shortcut is the identity."""

    def __init__(self, body: nn.Sequential, shortcut: nn.Sequential | None = None) -> None:
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + (x if self.shortcut is None else self.shortcut(x))  # type: ignore[no-any-return]


class Concat(nn.Module):
    """``torch.cat([branch(x) for branch in branches], dim)``; an empty branch is the identity."""

    def __init__(self, branches: list[nn.Sequential], dim: int = 1) -> None:
        super().__init__()
        self.dim = dim
        for i, branch in enumerate(branches):
            self.add_module(str(i), branch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.children()], self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
