"""The JSON report (the contract in README's "JSON output"): it only reads
:class:`~convshape.results.FileResult`s and their totals; nothing here computes or imports torch.
"""

from __future__ import annotations

from typing import Any

from convshape.engine import Node
from convshape.errors import ConvshapeError
from convshape.lint import LintWarning
from convshape.receptive import Field, receptive_fields
from convshape.results import FileResult


def error_json(err: ConvshapeError, file: str) -> dict[str, Any]:
    """An error, or (with ``code`` instead of ``kind``) a warning: the same located fields."""
    ctx = err.context
    head = {"code": err.code} if isinstance(err, LintWarning) else {"kind": str(err.kind)}
    out: dict[str, Any] = {
        **head,
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


def row_json(
    node: Node,
    actual: dict[str, tuple[int, ...]] | None,
    saved: dict[str, int] | None,
    fields: dict[str, Field | None] | None = None,
) -> dict[str, Any]:
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
    if saved is not None:
        row["saved_bytes"] = saved.get(node.path, 0)
    if fields is not None:
        field = fields.get(node.path)
        row["receptive_field"] = list(field.size) if field else None
        row["effective_stride"] = list(field.stride) if field else None
        row["receptive_center"] = list(field.start) if field else None
    if node.decl.block:
        row["block"] = node.decl.block
    return row


def _count_json(result: FileResult) -> dict[str, Any]:
    """``"count"`` only with check --count: that peer's total, unit and rule."""
    if result.count is None and result.count_error is None:
        return {}
    if result.count is None:
        return {"count": {"error": result.count_error}}
    from convshape.conventions import CONVENTIONS

    conv = CONVENTIONS[result.count.convention]
    return {
        "count": {
            "convention": conv.name,
            "unit": conv.unit,
            "per_sample": conv.per_sample,
            "total": result.count.total,
        }
    }


def file_json(result: FileResult) -> dict[str, Any]:
    spec, prediction, t = result.spec, result.prediction, result.totals
    actual = result.verification.actual if result.verification else None
    saved = result.memory.saved if result.memory else None
    fields = receptive_fields(prediction) if prediction is not None else None
    return {
        "file": result.file,
        "name": spec.name if spec else None,
        "ok": result.ok,
        "verified": result.verified,
        "device": result.device,
        "mode": "train" if spec is not None and spec.training else "eval",
        "input_shape": list(spec.input_shape) if spec else None,
        "output_shape": list(prediction.output_shape)
        if prediction and prediction.output_shape
        else None,
        "params": None if t is None else t.params,
        "trainable_params": None if t is None else t.trainable_params,
        "macs": None if t is None else t.macs,
        "flops": None if t is None else t.flops,
        "param_bytes": None if t is None else t.param_bytes,
        "activation_bytes": None if t is None else t.activation_bytes,
        "memory": None if result.memory is None else result.memory.as_json(),
        **_count_json(result),
        "layers": [row_json(n, actual, saved, fields) for n in result.rows],
        "errors": [error_json(e, result.file) for e in result.errors],
        "warnings": [error_json(w, result.file) for w in result.warnings],
    }


def report_json(results: list[FileResult]) -> dict[str, Any]:
    failed = [r.file for r in results if not r.ok]
    return {
        "ok": not failed,
        "summary": {
            "files": len(results),
            "ok": len(results) - len(failed),
            "failed": failed,
            "errors": sum(len(r.errors) for r in results),
            "warnings": sum(len(r.warnings) for r in results),
        },
        "files": [file_json(r) for r in results],
    }
