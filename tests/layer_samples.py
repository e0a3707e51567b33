"""Sample cases for every registered layer type: ``SAMPLES[type_name]`` is a list of
``(kwargs, input_shape)``.

The table is for probing what each torch layer saves for backward in training mode and what
memory it uses in eval mode, so the cases pick the variants that change that: in-place or not,
affine / running statistics on or off, ceil mode, groups and padding modes, dropout on or off,
batch first or not, norm first or not. Every case is valid: torch accepts it in train and eval
mode, float32, on the meta device and on the CPU, without a warning, and convshape predicts
torch's output shape. Inputs are small (at most about 4,000 elements), with a batch of N=2 where
the layer takes a batch, so batch-dependent statistics show. Nothing here imports torch.
"""

from __future__ import annotations

from typing import Any

Case = tuple[dict[str, Any], tuple[int, ...]]

# ----------------------------------------------------------------- shapes used over and over

IMG = (2, 8, 6, 6)  # (N, C, H, W)
SEQ = (2, 5, 16)  # (N, L, E), or (N, C, L)
VEC = (2, 16)  # (N, F)
VOL = (2, 4, 4, 6, 6)  # (N, C, D, H, W)


def _plain() -> list[Case]:
    """An activation without arguments: an image, a sequence and a batch of vectors."""
    return [({}, IMG), ({}, SEQ), ({}, VEC)]


def _inplace(**kwargs: Any) -> list[Case]:
    """An activation with ``inplace``: both ways on an image, out of place on a sequence."""
    return [
        ({**kwargs, "inplace": False}, IMG),
        ({**kwargs, "inplace": True}, IMG),
        ({**kwargs, "inplace": False}, SEQ),
    ]


def _dropout(shape: tuple[int, ...]) -> list[Case]:
    """The dropout family: p=0.5 and p=0.0, each in place and not."""
    return [
        ({"p": 0.5, "inplace": False}, shape),
        ({"p": 0.5, "inplace": True}, shape),
        ({"p": 0.0, "inplace": False}, shape),
        ({"p": 0.0, "inplace": True}, shape),
    ]


SAMPLES: dict[str, list[Case]] = {
    # ------------------------------------------------------------------------- activations
    "Sigmoid": _plain(),
    "Tanh": _plain(),
    "LogSigmoid": _plain(),
    "Softsign": _plain(),
    "Tanhshrink": _plain(),
    "ReLU": _inplace(),
    "ReLU6": _inplace(),
    "Hardsigmoid": _inplace(),
    "Hardswish": _inplace(),
    "SiLU": _inplace(),
    "Mish": _inplace(),
    "SELU": _inplace(),
    "ELU": [*_inplace(), ({"alpha": 0.5, "inplace": True}, SEQ)],
    "CELU": [*_inplace(), ({"alpha": 2.0, "inplace": True}, SEQ)],
    "LeakyReLU": [*_inplace(), ({"negative_slope": 0.2, "inplace": True}, SEQ)],
    "Hardshrink": [({}, IMG), ({"lambd": 0.25}, SEQ)],
    "Softshrink": [({}, IMG), ({"lambd": 0.25}, SEQ)],
    "Softplus": [({}, IMG), ({"beta": 2.0, "threshold": 10.0}, SEQ)],
    "GELU": [({}, IMG), ({"approximate": "tanh"}, SEQ), ({}, VEC)],
    "Threshold": _inplace(threshold=0.1, value=0.0),
    "RReLU": [*_inplace(), ({"lower": 0.1, "upper": 0.2, "inplace": True}, SEQ)],
    "Hardtanh": [*_inplace(), ({"min_val": -2.0, "max_val": 2.0, "inplace": True}, SEQ)],
    "PReLU": [
        ({}, IMG),
        ({"num_parameters": 8}, IMG),
        ({"num_parameters": 16, "init": 0.1}, VEC),
    ],
    "GLU": [({}, SEQ), ({"dim": 1}, IMG), ({"dim": 1}, VEC)],
    "Softmax": [({"dim": 1}, VEC), ({"dim": -1}, SEQ), ({"dim": 1}, IMG)],
    "Softmin": [({"dim": 1}, VEC), ({"dim": -1}, SEQ), ({"dim": 1}, IMG)],
    "LogSoftmax": [({"dim": 1}, VEC), ({"dim": -1}, SEQ), ({"dim": 1}, IMG)],
    "Softmax2d": [({}, IMG), ({}, (8, 6, 6))],
    # ------------------------------------------------------------------------------ dropout
    "Dropout": _dropout(IMG),
    "AlphaDropout": _dropout(SEQ),
    "FeatureAlphaDropout": _dropout(IMG),
    "Dropout1d": _dropout(SEQ),
    "Dropout2d": _dropout(IMG),
    "Dropout3d": _dropout(VOL),
    # ---------------------------------------------------------------------------- attention
    "SelfAttention": [
        ({"embed_dim": 16, "num_heads": 2}, SEQ),
        ({"embed_dim": 16, "num_heads": 4, "dropout": 0.1}, SEQ),
        ({"embed_dim": 16, "num_heads": 2, "batch_first": False}, (5, 2, 16)),
        ({"embed_dim": 16, "num_heads": 2, "dropout": 0.1, "bias": False}, SEQ),
    ],
    "TransformerEncoderLayer": [
        ({"d_model": 16, "nhead": 2, "dim_feedforward": 32}, (5, 2, 16)),
        (
            {
                "d_model": 16,
                "nhead": 2,
                "dim_feedforward": 32,
                "dropout": 0.0,
                "activation": "gelu",
                "batch_first": True,
                "norm_first": True,
            },
            SEQ,
        ),
        (
            {
                "d_model": 16,
                "nhead": 4,
                "dim_feedforward": 32,
                "activation": "gelu",
                "batch_first": True,
                "bias": False,
            },
            SEQ,
        ),
        (
            {"d_model": 16, "nhead": 2, "dim_feedforward": 32, "dropout": 0.0, "norm_first": True},
            (5, 2, 16),
        ),
    ],
    "TransformerEncoder": [
        ({"d_model": 16, "nhead": 2, "dim_feedforward": 32, "num_layers": 2}, (5, 2, 16)),
        (
            {
                "d_model": 16,
                "nhead": 2,
                "dim_feedforward": 32,
                "dropout": 0.0,
                "activation": "gelu",
                "batch_first": True,
                "norm_first": True,
                "num_layers": 2,
            },
            SEQ,
        ),
        (
            {
                "d_model": 16,
                "nhead": 4,
                "dim_feedforward": 32,
                "activation": "gelu",
                "batch_first": True,
            },
            SEQ,
        ),
    ],
    # ---------------------------------------------------------------------------- conv
    "Conv1d": [
        ({"in_channels": 4, "out_channels": 8, "kernel_size": 3, "padding": 1}, (2, 4, 32)),
        (
            {
                "in_channels": 4,
                "out_channels": 8,
                "kernel_size": 3,
                "stride": 2,
                "groups": 2,
                "bias": False,
            },
            (2, 4, 32),
        ),
        (
            {
                "in_channels": 4,
                "out_channels": 4,
                "kernel_size": 3,
                "padding": 1,
                "groups": 4,
                "padding_mode": "reflect",
            },
            (2, 4, 32),
        ),
        (
            {
                "in_channels": 4,
                "out_channels": 8,
                "kernel_size": 3,
                "padding": "same",
                "dilation": 2,
                "padding_mode": "replicate",
            },
            (2, 4, 32),
        ),
    ],
    "Conv2d": [
        ({"in_channels": 4, "out_channels": 8, "kernel_size": 3, "padding": 1}, (2, 4, 12, 12)),
        (
            {
                "in_channels": 4,
                "out_channels": 8,
                "kernel_size": 3,
                "stride": 2,
                "groups": 2,
                "bias": False,
            },
            (2, 4, 12, 12),
        ),
        (
            {
                "in_channels": 8,
                "out_channels": 8,
                "kernel_size": 3,
                "padding": 1,
                "groups": 8,
                "padding_mode": "reflect",
            },
            IMG,
        ),
        (
            {
                "in_channels": 8,
                "out_channels": 4,
                "kernel_size": (3, 1),
                "padding": "same",
                "dilation": 2,
                "padding_mode": "circular",
            },
            IMG,
        ),
    ],
    "Conv3d": [
        ({"in_channels": 4, "out_channels": 8, "kernel_size": 3, "padding": 1}, VOL),
        (
            {
                "in_channels": 4,
                "out_channels": 8,
                "kernel_size": 3,
                "stride": 2,
                "groups": 2,
                "bias": False,
            },
            VOL,
        ),
        (
            {
                "in_channels": 4,
                "out_channels": 4,
                "kernel_size": 3,
                "padding": 1,
                "groups": 4,
                "padding_mode": "reflect",
            },
            VOL,
        ),
    ],
    "ConvTranspose1d": [
        ({"in_channels": 4, "out_channels": 8, "kernel_size": 3}, (2, 4, 16)),
        (
            {
                "in_channels": 4,
                "out_channels": 8,
                "kernel_size": 3,
                "stride": 2,
                "padding": 1,
                "output_padding": 1,
                "groups": 2,
                "bias": False,
            },
            (2, 4, 16),
        ),
        (
            {"in_channels": 4, "out_channels": 4, "kernel_size": 3, "groups": 4, "dilation": 2},
            (2, 4, 16),
        ),
    ],
    "ConvTranspose2d": [
        ({"in_channels": 8, "out_channels": 4, "kernel_size": 3}, IMG),
        (
            {
                "in_channels": 8,
                "out_channels": 4,
                "kernel_size": 2,
                "stride": 2,
                "groups": 2,
                "bias": False,
            },
            IMG,
        ),
        (
            {
                "in_channels": 8,
                "out_channels": 8,
                "kernel_size": 3,
                "stride": 2,
                "padding": 1,
                "output_padding": 1,
                "groups": 8,
            },
            IMG,
        ),
    ],
    "ConvTranspose3d": [
        ({"in_channels": 4, "out_channels": 4, "kernel_size": 3}, VOL),
        (
            {
                "in_channels": 4,
                "out_channels": 2,
                "kernel_size": 2,
                "stride": 2,
                "groups": 2,
                "bias": False,
            },
            (2, 4, 3, 3, 3),
        ),
    ],
    # ---------------------------------------------------------------------------- fold
    "Fold": [
        ({"output_size": (6, 6), "kernel_size": 3}, (2, 18, 16)),
        ({"output_size": (8, 8), "kernel_size": 2, "stride": 2}, (2, 12, 16)),
        ({"output_size": (6, 6), "kernel_size": 3, "padding": 1}, (18, 36)),
    ],
    "Unfold": [
        ({"kernel_size": 3}, (2, 3, 8, 8)),
        ({"kernel_size": 2, "stride": 2}, (2, 3, 8, 8)),
        ({"kernel_size": 3, "padding": 1, "dilation": 2}, (3, 8, 8)),
    ],
    # ----------------------------------------------------------------- convshape's wrappers
    "LayerScale": [
        ({"num_features": 8}, IMG),
        ({"num_features": 16, "init_value": 0.1, "dim": -1}, SEQ),
    ],
    "ClassToken": [({"embed_dim": 16}, SEQ), ({"embed_dim": 8}, (2, 9, 8))],
    "PositionEmbedding": [
        ({"num_positions": 5, "embed_dim": 16}, SEQ),
        ({"num_positions": 9, "embed_dim": 8}, (2, 9, 8)),
    ],
    "StochasticDepth": [
        ({"p": 0.0}, IMG),
        ({"p": 0.5}, IMG),
        ({"p": 0.5, "mode": "batch"}, IMG),
        ({"p": 0.0, "mode": "batch"}, SEQ),
    ],
    # --------------------------------------------------------------------------- norms
    "BatchNorm1d": [
        ({"num_features": 16}, VEC),
        ({"num_features": 5}, SEQ),
        ({"num_features": 16, "affine": False}, VEC),
        ({"num_features": 5, "track_running_stats": False, "bias": False}, SEQ),
    ],
    "BatchNorm2d": [
        ({"num_features": 8}, IMG),
        ({"num_features": 8, "affine": False}, IMG),
        ({"num_features": 8, "track_running_stats": False}, IMG),
        ({"num_features": 8, "affine": False, "track_running_stats": False}, IMG),
    ],
    "BatchNorm3d": [
        ({"num_features": 4}, VOL),
        ({"num_features": 4, "affine": False}, VOL),
        ({"num_features": 4, "track_running_stats": False, "bias": False}, VOL),
    ],
    "InstanceNorm1d": [
        ({"num_features": 5}, SEQ),
        ({"num_features": 5, "affine": True}, SEQ),
        ({"num_features": 5, "track_running_stats": True}, SEQ),
        ({"num_features": 5, "affine": True, "track_running_stats": True}, (5, 16)),
    ],
    "InstanceNorm2d": [
        ({"num_features": 8}, IMG),
        ({"num_features": 8, "affine": True}, IMG),
        ({"num_features": 8, "track_running_stats": True}, IMG),
        ({"num_features": 8, "affine": True, "track_running_stats": True}, (8, 6, 6)),
    ],
    "InstanceNorm3d": [
        ({"num_features": 4}, VOL),
        ({"num_features": 4, "affine": True}, VOL),
        ({"num_features": 4, "affine": True, "track_running_stats": True}, VOL),
    ],
    "GroupNorm": [
        ({"num_groups": 2, "num_channels": 8}, IMG),
        ({"num_groups": 2, "num_channels": 8, "affine": False}, IMG),
        ({"num_groups": 8, "num_channels": 8, "bias": False}, IMG),
        ({"num_groups": 1, "num_channels": 5}, SEQ),
    ],
    "LayerNorm": [
        ({"normalized_shape": 16}, SEQ),
        ({"normalized_shape": 16, "elementwise_affine": False}, SEQ),
        ({"normalized_shape": (6, 6)}, IMG),
        ({"normalized_shape": 16, "bias": False}, VEC),
    ],
    "RMSNorm": [
        ({"normalized_shape": 16}, SEQ),
        ({"normalized_shape": 16, "elementwise_affine": False}, SEQ),
        ({"normalized_shape": (6, 6), "eps": 1e-6}, IMG),
    ],
    "LocalResponseNorm": [({"size": 5}, IMG), ({"size": 2}, SEQ), ({"size": 3}, VOL)],
    "CrossMapLRN2d": [({"size": 5}, IMG), ({"size": 2, "alpha": 0.001, "k": 2.0}, IMG)],
    # ------------------------------------------------------------------------- padding
    "ZeroPad1d": [({"padding": 2}, SEQ), ({"padding": (1, 3)}, SEQ), ({"padding": (-1, 2)}, SEQ)],
    "ZeroPad2d": [({"padding": 1}, IMG), ({"padding": (1, 2, 0, 3)}, IMG), ({"padding": -1}, IMG)],
    "ZeroPad3d": [({"padding": 1}, VOL), ({"padding": (1, 0, 0, 1, 2, 0)}, VOL)],
    "ConstantPad1d": [
        ({"padding": 2, "value": 0.5}, SEQ),
        ({"padding": (1, -2), "value": -1.0}, SEQ),
    ],
    "ConstantPad2d": [
        ({"padding": 1, "value": 0.5}, IMG),
        ({"padding": (1, 2, 0, 3), "value": -1.0}, IMG),
    ],
    "ConstantPad3d": [
        ({"padding": 1, "value": 0.5}, VOL),
        ({"padding": (1, 0, 0, 1, 2, 0), "value": -1.0}, VOL),
    ],
    "ReflectionPad1d": [({"padding": 2}, SEQ), ({"padding": (1, 3)}, (5, 16))],
    "ReflectionPad2d": [({"padding": 1}, IMG), ({"padding": (1, 2, 0, 3)}, IMG)],
    "ReflectionPad3d": [({"padding": 1}, VOL), ({"padding": (1, 0, 0, 1, 2, 0)}, VOL)],
    "ReplicationPad1d": [({"padding": 2}, SEQ), ({"padding": (1, 3)}, (5, 16))],
    "ReplicationPad2d": [({"padding": 1}, IMG), ({"padding": (1, 2, 0, 3)}, IMG)],
    "ReplicationPad3d": [({"padding": 1}, VOL), ({"padding": (1, 0, 0, 1, 2, 0)}, VOL)],
    "CircularPad1d": [({"padding": 2}, SEQ), ({"padding": (1, 3)}, (5, 16))],
    "CircularPad2d": [({"padding": 1}, IMG), ({"padding": (1, 2, 0, 3)}, IMG)],
    "CircularPad3d": [({"padding": 1}, VOL), ({"padding": (1, 0, 0, 1, 2, 0)}, VOL)],
    # ----------------------------------------------------------------------------- pools
    "MaxPool1d": [
        ({"kernel_size": 2}, SEQ),
        ({"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, SEQ),
        ({"kernel_size": 3, "dilation": 2}, SEQ),
    ],
    "MaxPool2d": [
        ({"kernel_size": 2}, IMG),
        ({"kernel_size": 3, "stride": 2, "ceil_mode": True}, (2, 8, 9, 9)),
        ({"kernel_size": 3, "stride": 1, "padding": 1, "dilation": 2}, IMG),
    ],
    "MaxPool3d": [
        ({"kernel_size": 2}, VOL),
        ({"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, VOL),
    ],
    "AvgPool1d": [
        ({"kernel_size": 2}, SEQ),
        (
            {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
            SEQ,
        ),
        ({"kernel_size": 3, "padding": 1, "count_include_pad": False}, SEQ),
    ],
    "AvgPool2d": [
        ({"kernel_size": 2}, IMG),
        ({"kernel_size": 3, "stride": 2, "ceil_mode": True}, (2, 8, 9, 9)),
        ({"kernel_size": 3, "padding": 1, "count_include_pad": False}, IMG),
        ({"kernel_size": 2, "divisor_override": 3}, IMG),
    ],
    "AvgPool3d": [
        ({"kernel_size": 2}, VOL),
        ({"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, VOL),
        ({"kernel_size": 2, "divisor_override": 3}, VOL),
    ],
    "LPPool1d": [
        ({"norm_type": 2.0, "kernel_size": 2}, SEQ),
        ({"norm_type": 1.0, "kernel_size": 3, "stride": 2, "ceil_mode": True}, SEQ),
    ],
    "LPPool2d": [
        ({"norm_type": 2.0, "kernel_size": 2}, IMG),
        ({"norm_type": 3.0, "kernel_size": 3, "stride": 2, "ceil_mode": True}, (2, 8, 9, 9)),
    ],
    "LPPool3d": [
        ({"norm_type": 2.0, "kernel_size": 2}, VOL),
        ({"norm_type": 1.0, "kernel_size": 2, "stride": 1}, VOL),
    ],
    "AdaptiveAvgPool1d": [({"output_size": 1}, SEQ), ({"output_size": 4}, SEQ)],
    "AdaptiveAvgPool2d": [
        ({"output_size": 1}, IMG),
        ({"output_size": (4, 4)}, IMG),
        ({"output_size": (3, None)}, IMG),
    ],
    "AdaptiveAvgPool3d": [({"output_size": 1}, VOL), ({"output_size": (2, 3, 3)}, VOL)],
    "AdaptiveMaxPool1d": [({"output_size": 1}, SEQ), ({"output_size": 4}, SEQ)],
    "AdaptiveMaxPool2d": [
        ({"output_size": 1}, IMG),
        ({"output_size": (4, 4)}, IMG),
        ({"output_size": (3, None)}, IMG),
    ],
    "AdaptiveMaxPool3d": [({"output_size": 1}, VOL), ({"output_size": (2, 3, 3)}, VOL)],
    "FractionalMaxPool2d": [
        ({"kernel_size": 2, "output_size": 3}, IMG),
        ({"kernel_size": (2, 3), "output_ratio": 0.5}, IMG),
        ({"kernel_size": 2, "output_ratio": (0.5, 0.7)}, IMG[1:]),
    ],
    "FractionalMaxPool3d": [
        ({"kernel_size": 2, "output_size": (2, 2, 3)}, VOL),
        ({"kernel_size": 1, "output_ratio": 0.5}, VOL[1:]),
    ],
    # ---------------------------------------------------------------------------- linear
    "Linear": [
        ({"in_features": 16, "out_features": 8}, VEC),
        ({"in_features": 16, "out_features": 8, "bias": False}, SEQ),
        ({"in_features": 6, "out_features": 4}, IMG),
    ],
    # ------------------------------------------------------------------- reshape / tensor
    "Identity": [({}, IMG), ({}, VEC)],
    "Flatten": [({}, IMG), ({"start_dim": 2}, IMG), ({"start_dim": 0, "end_dim": 1}, SEQ)],
    "Unflatten": [
        ({"dim": 1, "unflattened_size": (4, 4)}, VEC),
        ({"dim": -1, "unflattened_size": (2, -1)}, SEQ),
    ],
    "PixelShuffle": [({"upscale_factor": 2}, IMG), ({"upscale_factor": 3}, (2, 9, 4, 4))],
    "PixelUnshuffle": [({"downscale_factor": 2}, IMG), ({"downscale_factor": 3}, (2, 2, 6, 6))],
    "ChannelShuffle": [({"groups": 2}, IMG), ({"groups": 4}, IMG)],
    "Permute": [({"dims": (0, 2, 3, 1)}, IMG), ({"dims": (0, 2, 1)}, SEQ)],
    "Transpose": [({"dim0": 1, "dim1": 2}, SEQ), ({"dim0": -1, "dim1": -2}, IMG)],
    "Reshape": [({"shape": (8, 36)}, IMG), ({"shape": (-1,)}, SEQ), ({"shape": (4, -1)}, VEC)],
    "Select": [({"dim": 1, "index": 0}, SEQ), ({"dim": 2, "index": 3}, IMG)],
    # -------------------------------------------------------------------------- upsample
    "Upsample": [
        ({"scale_factor": 2.0}, IMG),
        ({"size": (9, 9), "mode": "bilinear"}, IMG),
        ({"scale_factor": 2.0, "mode": "bicubic", "align_corners": True}, IMG),
        ({"scale_factor": 2.0, "mode": "linear"}, SEQ),
    ],
    "UpsamplingNearest2d": [({"scale_factor": 2.0}, IMG), ({"size": (9, 9)}, IMG)],
    "UpsamplingBilinear2d": [({"scale_factor": 2.0}, IMG), ({"size": (9, 9)}, IMG)],
}
