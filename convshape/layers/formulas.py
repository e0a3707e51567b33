"""The shared output-size formulas: pure, integer-exact, each citing its PyTorch source.

Each ``*_out`` returns the size; each ``*_text`` returns the two formula lines (symbols, then
numbers) for the same computation. Python's ``//`` rounds toward -inf like ATen's ``div_rtn``.
"""

from __future__ import annotations

from convshape.layers.base import dim_formula


def conv_out(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    # PyTorch Conv2d docs: floor((H_in + 2*padding - dilation*(kernel_size-1) - 1)/stride) + 1
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv_text(
    axis: str, size: int, kernel: int, stride: int, padding: int, dilation: int
) -> list[str]:
    return dim_formula(
        axis,
        f"floor(({axis}_in + 2*padding - dilation*(kernel_size-1) - 1) / stride) + 1",
        f"floor(({size} + 2*{padding} - {dilation}*({kernel}-1) - 1) / {stride}) + 1",
        conv_out(size, kernel, stride, padding, dilation),
    )


def same_padding(kernel: int, dilation: int) -> tuple[int, int]:
    """torch/nn/modules/conv.py ``_ConvNd.__init__``: the extra element goes at the end."""
    total = dilation * (kernel - 1)
    left = total // 2
    return left, total - left


def pool_out(
    size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool
) -> int:
    # aten/src/ATen/native/Pool.h pooling_output_shape_pad_lr
    out = (
        size + 2 * padding - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
    ) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # the last window would start in the right padding: dropped
    return out


def pool_text(
    axis: str, size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool
) -> list[str]:
    value = pool_out(size, kernel, stride, padding, dilation, ceil_mode)
    if not ceil_mode:
        return dim_formula(
            axis,
            f"floor(({axis}_in + 2*padding - dilation*(kernel_size-1) - 1) / stride) + 1",
            f"floor(({size} + 2*{padding} - {dilation}*({kernel}-1) - 1) / {stride}) + 1",
            value,
        )
    lines = dim_formula(
        axis,
        f"ceil(({axis}_in + 2*padding - dilation*(kernel_size-1) - 1) / stride) + 1",
        f"ceil(({size} + 2*{padding} - {dilation}*({kernel}-1) - 1) / {stride}) + 1",
        -(-(size + 2 * padding - dilation * (kernel - 1) - 1) // stride) + 1,
    )
    if value != -(-(size + 2 * padding - dilation * (kernel - 1) - 1) // stride) + 1:
        lines.append(
            f"{' ' * len(axis)}      - 1 = {value}: the last window would start at "
            f"{value * stride} >= {axis}_in + padding = {size + padding}, inside the right "
            "padding, so ceil_mode drops it"
        )
    return lines


def transpose_out(
    size: int, kernel: int, stride: int, padding: int, dilation: int, output_padding: int
) -> int:
    # PyTorch ConvTranspose2d docs:
    # (H_in-1)*stride - 2*padding + dilation*(kernel_size-1) + output_padding + 1
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def transpose_text(
    axis: str,
    size: int,
    kernel: int,
    stride: int,
    padding: int,
    dilation: int,
    output_padding: int,
) -> list[str]:
    return dim_formula(
        axis,
        f"({axis}_in-1)*stride - 2*padding + dilation*(kernel_size-1) + output_padding + 1",
        f"({size}-1)*{stride} - 2*{padding} + {dilation}*({kernel}-1) + {output_padding} + 1",
        transpose_out(size, kernel, stride, padding, dilation, output_padding),
    )
