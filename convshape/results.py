"""Load, predict, lint and (optionally) verify one spec file into a :class:`FileResult`.

Torch is imported only when verification is asked for (by :mod:`convshape.verifier`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from math import prod
from typing import TYPE_CHECKING

from convshape.budget import check as check_budgets
from convshape.conventions import Counted
from convshape.conventions import count as count_as
from convshape.engine import MAX_NUMEL, Node, Prediction, Totals, predict
from convshape.errors import ConvshapeError, UsageError
from convshape.footprint import Memory, footprint
from convshape.layers.base import fmt
from convshape.lint import RULES, LintWarning, lint
from convshape.memory import human_size
from convshape.spec.budgets import Budget
from convshape.spec.parse import load

if TYPE_CHECKING:
    from convshape.spec.decls import Spec
    from convshape.verifier import Verification


@dataclass
class FileResult:
    file: str
    spec: Spec | None = None
    prediction: Prediction | None = None
    errors: list[ConvshapeError] = field(default_factory=list)
    warnings: list[LintWarning] = field(default_factory=list)
    verification: Verification | None = None
    device: str | None = None
    strict: bool = False  # warnings count as failures
    memory: Memory | None = None  # set when the prediction succeeded
    count: Counted | None = None  # check --count: the total as that peer counts it
    count_error: str | None = None  # why that peer's count is not defined for this model

    @property
    def ok(self) -> bool:
        return not self.errors and not (self.strict and self.warnings)

    @property
    def usage_error(self) -> bool:
        return any(isinstance(e, UsageError) for e in self.errors)

    @property
    def verified(self) -> bool:
        return self.verification is not None and self.verification.completed

    @property
    def rows(self) -> list[Node]:
        return self.prediction.rows if self.prediction else []

    @property
    def totals(self) -> Totals | None:
        return self.prediction.totals if self.prediction else None


def with_batch(spec: Spec, prediction: Prediction, batch: int) -> Spec:
    """``--batch N``: the spec with its batch dimension replaced; ``expect:`` stays checked at
    the spec's own input (``prediction``), so it is not checked again."""
    unbatched = spec.unbatched or any(RULES["CS101"].check(prediction))
    if unbatched:
        raise UsageError(
            f"--batch: the spec's input {fmt(spec.input_shape)} has no batch dimension, so "
            "--batch would replace another dimension",
            hint="write the batch first in `input`, then --batch replaces it",
        ).located(file=spec.file)
    shape = (batch, *spec.input_shape[1:])
    if prod(shape) > MAX_NUMEL:
        raise UsageError(
            f"--batch {batch}: the input {fmt(shape)} would have more elements than a torch "
            "tensor can hold (2**63 - 1)"
        ).located(file=spec.file)
    return replace(spec, input_shape=shape, expects=False)


def check_file(
    path: str,
    *,
    verify: bool = False,
    device: str = "cpu",
    batch: int | None = None,
    max_memory: int | None = None,
    strict: bool = False,
    dtype: str = "float32",
    optimizer: str = "adam",
    train: bool = False,
    limits: tuple[Budget, ...] = (),
    count: str | None = None,
) -> FileResult:
    """``limits``: budgets from the command line, checked with the spec's own ``budget:``;
    ``max_memory`` (with ``train``) is one more, on the inference or training figure."""
    result = FileResult(path, strict=strict)
    try:
        result.spec = load(path)
    except ConvshapeError as exc:
        result.errors.append(exc)
        return result
    result.prediction = predict(result.spec)
    if result.prediction.ok and batch is not None:
        try:
            result.spec = with_batch(result.spec, result.prediction, batch)
        except UsageError as exc:
            result.errors.append(exc)
            return result
        result.prediction = predict(result.spec)
    if result.prediction.ok and train:  # training's rules too, at the batch it will run
        result.spec = replace(result.spec, training=True)
        result.prediction = predict(result.spec)
    if result.prediction.error is not None:
        result.errors.append(result.prediction.error)
        return result
    result.warnings = lint(result.prediction)
    result.memory = footprint(result.prediction, dtype, optimizer, device)
    if count is not None:
        try:
            result.count = count_as(result.prediction, count)
        except ConvshapeError as exc:
            result.count_error = exc.message
    budgets = [*result.spec.budgets, *limits]
    if max_memory is not None:
        figure = "training_peak_bound_bytes" if train else "inference_bytes"
        budgets.append(Budget(figure, max_memory, human_size(max_memory), "--max-memory"))
    over = check_budgets(result.prediction, result.memory, budgets)
    if over:
        result.errors.extend(over)
        return result
    if verify:
        from convshape.verifier import verify as run_verify

        result.device = device
        result.verification = run_verify(
            result.prediction, device=device, max_memory=max_memory, memory=result.memory
        )
        result.errors.extend(result.verification.errors)
    return result
