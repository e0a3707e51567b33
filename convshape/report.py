"""Renderers: JSON (the contract of DESIGN.md section 4), the rich table and Markdown.

They only read :class:`FileResult`s; nothing here computes shapes or imports torch.
"""

from __future__ import annotations

from typing import Any

from convshape.check import FileResult
from convshape.engine import Node
from convshape.errors import ConvshapeError

BYTES_PER_FLOAT32 = 4


def error_json(err: ConvshapeError, file: str) -> dict[str, Any]:
    ctx = err.context
    out: dict[str, Any] = {
        "kind": str(err.kind),
        "message": err.message,
        "file": ctx.location.file if ctx.location else ctx.file or file,
        "line": ctx.location.line if ctx.location else None,
        "column": ctx.location.column if ctx.location else None,
        "layer": ctx.layer_path,
        "rendered": err.render(),
    }
    if ctx.spec_path:
        out["spec_path"] = ctx.spec_path
    if err.formula:
        out["formula"] = list(err.formula)
    if err.hint:
        out["hint"] = err.hint
    return out


def row_json(node: Node, actual: dict[str, tuple[int, ...]] | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "path": node.path,
        "name": node.name,
        "type": node.type_name,
        "depth": node.depth,
        "input_shape": list(node.input_shape),
        "output_shape": list(node.output_shape),
    }
    if actual is not None and node.path in actual:
        row["actual_shape"] = list(actual[node.path])
    row["params"] = node.num_params
    row["macs"] = node.macs
    if node.decl.block:
        row["block"] = node.decl.block
    return row


def totals(result: FileResult) -> dict[str, int]:
    leaves = result.leaves
    params = sum(n.num_params for n in leaves)
    trainable = sum(n.trainable_params for n in leaves)
    macs = sum(n.macs for n in leaves)
    activations = sum(_numel(n.output_shape) for n in leaves)
    return {
        "params": params,
        "trainable_params": trainable,
        "non_trainable_params": params - trainable,
        "macs": macs,
        "flops": 2 * macs,
        "param_bytes": params * BYTES_PER_FLOAT32,
        "activation_bytes": activations * BYTES_PER_FLOAT32,
    }


def _numel(shape: tuple[int, ...]) -> int:
    total = 1
    for d in shape:
        total *= d
    return total


def file_json(result: FileResult) -> dict[str, Any]:
    spec, prediction = result.spec, result.prediction
    complete = prediction is not None and prediction.ok
    sums = totals(result) if complete else {}
    actual = result.verification.actual if result.verification else None
    return {
        "file": result.file,
        "name": spec.name if spec else None,
        "ok": result.ok,
        "verified": result.verified,
        "device": result.device,
        "input_shape": list(spec.input_shape) if spec else None,
        "output_shape": list(prediction.output_shape)
        if prediction and prediction.output_shape
        else None,
        "params": sums.get("params"),
        "trainable_params": sums.get("trainable_params"),
        "macs": sums.get("macs"),
        "flops": sums.get("flops"),
        "param_bytes": sums.get("param_bytes"),
        "activation_bytes": sums.get("activation_bytes"),
        "layers": [row_json(n, actual) for n in result.rows],
        "errors": [error_json(e, result.file) for e in result.errors],
    }


def report_json(results: list[FileResult]) -> dict[str, Any]:
    return {"files": [file_json(r) for r in results]}
