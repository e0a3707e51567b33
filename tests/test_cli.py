"""The command line as a process: exit codes, stdout/stderr, JSON, and not importing torch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import ROOT, run_cli, write

LENET = str(ROOT / "configs" / "lenet5.yaml")


def test_calc_prints_shape_params_macs_and_formula_without_torch() -> None:
    proc = run_cli("calc", "Conv2d(16, 33, 3, stride=2)", "--input", "20,16,50,100",
                   block_torch=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "output  [20, 33, 24, 49]" in proc.stdout
    assert "params  4,785" in proc.stdout  # 33*16*3*3 + 33
    assert "= floor((50 + 2*0 - 1*(3-1) - 1) / 2) + 1 = 24" in proc.stdout


def test_calc_json_is_one_object_with_the_contract_fields() -> None:
    proc = run_cli("calc", "Conv2d(16, 33, 3, stride=2)", "-i", "20,16,50,100", "--format",
                   "json", block_torch=True)  # fmt: skip
    assert proc.returncode == 0
    obj = json.loads(proc.stdout)
    assert set(obj) == {"type", "input_shape", "output_shape", "params", "macs", "flops", "formula"}
    assert obj["output_shape"] == [20, 33, 24, 49]
    assert obj["macs"] == 20 * 33 * 24 * 49 * 16 * 3 * 3
    assert obj["flops"] == 2 * obj["macs"]
    assert all(isinstance(line, str) for line in obj["formula"])


@pytest.mark.parametrize(
    ("expression", "shape", "kind", "text"),
    [
        ("Conv2d(10, 5, 3, groups=6)", "1,10,8,8", "shape", "in_channels must be divisible by groups"),
        ("Conv2d(3, 8, 3)", "1,4,9,9", "shape", "in_channels: 4 would fit"),
        ("Conv2dd(3, 8, 3)", "1,3,9,9", "spec", "unknown layer type 'Conv2dd'"),
        ("__import__('os').system('true')", "1", "spec", "expected a layer call"),
        ("Conv2d(3, 8, kernel_size=open('x'))", "1,3,9,9", "spec", "must be a literal"),
        ("Conv2d(3, 8, 3)", "1,3,x", "spec", "--input must be ints such as 1,3,224,224 or 1x3x224x224"),
    ],
)  # fmt: skip
def test_calc_errors_are_json_with_exit_1(
    expression: str, shape: str, kind: str, text: str
) -> None:
    proc = run_cli("calc", expression, "-i", shape, "-f", "json", block_torch=True)
    assert proc.returncode == 1
    obj = json.loads(proc.stdout)
    assert obj["error"]["kind"] == kind
    assert text in obj["error"]["message"]
    assert "Traceback" not in proc.stderr


def test_check_no_verify_never_imports_torch() -> None:
    proc = run_cli("check", "--no-verify", LENET, block_torch=True)
    assert proc.returncode == 0, proc.stderr
    assert "Total params: 61,706" in proc.stdout


def test_check_default_without_torch_predicts_and_says_so() -> None:
    proc = run_cli("check", LENET, "-q", block_torch=True)
    assert proc.returncode == 0, proc.stderr
    assert "predicting only" in proc.stderr


def test_check_verify_without_torch_is_a_usage_error() -> None:
    proc = run_cli("check", "--verify", LENET, block_torch=True)
    assert proc.returncode == 2
    assert "pip install 'convshape[torch]'" in proc.stderr


def test_check_exit_codes_across_good_and_bad_files(tmp_path: Path) -> None:
    bad = write(
        tmp_path,
        "input: [1, 3, 4, 4]\nlayers:\n  - {type: Conv2d, out_channels: 2, kernel_size: 5}\n",
    )
    proc = run_cli("check", "--no-verify", "-q", LENET, str(bad), block_torch=True)
    assert proc.returncode == 1
    assert f"{bad}:3:5: layers[0] (Conv2d): output height would be 0" in proc.stderr
    assert "lenet5.yaml: ok" in proc.stdout
    usage = run_cli("check", "--no-verify", "--format", "xml", LENET, block_torch=True)
    assert usage.returncode == 2


def test_check_json_contract_no_verify(tmp_path: Path) -> None:
    proc = run_cli("check", "--no-verify", "-f", "json", LENET, block_torch=True)
    obj = json.loads(proc.stdout)
    (f,) = obj["files"]
    assert f["ok"] is True and f["verified"] is False
    assert f["params"] == 61706 and f["macs"] == 416520 and f["flops"] == 833040
    row = f["layers"][0]
    assert row == {"path": "0", "name": None, "type": "Conv2d", "depth": 1,
                   "input_shape": [1, 1, 32, 32], "output_shape": [1, 6, 28, 28],
                   "params": 156, "macs": 117600, "saved_bytes": 4 * 32 * 32,
                   "receptive_field": [5, 5], "effective_stride": [1, 1],
                   "receptive_center": [2.0, 2.0]}  # fmt: skip
    assert sum(r["params"] for r in f["layers"]) == f["params"]
    assert sum(r["saved_bytes"] for r in f["layers"]) == f["memory"]["saved_activation_bytes"]
    assert set(f["memory"]) == {
        "param_bytes", "buffer_bytes", "grad_bytes", "optimizer_bytes", "saved_activation_bytes",
        "inference_peak_bytes", "training_peak_bound_bytes", "dtype", "optimizer", "device",
    }  # fmt: skip
    assert sum(r["macs"] for r in f["layers"]) == f["macs"]


def test_check_json_error_object_is_located(tmp_path: Path) -> None:
    bad = write(
        tmp_path,
        "input: [1, 3, 8, 8]\nlayers:\n  - {type: Conv2d, out_channels: 2, kernel_size: 3}\n  - {type: MaxPool2d, kernel_size: 8}\n",
    )
    proc = run_cli("check", "--no-verify", "-f", "json", str(bad), block_torch=True)
    assert proc.returncode == 1
    (f,) = json.loads(proc.stdout)["files"]
    assert f["ok"] is False
    (err,) = f["errors"]
    assert (err["kind"], err["file"], err["line"], err["column"], err["layer"]) == (
        "shape",
        str(bad),
        4,
        5,
        "1",
    )
    assert [r["path"] for r in f["layers"]] == ["0"]  # what could still be computed
