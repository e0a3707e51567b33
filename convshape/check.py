"""``check``: load, predict and (optionally) verify one spec file into a :class:`FileResult`.

Torch is imported only when verification is asked for (by :mod:`convshape.verifier`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from convshape.engine import Node, Prediction, predict
from convshape.errors import ConvshapeError
from convshape.spec.parse import load

if TYPE_CHECKING:
    from convshape.spec.model import Spec
    from convshape.verifier import Verification


@dataclass
class FileResult:
    file: str
    spec: Spec | None = None
    prediction: Prediction | None = None
    errors: list[ConvshapeError] = field(default_factory=list)
    verification: Verification | None = None
    device: str | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def verified(self) -> bool:
        return self.verification is not None and self.verification.completed

    @property
    def rows(self) -> list[Node]:
        return self.prediction.rows if self.prediction else []

    @property
    def leaves(self) -> list[Node]:
        return [n for n in self.rows if n.layer is not None]


def with_batch(spec: Spec, batch: int | None) -> Spec:
    """``--batch N``: the spec with the input's first dimension replaced."""
    if batch is None:
        return spec
    return replace(spec, input_shape=(batch, *spec.input_shape[1:]))


def check_file(
    path: str,
    *,
    verify: bool = False,
    device: str = "cpu",
    batch: int | None = None,
    max_memory: int | None = None,
) -> FileResult:
    result = FileResult(path)
    try:
        result.spec = with_batch(load(path), batch)
    except ConvshapeError as exc:
        result.errors.append(exc)
        return result
    result.prediction = predict(result.spec)
    if result.prediction.error is not None:
        result.errors.append(result.prediction.error)
        return result
    if verify:
        from convshape.verifier import verify as run_verify

        result.device = device
        result.verification = run_verify(result.prediction, device=device, max_memory=max_memory)
        result.errors.extend(result.verification.errors)
    return result
