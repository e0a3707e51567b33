"""Hostile input, round 2, on the run side: the verification guard, allocation limits, the
environment, misleading messages, terminal safety and scale. Each asserts the message and its
location, or exit code 2 for a usage error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, cli, error_of, predict_text, write

from convshape.footprint import footprint
from convshape.memory import MAX_VERIFY_LAYERS

# ---------------------------------------------------------------- 3. the guard counts the living


def concat_of(branches: int, width: int) -> str:
    branch = "[{type: Conv2d, out_channels: 8, kernel_size: 1}]"
    return (
        f"input: [1, 8, {width}, {width}]\nlayers:\n"
        f"  - {{type: Concat, branches: [{', '.join([branch] * branches)}]}}\n"
    )


def test_a_concat_keeps_every_branch_output_alive(tmp_path: Path) -> None:
    p = predict_text(tmp_path, concat_of(40, 64))
    one = 4 * 8 * 64 * 64  # one [1, 8, 64, 64] float32 tensor
    # the input, 40 branch outputs and the joined result (320 channels) at the merge
    assert footprint(p).inference_peak_bytes == one + 40 * one + 40 * one
    path = write(tmp_path, concat_of(40, 64), "c.yaml")
    out = cli("check", "--max-memory", f"{40 * one}", "-q", str(path))
    assert out.code == 1
    need = 81 * one + 4 * (40 * (8 * 8 + 8))  # activations at the merge, 40 convs' weights
    assert (
        f"{path}:1:8: --max-memory 5 MiB: {need:,} bytes for inference (parameters, buffers "
        "and the activation peak) is over the limit of 5,242,880" in out.stderr
    )


@pytest.mark.torch  # the guard runs before a verification, which needs torch
def test_the_verifier_refuses_what_would_not_fit(tmp_path: Path) -> None:
    import convshape

    p = predict_text(tmp_path, concat_of(40, 64))
    result = convshape.verify(p, device="cpu", max_memory=1_000_000)
    assert not result.completed
    message = result.errors[0].render()
    assert (
        "verifying on cpu needs 10.1 MiB (float32: the parameters, buffers and the most " in message
    )


def test_a_layers_own_temporaries_are_counted(tmp_path: Path) -> None:
    text = "input: [1, 4, 4, 4]\nlayers:\n  - {type: LocalResponseNorm, size: 100000000}\n"
    path = write(tmp_path, text)
    out = cli("check", "--no-verify", "--max-memory", "2G", "-q", str(path))
    assert out.code == 1
    # the square padded along C: [1, 4 + 1e8 - 1, 4, 4] as float32, with the input and x*x
    need = 4 * 64 + 4 * 64 + 4 * (100_000_003 * 16)
    assert f"{path}:1:8: --max-memory 2 GiB: {need:,} bytes for inference" in out.stderr


@pytest.mark.torch  # the guard runs before a verification, which needs torch
def test_a_python_loop_per_channel_is_refused_even_on_meta(tmp_path: Path) -> None:
    text = "input: [1, 3000000, 1, 1]\nlayers:\n  - {type: CrossMapLRN2d, size: 3}\n"
    path = write(tmp_path, text)
    out = cli("check", "--device", "meta", "-q", str(path))
    assert out.code == 1
    assert (
        f"{path}:3:5: layers[0] (CrossMapLRN2d): verifying would run a Python loop of 3,000,000 "
        "steps (CrossMapLRN2d at 0 "
        "loops over its 3,000,000 channels), over the limit of 100,000"
    ) in out.stderr
    assert cli("check", "--no-verify", "-q", str(path)).code == 0


# ---------------------------------------------------------------- 4. what torch cannot allocate


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (
            "input: [1, 4294967296]\nlayers:\n  - {type: Linear, out_features: 4294967296}\n",
            "3:5",
            "the weights would have about 2**64 elements, 2**66 bytes as float32",
        ),
        (
            "input: [2305843009213693952, 1]\nlayers: [ReLU]\n",
            "1:8",
            "input [2305843009213693952, 1] would need about 2**63 bytes as float32, more than "
            "torch can allocate, even on meta",
        ),
    ],
)
def test_what_torch_cannot_allocate_is_refused_at_the_layer(
    tmp_path: Path, text: str, where: str, message: str
) -> None:
    err = error_of(tmp_path, text)
    assert err.render().startswith(f"{tmp_path}/model.yaml:{where}: ")
    assert message in err.message


# ---------------------------------------------------------------- 5. the environment


def run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "convshape", *args], cwd=ROOT, capture_output=True,
        timeout=120, **kwargs,  # type: ignore[call-overload]
    )  # fmt: skip


def test_a_closed_stdout_degrades_without_a_traceback() -> None:
    proc = subprocess.run(
        f"{sys.executable} -m convshape check --no-verify configs/lenet5.yaml >&-",
        shell=True, cwd=ROOT, capture_output=True, timeout=120,
    )  # fmt: skip
    assert b"Traceback" not in proc.stderr
    assert proc.returncode == 0


@pytest.mark.parametrize("args", [["check", "--no-verify"], ["check", "--no-verify", "-q"]])
def test_a_c_locale_stdout_shows_unicode_escaped(tmp_path: Path, args: list[str]) -> None:
    path = write(tmp_path, "name: réseau ✓\ninput: [1, 3]\nlayers: [ReLU]\n")
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""}
    proc = run([*args, str(path)], env=env)
    assert proc.returncode == 0, proc.stderr
    assert b"Traceback" not in proc.stderr


# ---------------------------------------------------------------- 7. messages that mislead


def test_a_bad_batch_is_a_usage_error_naming_the_option() -> None:
    zero = cli("check", "--no-verify", "--batch", "0", "configs/lenet5.yaml")
    assert zero.code == 2 and "--batch" in zero.stderr
    huge = cli("check", "--no-verify", "--batch", str(2**62), "configs/lenet5.yaml")
    assert huge.code == 2
    assert (
        f"--batch {2**62}: the input [{2**62}, 1, 32, 32] would have more elements" in huge.stderr
    )
    assert "lenet5.yaml:2" not in huge.stderr


def test_a_shortcut_of_variable_named_layers_works_as_a_body_does(tmp_path: Path) -> None:
    p = predict_text(
        tmp_path,
        """
        vars: {norm: BatchNorm2d}
        input: [1, 4, 8, 8]
        layers:
          - {type: Residual, body: [$norm, ReLU], shortcut: [$norm]}
        """,
    )
    assert p.error is None
    assert [n.type_name for n in p.rows] == [
        "Residual", "Sequential", "BatchNorm2d", "ReLU", "Sequential", "BatchNorm2d",
    ]  # fmt: skip


# ---------------------------------------------------------------- 8. terminal safety


def test_control_characters_from_a_spec_are_shown_escaped(tmp_path: Path) -> None:
    path = tmp_path / "model.yaml"
    path.write_text('input: [1, 3]\nlayers:\n  - {type: "Re\\e]0;pwned\\aLU"}\n')
    out = cli("check", "--no-verify", str(path))
    assert out.code == 1
    assert "\x1b" not in out.stderr and "\x07" not in out.stderr
    assert "unknown layer type 'Re\\x1b]0;pwned\\x07LU'" in out.stderr
    data = json.loads(cli("check", "--no-verify", "-f", "json", str(path)).stdout)
    assert "\x1b" in data["files"][0]["errors"][0]["message"]  # JSON keeps the text, escaped


def test_a_name_with_escapes_is_safe_in_the_table(tmp_path: Path) -> None:
    path = write(tmp_path, 'name: "evil\\e[2J"\ninput: [1, 3]\nlayers: [ReLU]\n')
    out = cli("check", "--no-verify", str(path))
    assert out.code == 0
    assert "\x1b" not in out.stdout and "evil\\x1b[2J" in out.stdout


# ---------------------------------------------------------------- 9. scale


@pytest.mark.torch  # the guard runs before a verification, which needs torch
def test_verification_is_capped_and_says_so(tmp_path: Path) -> None:
    n = MAX_VERIFY_LAYERS + 1
    path = write(
        tmp_path,
        "input: [1, 2]\nlayers:\n"
        + f"  - {{type: ReLU, repeat: {MAX_VERIFY_LAYERS // 2}}}\n" * 2
        + "  - ReLU\n",
    )
    assert cli("check", "--no-verify", "-q", str(path)).code == 0
    out = cli("check", "--device", "meta", "-q", str(path))
    assert out.code == 1
    assert f"verifying {n:,} layers would take minutes (the limit is {n - 1:,}" in out.stderr


@pytest.mark.torch
def test_the_largest_verifiable_spec_verifies(tmp_path: Path) -> None:
    half = MAX_VERIFY_LAYERS // 2
    path = write(tmp_path, "input: [1, 2]\nlayers:\n" + f"  - {{type: ReLU, repeat: {half}}}\n" * 2)
    out = cli("check", "--device", "meta", "-q", str(path))
    assert out.code == 0, out.stderr
