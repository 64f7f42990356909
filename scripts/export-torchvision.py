#!/usr/bin/env python3
"""Exports a torchvision architecture with seeded random weights to ONNX.

    export-torchvision.py MODEL OPSET OUT.onnx

MODEL is a torchvision.models constructor (mobilenet_v2, resnet18, squeezenet1_1, ...),
built with weights=None and torch.manual_seed(0); the input is 1x3x224x224 with a
symbolic batch dimension "N". Needs Debian's python3-torch and python3-torchvision.
"""
import sys

import torch
import torchvision


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    name, opset, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    example = torch.randn(1, 3, 224, 224)
    options = dict(opset_version=opset, input_names=["input"], output_names=["output"],
                   dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})
    try:  # newer torch defaults to the dynamo exporter; keep the TorchScript one
        torch.onnx.export(model, example, out, dynamo=False, **options)
    except TypeError:
        torch.onnx.export(model, example, out, **options)

if __name__ == "__main__":
    main()
