"""Budgets: limits on a model's figures, from the spec's ``budget:`` or the command line.

A budget names a figure (``params``, ``macs``, the memory figures), a limit in human units
(``25M`` params, ``4.1G`` MACs, ``2GiB``), and where it was set. Going over is a located
:class:`~convshape.errors.BudgetError` that names the figure, the limit, by how much, and the
layers that contribute most. Torch-free.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from convshape.engine import Node, Prediction
from convshape.errors import BudgetError, ConvshapeError
from convshape.footprint import ITEMSIZE, Memory
from convshape.spec.budgets import Budget


@dataclass(frozen=True)
class Figure:
    """A figure a budget can limit: how to read it and who contributes to it."""

    what: str  # "params", "bytes saved for backward", ...
    value: Callable[[Prediction, Memory], int | None]
    parts: Callable[[Prediction, Memory], list[tuple[Node, int]]]
    part: str = "largest"  # what a part's number is


def _leaves(prediction: Prediction) -> list[Node]:
    assert prediction.root is not None
    return prediction.root.leaves()


def _per_leaf(get: Callable[[Node], int]) -> Callable[[Prediction, Memory], list[tuple[Node, int]]]:
    return lambda p, m: [(n, get(n)) for n in _leaves(p)]


def _saved(p: Prediction, m: Memory) -> list[tuple[Node, int]]:
    return [(n, m.saved.get(n.path, 0)) for n in p.rows]


def _peak(p: Prediction, m: Memory) -> list[tuple[Node, int]]:
    return [(n, m.peak_in.get(n.path, 0)) for n in _leaves(p)]


def _params_bytes(p: Prediction, m: Memory) -> list[tuple[Node, int]]:
    return [(n, n.num_params * ITEMSIZE[m.dtype]) for n in _leaves(p)]


def _total(p: Prediction) -> int:
    return p.totals.params if p.totals else 0


FIGURES: dict[str, Figure] = {
    "params": Figure("params", lambda p, m: _total(p), _per_leaf(lambda n: n.num_params)),
    "trainable_params": Figure(
        "trainable params",
        lambda p, m: p.totals.trainable_params if p.totals else 0,
        _per_leaf(lambda n: n.trainable_params),
    ),
    "macs": Figure(
        "MACs", lambda p, m: p.totals.macs if p.totals else 0, _per_leaf(lambda n: n.macs)
    ),
    "flops": Figure(
        "FLOPs",
        lambda p, m: p.totals.flops if p.totals else 0,
        _per_leaf(lambda n: 2 * n.macs),
    ),
    "param_bytes": Figure("bytes of parameters", lambda p, m: m.param_bytes, _params_bytes),
    "saved_activation_bytes": Figure(
        "bytes saved for backward",
        lambda p, m: None if m.untrainable else m.saved_activation_bytes,
        _saved,
    ),
    "inference_peak_bytes": Figure(
        "bytes of activations alive at the inference peak",
        lambda p, m: m.inference_peak_bytes,
        _peak,
        "alive while it runs",
    ),
    "inference_bytes": Figure(
        "bytes for inference (parameters, buffers and the activation peak)",
        lambda p, m: m.inference_bytes,
        _peak,
        "activations alive while it runs",
    ),
    "training_peak_bound_bytes": Figure(
        "bytes for a training step at most (the bound)",
        lambda p, m: None if m.untrainable else m.training_bound,
        _saved,
    ),
}


def check(prediction: Prediction, memory: Memory, budgets: list[Budget]) -> list[ConvshapeError]:
    """One error per budget gone over."""
    errors: list[ConvshapeError] = []
    for budget in budgets:
        figure = FIGURES[budget.figure]
        value = figure.value(prediction, memory)
        if value is None:
            errors.append(
                BudgetError(
                    f"{budget.source} {budget.text}: no {figure.what} figure: a training-mode "
                    f"forward raises at {memory.untrainable}"
                ).located(location=budget.location or prediction.spec.input_location)
            )
            continue
        if value <= budget.limit:
            continue
        over = value - budget.limit
        parts = sorted(figure.parts(prediction, memory), key=lambda item: -item[1])[:3]
        lines = [
            f"{figure.part}: {node.path} ({node.type_name}) {amount:,}"
            for node, amount in parts
            if amount
        ]
        errors.append(
            BudgetError(
                f"{budget.source} {budget.text}: {value:,} {figure.what} is over the limit of "
                f"{budget.limit:,} by {over:,} ({over / budget.limit:.1%})",
                formula=lines,
                hint=f"raise {budget.source}, or shrink the largest layers",
            ).located(location=budget.location or prediction.spec.input_location)
        )
    return errors
