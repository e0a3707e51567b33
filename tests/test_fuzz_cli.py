"""Fuzzing the command line and its environment: whatever the arguments, the locale, the
terminal width or the state of stdout, convshape ends with exit 0, 1 or 2 and no traceback.

Example counts are for the default profile and scale with HYPOTHESIS_PROFILE (quick, thorough).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers import ROOT, cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def scaled(examples: int) -> settings:
    return settings(
        max_examples=max(1, examples * settings().max_examples // 200),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


CONFIGS = ["configs/lenet5.yaml", "configs/resblk.yaml", "examples/broken.yaml", "missing.yaml"]
WORDS = st.sampled_from(
    [
        "check", "calc", "layers", "--no-verify", "--verify", "--device", "meta", "cuda", "gpu",
        "--batch", "0", "-1", "3", "99999999999999999999", "--format", "-f", "json", "table",
        "markdown", "xml", "--depth", "1", "--max-memory", "2G", "1e-300", "nan", "-q",
        "--quiet", "--strict", "--help", "-i", "--input", "1,3,8,8", "1,,3", "Conv2d(3, 8, 3)",
        "ReLU()", "Conv2d(", "--", "-", "", "\x1b[2J", "é", *CONFIGS,
    ]
)  # fmt: skip


@scaled(300)
@given(argv=st.lists(WORDS | st.text(max_size=12), max_size=8))
def test_fuzz_command_lines(argv: list[str]) -> None:
    if "--verify" in argv or ("--no-verify" not in argv and "check" in argv):
        argv = [a for a in argv if a != "--verify"] + ["--no-verify"]  # keep it torch-free, fast
    out = cli(*argv)
    assert out.code in (0, 1, 2), (argv, out)
    assert "Traceback" not in out.stdout + out.stderr


ENVIRONMENTS = st.fixed_dictionaries(
    {},
    optional={
        "LC_ALL": st.sampled_from(["C", "POSIX", "C.UTF-8"]),
        "PYTHONIOENCODING": st.sampled_from(["ascii", "latin-1", "utf-8", "cp1252"]),
        "PYTHONUTF8": st.sampled_from(["0", "1"]),
        "COLUMNS": st.sampled_from(["1", "20", "80", "250", "x"]),
        "TERM": st.sampled_from(["dumb", "xterm"]),
        "NO_COLOR": st.just("1"),
    },
)


@pytest.mark.parametrize("closed", ["", ">&-", "2>&-", ">&- 2>&-"])
def test_closed_streams(closed: str) -> None:
    proc = subprocess.run(
        f"{sys.executable} -m convshape check --no-verify configs/resblk.yaml {closed}",
        shell=True, cwd=ROOT, capture_output=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0
    assert b"Traceback" not in proc.stderr


@scaled(12)
@given(
    env=ENVIRONMENTS,
    args=st.sampled_from(
        [
            ["check", "--no-verify", "tests/data/warnings/CS105.yaml"],
            ["check", "--no-verify", "-f", "markdown", "configs/resnet18.yaml"],
            ["check", "--no-verify", "examples/broken.yaml"],
            ["calc", "Conv2d(3, 8, 3)", "-i", "1,3,8,8"],
            ["check", "--bogus"],
        ]
    ),
)
def test_fuzz_environments(env: dict[str, str], args: list[str]) -> None:
    environ = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "LANG")}
    proc = subprocess.run(
        [sys.executable, "-m", "convshape", *args],
        cwd=ROOT, env={**environ, **env}, capture_output=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode in (0, 1, 2), proc.stderr
    assert b"Traceback" not in proc.stdout + proc.stderr
