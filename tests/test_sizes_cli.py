"""`convshape sizes` through the real command line, and the layer budget over many predictions."""

from __future__ import annotations

import json

from helpers import ROOT, cli

from convshape.engine import predict
from convshape.spec.parse import load


def test_sizes_table_and_json() -> None:
    out = cli("sizes", str(ROOT / "configs" / "unet.yaml"))
    assert out.code == 0, out.stderr
    assert "32, 48, ..., 1024 (every 16)" in out.stdout
    obj = json.loads(cli("sizes", "-f", "json", "--range", "64:128",
                         str(ROOT / "configs" / "unet.yaml")).stdout)  # fmt: skip
    assert obj["range"] == [64, 128]
    assert obj["sweeps"][0]["multiple"] == 16


def test_sizes_usage_and_errors(tmp_path: object) -> None:
    path = str(ROOT / "configs" / "lenet5.yaml")
    for bad in ("64", "0:10", "10:5", "a:b", "1:100001"):
        out = cli("sizes", "--range", bad, path)
        assert out.code == 2 and "error: --range:" in out.stderr, bad
    missing = cli("sizes", str(ROOT / "configs" / "nope.yaml"))
    assert missing.code == 1 and "no such file" in missing.stderr


def test_a_spec_predicts_again_and_again() -> None:
    """Block expansions count against the layer budget per prediction, not forever."""
    spec = load(ROOT / "configs" / "resnet50.yaml")
    for _ in range(600):  # 600 * ~170 expanded layers: past 100,000 if the count carried over
        assert predict(spec).ok
