"""torch as the oracle for memory: one spec, predicted by :mod:`convshape.footprint`, measured
by :mod:`convshape.measure` on a real model (training: what autograd saves, per module;
eval: the most activation bytes alive at once)."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

torch = pytest.importorskip("torch")

from convshape.builder import build  # noqa: E402
from convshape.engine import Prediction, predict  # noqa: E402
from convshape.footprint import footprint  # noqa: E402
from convshape.measure import TrainingFailure, live_bytes, saved_for_backward  # noqa: E402
from convshape.spec.parse import load  # noqa: E402
from convshape.verifier import DTYPES, composite_attention  # noqa: E402

SPECS = Path(tempfile.mkdtemp(prefix="convshape-memory-"))


def one_layer(
    type_name: str, kwargs: dict[str, Any], shape: tuple[int, ...], trainable: bool = True
) -> Prediction:
    """A real YAML spec of one layer, predicted."""
    layer = {"type": type_name, **{k: list(v) if isinstance(v, tuple) else v
                                   for k, v in kwargs.items()}}  # fmt: skip
    if not trainable:
        layer["trainable"] = False
    text = yaml.safe_dump({"input": list(shape), "layers": [layer]})
    path = SPECS / f"{abs(hash(text))}.yaml"
    path.write_text(text)
    return predict(load(path))


def measured(
    prediction: Prediction, device: str, dtype: str, input_grad: bool
) -> tuple[int | None, dict[str, int], int]:
    """(saved total or None where training raised, saved per module, inference peak)."""
    with torch.device(device):
        model = build(prediction).to(DTYPES[dtype])
    shape = prediction.spec.input_shape
    kind = DTYPES[dtype]
    base = (
        torch.empty(shape, device="meta", dtype=kind)
        if device == "meta"
        else torch.randn(shape, dtype=kind)
    )
    x = base.requires_grad_() * 1 if input_grad else base
    try:
        saved = saved_for_backward(model, x, {n.path for n in prediction.rows})
    except TrainingFailure as exc:
        if "not implemented for" in str(exc.__cause__):  # a missing kernel, not a rule
            raise
        saved = None
    model.eval()
    given = base.detach().clone()
    assert prediction.root is not None
    leaves = {n.path for n in prediction.root.leaves()}
    with torch.no_grad(), composite_attention(), live_bytes(model, given, leaves) as live:
        model(given)
    if saved is None:
        return None, {}, live.peak
    return saved.total, saved.by_module, live.peak


def assert_memory_agrees(
    prediction: Prediction,
    device: str = "meta",
    dtype: str = "float32",
    input_grad: bool = False,
) -> None:
    assert prediction.ok, prediction.error
    ours = footprint(prediction, dtype=dtype, device=device, input_grad=input_grad)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's own notes (padding='same', ...) are not ours
        total, by_module, peak = measured(prediction, device, dtype, input_grad)
    where = f"{prediction.spec.file} on {device}, {dtype}, input_grad={input_grad}"
    assert (total is None) == (ours.untrainable is not None), f"{where}: {ours.untrainable}"
    if total is not None:
        saved = {k: v for k, v in ours.saved.items() if v}
        theirs = {k: v for k, v in by_module.items() if v}
        assert saved == theirs, f"{where}: saved per module, ours {saved}, torch {theirs}"
        assert ours.saved_activation_bytes == total, f"{where}: saved total"
    assert ours.inference_peak_bytes == peak, (
        f"{where}: inference peak, ours {ours.inference_peak_bytes}, torch {peak}"
    )
