"""Type aliases for layer fields.

Each alias is a real type for mypy and, by its *name*, a kind that :mod:`convshape.layers.kinds`
knows how to check (the dataclasses use ``from __future__ import annotations``, so a field's
``type`` is the alias name as written).
"""

from __future__ import annotations

from typing import TypeAlias

PosInt: TypeAlias = int
NonNegInt: TypeAlias = int
PosFloat: TypeAlias = float
OptFloat: TypeAlias = float | None
Probability: TypeAlias = float
OptBool: TypeAlias = bool | None
FalseOnly: TypeAlias = bool
Size: TypeAlias = int | tuple[int, ...]
OptSize: TypeAlias = int | tuple[int, ...] | None
Pad: TypeAlias = int | tuple[int, ...]
NonNegPad: TypeAlias = int | tuple[int, ...]
ConvPad: TypeAlias = int | tuple[int, ...] | str
PadSpec: TypeAlias = int | tuple[int, ...]
OutputSize: TypeAlias = int | tuple[int | None, ...]
OutSize2: TypeAlias = int | tuple[int, ...]
Size2: TypeAlias = int | tuple[int, ...]
Pad2: TypeAlias = int | tuple[int, ...]
OptSizeAny: TypeAlias = int | tuple[int, ...] | None
OptScale: TypeAlias = float | tuple[float, ...] | None
OptRatio: TypeAlias = float | tuple[float, ...] | None
OptOutSize: TypeAlias = int | tuple[int, ...] | None
IntList: TypeAlias = tuple[int, ...]
NormShape: TypeAlias = tuple[int, ...]
PaddingMode: TypeAlias = str
ZerosOnly: TypeAlias = str
UpsampleMode: TypeAlias = str
GeluApprox: TypeAlias = str
OptNonZeroInt: TypeAlias = int | None
NonZeroFloat: TypeAlias = float
StochasticMode: TypeAlias = str
ActivationName: TypeAlias = str
DimList: TypeAlias = tuple[int, ...]
