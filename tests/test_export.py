"""``convshape export``: the generated module is plain PyTorch that gives convshape's model.

For every shipped config the generated file passes ruff (check and format, ruff's own defaults),
imports in a process where ``import convshape`` fails, loads ``convshape.build``'s state_dict with
``strict=True`` (same keys, shapes and order), and computes the same output on the same input.
Hypothesis draws specs (blocks, containers, every layer type) and checks the same in process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import ROOT, cli
from hypothesis import HealthCheck, assume, given, settings
from test_fuzz import specs

import convshape
from convshape.export import export

pytestmark = pytest.mark.torch
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))

CHILD = """
import importlib.util, json, sys
sys.modules["convshape"] = None  # `import convshape` raises ImportError from here on
import torch
results = {}
for name in json.loads(sys.argv[1]):
    spec = importlib.util.spec_from_file_location(name, f"{sys.argv[2]}/{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    saved = torch.load(f"{sys.argv[2]}/{name}.pt")
    model = getattr(module, saved["root"])().eval()
    model.load_state_dict(saved["state"], strict=True)
    with torch.no_grad():
        out = model(saved["input"])
    results[name] = {
        "keys": list(model.state_dict()) == list(saved["state"]),
        "equal": bool(torch.equal(out, saved["output"])),
    }
print(json.dumps(results))
"""


def _root_class(text: str) -> str:
    return text.rsplit("    model = ", 1)[1].split("(", 1)[0]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every config exported to NAME.py, with its built model's weights, input and output."""
    import torch

    folder = tmp_path_factory.mktemp("export")
    for config in CONFIGS:
        prediction = convshape.predict(convshape.load(config))
        text = export(prediction)
        (folder / f"{config.stem}.py").write_text(text, encoding="utf-8")
        torch.manual_seed(0)
        model = convshape.build(prediction).eval()
        x = torch.randn(prediction.spec.input_shape)
        with torch.no_grad():
            out = model(x)
        saved = {"root": _root_class(text), "state": model.state_dict(), "input": x, "output": out}
        torch.save(saved, folder / f"{config.stem}.pt")
        del model, saved
    return folder


def test_every_config_round_trips_without_convshape(exported: Path) -> None:
    names = [c.stem for c in CONFIGS]
    run = subprocess.run(
        [sys.executable, "-I", "-c", CHILD, json.dumps(names), str(exported)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(run.stdout)
    assert results == {name: {"keys": True, "equal": True} for name in names}


def test_generated_code_passes_ruff_as_written(exported: Path) -> None:
    ruff = Path(sys.executable).with_name("ruff")
    for command in (["check"], ["format", "--check", "--diff"]):
        run = subprocess.run(
            [str(ruff), *command, "--isolated", "--no-cache", str(exported)],
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]


# ------------------------------------------------------------------------------ what it reads


def test_a_block_becomes_one_class_with_its_parameters() -> None:
    text = export(convshape.predict(convshape.load(ROOT / "configs/resnet50.yaml")))
    assert text.count("class Bottleneck(nn.Sequential):") == 1
    assert text.count("class Stage(nn.Sequential):") == 1
    assert "class ResNet50(nn.Sequential):" in text
    # the parameters the uses differ in, named after the block's own parameters
    bottleneck = text.split("class Bottleneck(nn.Sequential):")[1].split("\nclass ")[0]
    for param in ("in_channels: int", "width: int", "stride: int", "shortcut: nn.Module | None"):
        assert param in bottleneck
    assert "nn.Conv2d(in_channels, width, kernel_size=1, bias=False)" in bottleneck
    assert "x = self[0](x)  # Residual: (N, 4*width, H/stride, W/stride)" in bottleneck
    assert "import convshape" not in text and "from convshape" not in text
    # the docstring: name and counts
    assert text.startswith('"""ResNet-50: exported by convshape from resnet50.yaml.')
    assert "25,557,032 parameters" in text and "4,089,184,256 multiply-accumulates" in text


def test_shape_comments_in_the_top_level_forward() -> None:
    text = export(convshape.predict(convshape.load(ROOT / "configs/lenet5.yaml")))
    forward = text.split("def forward")[-1]
    lines = [line for line in forward.splitlines() if "x = self[" in line]
    prediction = convshape.predict(convshape.load(ROOT / "configs/lenet5.yaml"))
    assert prediction.root is not None
    assert len(lines) == len(prediction.root.children)
    for line, node in zip(lines, prediction.root.children, strict=True):
        shape = ", ".join(["N", *map(str, node.output_shape[1:])])
        assert line.endswith(f"# {node.type_name}: ({shape})"), line


# ------------------------------------------------------------------------------ the command


def test_cli_writes_the_module(tmp_path: Path) -> None:
    out = tmp_path / "model.py"
    code, stdout, stderr = cli("export", str(ROOT / "configs/resblk.yaml"), "-o", str(out))
    assert (code, stdout, stderr) == (0, "", "")
    code, stdout, _ = cli("export", str(ROOT / "configs/resblk.yaml"))
    assert code == 0 and stdout == out.read_text(encoding="utf-8")


def test_cli_refuses_a_failing_spec_and_its_own_input(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        "input: [1, 3, 4, 4]\nlayers:\n  - {type: Conv2d, out_channels: 2, kernel_size: 5}\n"
    )
    target = tmp_path / "model.py"
    target.write_text("keep me\n")
    code, _, stderr = cli("export", str(spec), "-o", str(target))
    assert code == 1 and "bad.yaml:3" in stderr and "Traceback" not in stderr
    assert target.read_text() == "keep me\n"  # nothing of the user's is lost
    good = ROOT / "configs/resblk.yaml"
    before = good.read_bytes()
    code, _, stderr = cli("export", str(good), "-o", str(good))
    assert code == 2 and "that is the input file" in stderr
    assert good.read_bytes() == before


# ------------------------------------------------------------------------------ any spec


def _module(text: str) -> types.ModuleType:
    module = types.ModuleType("exported")
    exec(compile(text, "exported.py", "exec"), module.__dict__)  # the generated file, as is
    return module


@settings(
    max_examples=max(20, settings().max_examples // 4),
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(spec=specs(hostile=False))
def test_any_spec_round_trips(
    tmp_path_factory: pytest.TempPathFactory, spec: dict[str, Any]
) -> None:
    import torch

    path = tmp_path_factory.mktemp("spec") / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    try:
        prediction = convshape.predict(convshape.load(path))
    except convshape.ConvshapeError:
        assume(False)
        return
    assume(prediction.ok and (prediction.totals is None or prediction.totals.params < 10**6))
    text = export(prediction)
    torch.manual_seed(0)
    model = convshape.build(prediction).eval()
    module = _module(text)
    mirror = getattr(module, _root_class(text))().eval()
    assert list(mirror.state_dict()) == list(model.state_dict())
    mirror.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(prediction.spec.input_shape)
    with torch.no_grad():  # clones: an in-place first layer writes its input
        ours, theirs = mirror(x.clone()), model(x.clone())
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0, equal_nan=True)  # bit for bit
