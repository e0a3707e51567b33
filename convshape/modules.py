"""convshape's containers as real ``nn.Module``s (the torch side; imports torch).

Each class is named by an entry of :data:`convshape.containers.CONTAINERS` (``torch_class``).
"""

from __future__ import annotations

import torch
from torch import nn


class Merge(nn.Module):
    """Every branch on the same input; the outputs merged by :meth:`merge`.

    A branch of ``None`` is the identity. A branch named in ``clone`` starts by overwriting its
    input (an in-place layer first, perhaps behind a view): it gets a copy, so the other
    branches and the identity still see the input.
    """

    def __init__(
        self,
        branches: dict[str, nn.Module | None],
        clone: frozenset[str],
    ) -> None:
        super().__init__()
        self.names = list(branches)
        self.clone = clone
        for name, module in branches.items():
            self.add_module(name, module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        for name in self.names:
            module = self._modules[name]
            if module is None:
                outs.append(x)
            else:
                outs.append(module(x.clone() if name in self.clone else x))
        return self.merge(outs)

    def merge(self, outs: list[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError


class Residual(Merge):
    """``body(x) + shortcut(x)``; a shortcut of ``None`` adds ``x`` itself; ``connect=False``:
    the body alone. ``shortcut_first`` registers the shortcut first (its state_dict order)."""

    def __init__(
        self,
        body: nn.Module,
        shortcut: nn.Module | None = None,
        connect: bool = True,
        shortcut_first: bool = False,
        clone: frozenset[str] = frozenset(),
    ) -> None:
        branches: dict[str, nn.Module | None] = {"body": body}
        if connect:
            branches["shortcut"] = shortcut
        if connect and shortcut_first:
            branches = {"shortcut": shortcut, "body": body}
        super().__init__(branches, clone)

    def merge(self, outs: list[torch.Tensor]) -> torch.Tensor:
        return outs[0] if len(outs) == 1 else outs[0] + outs[1]


class Concat(Merge):
    """``torch.cat([branch(x) for branch in branches], dim)``; a ``None`` branch is ``x``."""

    def __init__(
        self,
        *branches: nn.Module | None,
        dim: int = 1,
        clone: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__({str(i): branch for i, branch in enumerate(branches)}, clone)
        self.dim = dim

    def merge(self, outs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(outs, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Gate(Merge):
    """``x * gate(x)``: squeeze-excitation and friends; ``gate``'s output broadcasts to ``x``."""

    def __init__(self, gate: nn.Module, clone: frozenset[str] = frozenset()) -> None:
        super().__init__({"input": None, "gate": gate}, clone)

    def merge(self, outs: list[torch.Tensor]) -> torch.Tensor:
        return outs[0] * outs[1]


class Split(nn.Module):
    """``torch.split(x, sizes, dim)`` (or ``torch.chunk(x, chunks, dim)``), branch i on piece
    i, the outputs concatenated along ``dim``; a ``None`` branch passes its piece on."""

    def __init__(
        self,
        *branches: nn.Module | None,
        sizes: tuple[int, ...] = (),
        chunks: int = 0,
        dim: int = 1,
        clone: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__()
        self.names = [str(i) for i in range(len(branches))]
        self.clone = clone
        self.dim, self.sizes, self.chunks = dim, list(sizes), chunks
        for name, module in zip(self.names, branches, strict=True):
            self.add_module(name, module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pieces = (
            torch.split(x, self.sizes, self.dim)
            if self.sizes
            else torch.chunk(x, self.chunks, self.dim)
        )
        outs = []
        for name, piece in zip(self.names, pieces, strict=True):
            module = self._modules[name]
            if module is None:
                outs.append(piece)
            else:  # a piece is a view of x: a branch that writes its input gets a copy
                outs.append(module(piece.clone() if name in self.clone else piece))
        return torch.cat(outs, self.dim)

    def extra_repr(self) -> str:
        return (
            f"sizes={self.sizes}, dim={self.dim}"
            if self.sizes
            else f"chunks={self.chunks}, dim={self.dim}"
        )


# ------------------------------------------------------------------ leaf wrappers (one tensor)


class Permute(nn.Module):
    def __init__(self, dims: tuple[int, ...]) -> None:
        super().__init__()
        self.dims = list(dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(self.dims)

    def extra_repr(self) -> str:
        return f"dims={self.dims}"


class Transpose(nn.Module):
    def __init__(self, dim0: int, dim1: int) -> None:
        super().__init__()
        self.dim0, self.dim1 = dim0, dim1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(self.dim0, self.dim1)

    def extra_repr(self) -> str:
        return f"dim0={self.dim0}, dim1={self.dim1}"


class Reshape(nn.Module):
    """``x.reshape(N, *shape)``: the batch dimension is kept."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = list(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class Select(nn.Module):
    def __init__(self, dim: int, index: int) -> None:
        super().__init__()
        self.dim, self.index = dim, index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.select(self.dim, self.index)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, index={self.index}"


class LayerScale(nn.Module):
    """``gamma * x``, ``gamma`` a learned scale per feature of dim ``dim``."""

    def __init__(
        self,
        num_features: int,
        init_value: float = 1e-6,
        dim: int = 1,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.gamma = nn.Parameter(torch.full((num_features,), float(init_value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.dim + x.dim() if self.dim < 0 else self.dim
        if not 0 <= d < x.dim():
            message = f"Dimension out of range (got {self.dim} for a {x.dim()}-d input)"
            raise IndexError(message)
        return x * self.gamma.view(-1, *([1] * (x.dim() - 1 - d)))

    def extra_repr(self) -> str:
        return f"num_features={self.gamma.numel()}, dim={self.dim}"


class ClassToken(nn.Module):
    """A learned ``(1, 1, E)`` token prepended to ``(N, L, E)``."""

    def __init__(self, embed_dim: int) -> None:
        super().__init__()
        self.token = nn.Parameter(torch.zeros(1, 1, embed_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.token.expand(x.shape[0], -1, -1), x], dim=1)


class PositionEmbedding(nn.Module):
    """A learned ``(1, L, E)`` tensor added to ``(N, L, E)`` (ViT: normal, std 0.02)."""

    def __init__(self, num_positions: int, embed_dim: int) -> None:
        super().__init__()
        embedding = torch.empty(1, num_positions, embed_dim)
        self.embedding = nn.Parameter(embedding.normal_(std=0.02))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.embedding


class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth: drop a whole residual branch per sample ("row") or per
    batch ("batch") with probability ``p`` in training, scaled by ``1 / (1 - p)``; the identity
    in eval."""

    def __init__(self, p: float, mode: str = "row") -> None:
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        ones = [1] * (x.dim() - 1)
        size = [x.shape[0], *ones] if self.mode == "row" else [1, *ones]
        keep = 1.0 - self.p
        noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * noise.div_(keep) if keep > 0.0 else x * noise

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode}"


class SelfAttention(nn.MultiheadAttention):
    """``nn.MultiheadAttention`` with query, key and value all ``x``; returns the output only."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        batch_first: bool = True,
    ) -> None:
        super().__init__(
            embed_dim,
            num_heads,
            dropout=dropout,
            bias=bias,
            batch_first=batch_first,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out, _ = super().forward(x, x, x, need_weights=False)
        return out


class TransformerEncoder(nn.TransformerEncoder):
    """``nn.TransformerEncoder`` of ``num_layers`` ``nn.TransformerEncoderLayer(...)``."""

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        num_layers: int = 1,
    ) -> None:
        layer = nn.TransformerEncoderLayer(
            d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
            batch_first, norm_first, bias,
        )  # fmt: skip
        super().__init__(layer, num_layers, enable_nested_tensor=False)
