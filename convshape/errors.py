"""The one error family of convshape.

Inner code raises short facts with real numbers (``ShapeError("output height would be 0",
formula=[...])``); the code that knows where the layer came from adds the context once with
:meth:`ConvshapeError.located`, and :meth:`ConvshapeError.render` prints it like a compiler.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import NamedTuple


class ErrorKind(StrEnum):
    """The ``kind`` field of the JSON contract."""

    YAML = "yaml"
    SPEC = "spec"
    SHAPE = "shape"
    MISMATCH = "mismatch"
    RUNTIME = "runtime"
    BUDGET = "budget"


class Location(NamedTuple):
    """Where something stands in a YAML file (1-based line and column).

    A NamedTuple, not a dataclass: the YAML reader makes one per node (measured: 30 ms less on a
    10,000-layer spec).
    """

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class ErrorContext:
    """What the engine knows about the layer an error belongs to."""

    location: Location | None = None
    file: str | None = None  # the file, when there is no line to point at (missing, binary)
    layer_path: str | None = None  # dotted module path, e.g. "4.body.0"
    spec_path: str | None = None  # where it is written, e.g. "layers[4].body[0]"
    layer_name: str | None = None
    layer_type: str | None = None
    input_shape: tuple[int, ...] | None = None
    via: str | None = None  # e.g. "block BasicBlock used at configs/r.yaml:30:7"


MAX_MESSAGE = 400


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """``did you mean 'Conv2d'?`` for the closest choice, or None: the one suggestion helper."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean '{close[0]}'?" if close else None


def _shorten(message: str) -> str:
    """Keep a message readable when it echoes an enormous value back (a 190,000-dim input)."""
    if len(message) <= MAX_MESSAGE:
        return message
    cut = len(message) - MAX_MESSAGE
    return f"{message[: MAX_MESSAGE - 80]} ... [{cut:,} characters cut] ... {message[-80:]}"


class ConvshapeError(Exception):
    """Base of every error convshape reports about a user's input."""

    kind: ErrorKind = ErrorKind.SPEC

    def __init__(
        self,
        message: str,
        *,
        formula: tuple[str, ...] | list[str] = (),
        hint: str | None = None,
        context: ErrorContext | None = None,
    ) -> None:
        message = _shorten(message)
        super().__init__(message)
        self.message = message
        self.formula = tuple(formula)
        self.hint = hint
        self.context = context or ErrorContext()

    def located(self, **context: object) -> ConvshapeError:
        """A copy with more context; fields already set are kept (innermost wins)."""
        known = {k: v for k, v in vars(self.context).items() if v is not None}
        merged = replace(self.context, **{**context, **known})
        err = copy.copy(self)  # subclasses keep their own fields (a warning's code)
        err.context = merged
        return err

    @property
    def headline(self) -> str:
        """``file:line:col: layers[2] conv2 (Conv2d): what is wrong``."""
        ctx = self.context
        where = str(ctx.location) if ctx.location else ctx.file
        parts = [where] if where else []
        who = " ".join(p for p in (ctx.spec_path or ctx.layer_path, ctx.layer_name) if p)
        if ctx.layer_type:
            who = f"{who} ({ctx.layer_type})" if who else ctx.layer_type
        if who:
            parts.append(who)
        parts.append(self.message)
        return ": ".join(parts)

    def render(self) -> str:
        lines = [self.headline]
        lines += [f"  {line}" for line in self.formula]
        if self.context.input_shape is not None:
            lines.append(f"  input to this layer: {list(self.context.input_shape)}")
        if self.context.via:
            lines.append(f"  in {self.context.via}")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


class YamlError(ConvshapeError):
    """The file is not readable YAML (or not YAML convshape will construct)."""

    kind = ErrorKind.YAML


class SpecError(ConvshapeError):
    """The spec does not fit the schema: unknown type or key, a value of the wrong type or range."""

    kind = ErrorKind.SPEC


class ShapeError(ConvshapeError):
    """The spec is well formed but the shapes cannot work (torch would raise)."""

    kind = ErrorKind.SHAPE


class MismatchError(ConvshapeError):
    """The verifier saw torch disagree with the prediction."""

    kind = ErrorKind.MISMATCH


class RuntimeFailure(ConvshapeError):
    """torch raised while the verifier ran the model (or could not start it)."""

    kind = ErrorKind.RUNTIME


class BudgetError(ConvshapeError):
    """A predicted figure over a limit the user set (``--max-memory``)."""

    kind = ErrorKind.BUDGET


class UsageError(ConvshapeError):
    """A command-line option that cannot apply (exit code 2), e.g. ``--batch`` on a spec
    whose input has no batch dimension."""

    kind = ErrorKind.SPEC
