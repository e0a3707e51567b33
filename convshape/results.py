"""Load, predict, lint and (optionally) verify one spec file into a :class:`FileResult`.

Torch is imported only when verification is asked for (by :mod:`convshape.verifier`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from math import prod
from typing import TYPE_CHECKING

from convshape.engine import MAX_NUMEL, Node, Prediction, Totals, predict
from convshape.errors import BudgetError, ConvshapeError, UsageError
from convshape.footprint import Memory, footprint
from convshape.layers.base import fmt
from convshape.lint import RULES, LintWarning, lint
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
) -> FileResult:
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
    if result.prediction.error is not None:
        result.errors.append(result.prediction.error)
        return result
    result.warnings = lint(result.prediction)
    result.memory = footprint(result.prediction, dtype, optimizer, device)
    if max_memory is not None:
        over = over_memory(result.memory, max_memory, train)
        if over is not None:
            result.errors.append(over.located(location=result.spec.input_location))
            return result
    if verify:
        from convshape.verifier import verify as run_verify

        result.device = device
        result.verification = run_verify(
            result.prediction, device=device, max_memory=max_memory, memory=result.memory
        )
        result.errors.extend(result.verification.errors)
    return result


def over_memory(memory: Memory, limit: int, train: bool) -> BudgetError | None:
    """``--max-memory``: the inference figure (parameters, buffers, activation peak), or with
    ``--train`` the training-step bound, against the limit."""
    from convshape.memory import human_size

    if train and memory.untrainable is not None:
        return BudgetError(f"--train: a training-mode forward raises at {memory.untrainable}")
    need = memory.training_bound if train else memory.inference_bytes
    if need <= limit:
        return None
    what = (
        "a training step needs at most"
        if train
        else "inference needs (parameters, buffers and the activation peak)"
    )
    return BudgetError(
        f"--max-memory {human_size(limit)}: {what} {human_size(need)} "
        f"({need:,} bytes, {memory.dtype}, {memory.device})",
        formula=memory_lines(memory),
        hint="a smaller --batch, --dtype float16/bfloat16, or a larger --max-memory",
    )


def memory_lines(memory: Memory) -> list[str]:
    """The memory figures, one per line, bytes exact and MiB (2**20 bytes) alongside."""
    from convshape.memory import human_size

    rows = [
        ("parameters", memory.param_bytes),
        ("buffers", memory.buffer_bytes),
        ("gradients", memory.grad_bytes),
        (f"optimizer state ({memory.optimizer})", memory.optimizer_bytes),
        ("saved for backward", memory.saved_activation_bytes),
        ("inference peak", memory.inference_peak_bytes),
        ("training step, upper bound", memory.training_bound),
    ]
    return [f"{name}: {value:,} B ({human_size(value)})" for name, value in rows]
