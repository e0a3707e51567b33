"""Warnings: legal torch that is almost always a mistake, each with a stable code and a fix.

Every rule reads the engine's prediction (never recomputes a shape) and is one entry of
:data:`RULES`. A spec allows a code for the whole file (top-level ``allow: [CS105]``) or on one
layer or container (``allow: [CS104]`` on it, which covers what it holds). Nothing here
imports torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from convshape.codes import CODES
from convshape.engine import Node, Prediction, locate
from convshape.errors import ConvshapeError
from convshape.layers.base import AXES, AXIS_WORDS, fmt, ntuple


class LintWarning(ConvshapeError):
    """A finding that is not an error: exit 0 unless ``--strict``."""

    def __init__(self, message: str, *, code: str = "", **more: Any) -> None:
        super().__init__(message, **more)
        self.code = code

    @property
    def headline(self) -> str:
        head = super().headline
        cut = len(head) - len(self.message)
        return f"{head[:cut]}warning {self.code}: {self.message}"


@dataclass(frozen=True)
class Rule:
    code: str
    summary: str  # one line for `convshape layers`-style listings and the README
    check: Callable[[Prediction], Iterator[tuple[Node | None, str, str]]]  # node, message, fix


def _leaves_in_order(node: Node) -> Iterator[tuple[Node, int]]:
    """(sequence, index of a child) for every child of every Sequential, depth first."""
    for index, child in enumerate(node.children):
        if node.type_name == "Sequential":
            yield node, index
        yield from _leaves_in_order(child)


def _before(seq: Node, index: int) -> Iterator[Node]:
    """The children of ``seq`` before ``index``, nearest first (no copy of the list)."""
    return (seq.children[i] for i in range(index - 1, -1, -1))


def _unbatched(p: Prediction) -> Iterator[tuple[Node | None, str, str]]:
    if p.spec.unbatched or p.root is None:
        return
    for leaf in p.root.leaves():
        assert leaf.layer is not None
        if leaf.layer.unbatched(leaf.input_shape):
            shape = leaf.input_shape
            yield (
                leaf,
                f"{leaf.type_name} reads its input {fmt(shape)} as one unbatched sample: the "
                f"spec's input {fmt(p.spec.input_shape)} has no batch dimension",
                f"write the batch first, input: {fmt((1, *p.spec.input_shape))}, or say "
                "`unbatched: true` at the top of the spec if one sample is meant",
            )
            return


def _forgotten_flatten(p: Prediction) -> Iterator[tuple[Node | None, str, str]]:
    if p.root is None:
        return
    for seq, index in _leaves_in_order(p.root):
        child = seq.children[index]
        if child.type_name != "Linear" or len(child.input_shape) < 3:
            continue
        source = _feature_map_source(seq, index)
        if source is not None:
            yield (
                child,
                f"Linear on the {len(child.input_shape)}-D feature map {fmt(child.input_shape)} "
                f"from {source.type_name} acts on the last (width) dimension only",
                "put a Flatten before it (in_features is then inferred from C*H*W), or allow "
                "CS102 here if a per-position Linear is meant",
            )


def _feature_map_source(seq: Node, index: int) -> Node | None:
    """The conv/pool/pad family layer whose output reaches child ``index`` unchanged, if any."""
    for before in _before(seq, index):
        layer = before.layer
        if layer is None:
            return before if before.type_name != "Sequential" else None
        if layer.ndim > 0:
            return before
        if before.input_shape != before.output_shape:
            return None
    return None


def _dropout_before_norm(p: Prediction) -> Iterator[tuple[Node | None, str, str]]:
    if p.root is None:
        return
    for seq, index in _leaves_in_order(p.root):
        child = seq.children[index]
        if not child.type_name.startswith("BatchNorm"):
            continue
        for before in _before(seq, index):
            if before.layer is None or before.input_shape != before.output_shape:
                break
            if "Dropout" in before.type_name:
                yield (
                    before,
                    f"{before.type_name} feeds {child.type_name} ({child.key}): the statistics "
                    "BatchNorm learns in training no longer hold in eval (variance shift)",
                    "move the dropout after the normalisation (or after the last BatchNorm)",
                )
                break


def _windows(p: Prediction) -> Iterator[tuple[Node, tuple[int, ...], tuple[int, ...], Any]]:
    """(leaf, kernel extent, stride, padding) of every conv and pooling window."""
    if p.root is None:
        return
    for leaf in p.root.leaves():
        layer = leaf.layer
        assert layer is not None
        stride, extent = layer.window_stride(), layer.window_extent()
        if stride is not None and extent is not None:
            yield leaf, extent, stride, vars(layer).get("padding", 0)


def _skipping_stride(p: Prediction) -> Iterator[tuple[Node | None, str, str]]:
    for leaf, extent, stride, _ in _windows(p):
        assert leaf.layer is not None
        for axis, k, s in zip(AXES[leaf.layer.ndim], extent, stride, strict=True):
            if s > k > 1:  # a strided 1x1 conv is the usual downsampling projection
                yield (
                    leaf,
                    f"stride {s} is larger than the kernel ({k}) along the {AXIS_WORDS[axis]}: "
                    f"{s - k} of every {s} input positions are never read",
                    f"use a kernel of at least {s} along the {AXIS_WORDS[axis]}, or stride {k}",
                )
                break


def _dropped_border(p: Prediction) -> Iterator[tuple[Node | None, str, str]]:
    for leaf, extent, stride, padding in _windows(p):
        layer = leaf.layer
        assert layer is not None
        if getattr(layer, "ceil_mode", False) or isinstance(padding, str):
            continue
        pads = ntuple(padding, layer.ndim)
        spatial = leaf.input_shape[-layer.ndim :]
        axes = AXES[layer.ndim]
        for axis, size, k, s, pad in zip(axes, spatial, extent, stride, pads, strict=True):
            left_over = (size + 2 * pad - k) % s  # floor division's remainder
            dropped = left_over - pad  # the padded positions among them cost nothing
            if k >= s and size + 2 * pad >= k and dropped > 0:
                yield (
                    leaf,
                    f"floor division drops the last {dropped} {AXIS_WORDS[axis]} position(s) "
                    f"of {size}: ({size} + 2*{pad} - {k}) % {s} = {left_over}",
                    "choose an input size that divides evenly, pad, or set ceil_mode: true "
                    "(pooling)",
                )
                break


def _empty(p: Prediction) -> Iterator[tuple[Node | None, str, str]]:
    """The spec's input, or the first module whose output, has a dimension of size 0."""
    if p.root is None:
        return
    if 0 in p.spec.input_shape:
        shape = p.spec.input_shape
        yield (
            None,
            f"the input {fmt(shape)} is empty (a dimension of size 0): every layer runs on nothing",
            "give every dimension a size of at least 1",
        )
        return
    for leaf in p.root.leaves():
        if 0 in leaf.output_shape:
            dim = leaf.output_shape.index(0)
            yield (
                leaf,
                f"{leaf.type_name} gives an empty tensor {fmt(leaf.output_shape)} (dimension "
                f"{dim} has size 0) from {fmt(leaf.input_shape)}: torch runs on, with nothing",
                "check this layer's sizes (output_size 0, a negative padding as large as the "
                "dimension, a scale that floors to 0)",
            )
            return


_CHECKS = {
    "CS101": _unbatched,
    "CS102": _forgotten_flatten,
    "CS103": _dropout_before_norm,
    "CS104": _skipping_stride,
    "CS105": _dropped_border,
    "CS106": _empty,
}
RULES: dict[str, Rule] = {code: Rule(code, CODES[code], check) for code, check in _CHECKS.items()}


def _allowed(
    code: str, node: Node | None, p: Prediction, allows: dict[str, frozenset[str]]
) -> bool:
    """Allowed for the file, on the node, or on a container that holds it."""
    if code in p.spec.allow:
        return True
    if node is None:
        return False
    parts = node.path.split(".")
    return any(code in allows.get(".".join(parts[:n]), ()) for n in range(len(parts) + 1))


def lint(prediction: Prediction) -> list[LintWarning]:
    """Every warning of a successful prediction, located, minus the allowed ones."""
    found: list[LintWarning] = []
    nodes = prediction.root.walk() if prediction.root is not None else []
    allows = {n.path: n.decl.allow for n in nodes if n.decl.allow}  # path -> codes, once
    for rule in RULES.values():
        for node, message, fix in rule.check(prediction):
            if _allowed(rule.code, node, prediction, allows):
                continue
            found.append(_located(LintWarning(message, code=rule.code, hint=fix), node, prediction))
    return found


def _located(w: LintWarning, node: Node | None, p: Prediction) -> LintWarning:
    if node is None:
        located = w.located(location=p.spec.input_location)
        assert isinstance(located, LintWarning)
        return located
    return locate(w, node)


__all__ = ["RULES", "LintWarning", "lint"]
