"""Memory: convshape's prediction, torch's measured truth and torchinfo's estimate, side by side.

    python bench/memory_table.py            # about a minute on 2 cores; prints Markdown

For each config, at batch 1 and 8, float32: the bytes autograd saves for backward in one
training-mode forward (convshape: :func:`convshape.footprint.footprint`; truth: measured on the
meta device by :func:`convshape.measure.saved_for_backward`, which gives the cpu figures), and
torchinfo's "Forward/backward pass size" (``summary(model, input_size=...)`` on the model
convshape builds, ``total_output_bytes``), with each figure's ratio to the truth.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ("resnet18", "resnet50", "mobilenet_v2", "densenet121", "vgg16")


def main() -> None:
    import torch
    import torchinfo

    from convshape.builder import build
    from convshape.engine import predict
    from convshape.footprint import footprint
    from convshape.measure import saved_for_backward
    from convshape.spec.parse import load

    print("| config | batch | convshape (predicted) | measured (autograd, meta) | ratio |"
          " torchinfo | ratio |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for name in CONFIGS:
        spec = load(ROOT / "configs" / f"{name}.yaml")
        for batch in (1, 8):
            batched = replace(spec, input_shape=(batch, *spec.input_shape[1:]), expects=False)
            prediction = predict(batched)
            ours = footprint(prediction, device="meta").saved_activation_bytes
            with torch.device("meta"):
                model = build(prediction)
            x = torch.empty(batched.input_shape, device="meta")
            truth = saved_for_backward(model, x, {n.path for n in prediction.rows}).total
            stats = torchinfo.summary(
                model, input_size=batched.input_shape, device="meta", verbose=0
            )
            theirs = stats.total_output_bytes
            print(
                f"| {name} | {batch} | {ours:,} | {truth:,} | {ours / truth:.2f} | "
                f"{theirs:,} | {theirs / truth:.2f} |"
            )
            sys.stdout.flush()


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"\n(measured in {time.perf_counter() - start:.0f} s, torch on meta)")
