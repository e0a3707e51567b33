"""The verifier's FLOP counter against torch's own FlopCounterMode, module by module.

The verifier counts with a FlopCounterMode whose dispatch mode does not import torch._dynamo
(:class:`convshape.verifier._Counting`): it opts out of torch's "disable dynamo" wrapper and
runs ops that have a Python decomposition as themselves. Here torch's stock FlopCounterMode is
the oracle: every layer sample (every registered type) and every config give the same count
per module, and a verification on cpu leaves torch._dynamo unimported (a fresh process).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT
from layer_samples import SAMPLES

import convshape
from convshape.engine import Prediction

pytestmark = pytest.mark.torch
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def per_module(prediction: Prediction, device: str, stock: bool) -> dict[str, int]:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from convshape import verifier

    counter = (
        FlopCounterMode(display=False, custom_mapping=verifier._UNCOUNTED)
        if stock
        else verifier.flop_counter_mode()
    )
    result = verifier.Verification(device)
    recorder = verifier._Recorder(counter, result)
    with torch.device(device):
        torch.manual_seed(0)
        model = convshape.build(prediction).eval()
    for path, module in model.named_modules():
        if path:
            module.register_forward_pre_hook(recorder.pre(path))
            module.register_forward_hook(recorder.post(path))
    x = verifier._dummy(prediction.spec.input_shape, device)
    with torch.no_grad(), verifier.composite_attention(), counter:
        model(x)
    return result.flops


@pytest.fixture(scope="module")
def spec_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("flops")


def _one_layer(folder: Path, name: str, kwargs: dict[str, Any], shape: tuple[int, ...]) -> Any:
    import yaml

    layer = {"type": name, **{k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"input": list(shape), "layers": [layer]}))
    return convshape.predict(convshape.load(path))


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_layer_sample_counts_as_torch_counts(spec_dir: Path, name: str) -> None:
    for kwargs, shape in SAMPLES[name]:
        prediction = _one_layer(spec_dir, name, kwargs, shape)
        for device in ("cpu", "meta"):
            ours = per_module(prediction, device, stock=False)
            assert ours == per_module(prediction, device, stock=True), (kwargs, shape, device)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_every_config_counts_as_torch_counts(config: Path) -> None:
    prediction = convshape.predict(convshape.load(config))
    ours = per_module(prediction, "meta", stock=False)
    assert ours == per_module(prediction, "meta", stock=True)
    assert sum(ours[n.path] for n in prediction.root.children) == 2 * prediction.totals.macs  # type: ignore[union-attr]


def test_verifying_on_cpu_does_not_import_dynamo() -> None:
    code = (
        "import sys, convshape\n"
        "r = convshape.verify(convshape.predict(convshape.load(sys.argv[1])), device='cpu')\n"
        "assert r.completed and not r.errors, r.errors\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "configs/resnet18.yaml")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "False"
