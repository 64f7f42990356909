#!/usr/bin/python3
"""Small pre-quantized ONNX models, in both of ONNX's forms, for the import tests.

A float CNN (conv 3x3 + ReLU, max pool 2x2, a second conv with a residual add + ReLU,
flatten, a fully connected layer) gets deterministic parameters (numpy, seed 0); torch
runs it in float on a seeded input to calibrate each activation's range. The models:

  qdq_u8       QDQ form: QuantizeLinear/DequantizeLinear around float Conv, Relu,
               MaxPool, Add, Flatten and Gemm (transB = 1); uint8 activations
               (asymmetric, per tensor), int8 weights symmetric per output channel
               (DequantizeLinear axis 0), int32 biases of scale x_scale * w_scale
  qdq_s8       the same with int8 activations (non-zero zero points), Clip(0, hi) in place
               of the first Relu, and MatMul with a [K, N] weight (per channel on axis 1)
               in place of Gemm
  qop_u8       QOperator form: QuantizeLinear, QLinearConv (per-channel weights, bias),
               MaxPool on uint8, QLinearAdd (com.microsoft), Flatten, QLinearMatMul
               (per-column B), DequantizeLinear
  integer_u8   ConvInteger (uint8 data and weights, zero points) and MatMulInteger
               (per-column B zero point), int32 outputs

The quantized models' outputs are the integer tensors, so that a test can compare them
exactly. Each model comes with its input(s) as TensorProto files NAME.input_K.pb.

  make_quant_models.py OUT_DIR        writes OUT_DIR/NAME.onnx and the inputs
  make_quant_models.py --list         prints the model names
  make_quant_models.py --bad OUT_DIR  writes models the importer must refuse,
                                      OUT_DIR/bad_NAME.onnx, and prints per line
                                      "bad_NAME WORD|WORD|...": what the error must name
"""
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

MODELS = ["qdq_u8", "qdq_s8", "qop_u8", "integer_u8"]


def params():
    rng = np.random.RandomState(0)
    return {
        "w1": (rng.randn(8, 3, 3, 3) * 0.3).astype(np.float32),
        "b1": (rng.randn(8) * 0.1).astype(np.float32),
        "w2": (rng.randn(8, 8, 3, 3) * 0.15).astype(np.float32),
        "b2": (rng.randn(8) * 0.1).astype(np.float32),
        "w3": (rng.randn(10, 128) * 0.1).astype(np.float32),
        "b3": (rng.randn(10) * 0.1).astype(np.float32),
        "x": rng.randn(1, 3, 8, 8).astype(np.float32),
    }


def float_activations(p, clip6):
    """The float model's intermediate values (torch), for calibration."""
    t = {k: torch.from_numpy(v) for k, v in p.items()}
    c1 = F.conv2d(t["x"], t["w1"], t["b1"], padding=1)
    r1 = torch.clamp(c1, 0, clip_hi(c1)) if clip6 else torch.relu(c1)
    pool = F.max_pool2d(r1, 2)
    c2 = F.conv2d(pool, t["w2"], t["b2"], padding=1)
    a = torch.relu(pool + c2)
    fc = a.flatten(1) @ t["w3"].T + t["b3"]
    # r1's range is calibrated on c1 (before the activation), so that the folded
    # activation's clamp is not the output type's range and a wrong clamp shows
    return {"x": t["x"], "r1": c1, "c2": c2, "a": a, "fc": fc, "c1": c1}


def clip_hi(c1):
    """The Clip's upper bound: half the conv's largest output, so that it clips."""
    return float(np.float32(0.5 * float(c1.max())))


def act_qparams(v, signed):
    lo, hi = min(float(v.min()), 0.0), max(float(v.max()), 0.0)
    scale = np.float32((hi - lo) / 255.0 if hi > lo else 1.0)
    qmin = -128 if signed else 0
    zp = int(np.clip(round(qmin - lo / float(scale)), qmin, qmin + 255))
    return scale, np.array(zp, dtype=np.int8 if signed else np.uint8)


def weight_qparams(w, axis):
    """Symmetric int8 per output channel (along axis)."""
    moved = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
    scale = (np.abs(moved).max(axis=1) / 127.0).astype(np.float32)
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.round(w / scale.reshape(shape)), -127, 127).astype(np.int8)
    return q, scale


def bias_q(b, x_scale, w_scale):
    scale = (np.float32(x_scale) * w_scale).astype(np.float32)
    return np.round(b / scale).astype(np.int32), scale


class Builder:
    def __init__(self):
        self.nodes, self.inits, self.count = [], [], 0

    def init(self, name, array):
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, inputs, name=None, domain=None, **attrs):
        self.count += 1
        out = name or f"{op.lower()}_{self.count}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=f"{op}_{self.count}",
                                           domain=domain, **attrs))
        return out

    def q(self, x, scale, zp, tag):
        s = self.init(f"{tag}_scale", np.float32(scale))
        z = self.init(f"{tag}_zp", zp)
        return self.node("QuantizeLinear", [x, s, z])

    def dq(self, x, scale, zp, tag, axis=None):
        s = self.init(f"{tag}_dq_scale", np.asarray(scale, dtype=np.float32))
        inputs = [x, s]
        if zp is not None:
            inputs.append(self.init(f"{tag}_dq_zp", zp))
        attrs = {} if axis is None else {"axis": axis}
        return self.node("DequantizeLinear", inputs, **attrs)

    def qdq(self, x, scale, zp, tag):
        return self.dq(self.q(x, scale, zp, tag), scale, zp, tag + "_in")

    def model(self, inputs, outputs, opsets):
        graph = helper.make_graph(self.nodes, "quant", inputs, outputs, self.inits)
        imports = [helper.make_opsetid(d, v) for d, v in opsets]
        m = helper.make_model(graph, opset_imports=imports)
        m.ir_version = 7
        onnx.checker.check_model(m)
        return m


def qdq_model(p, signed):
    acts = float_activations(p, clip6=signed)
    qp = {k: act_qparams(v, signed) for k, v in acts.items()}
    b = Builder()
    xf = b.qdq("x", *qp["x"], "x")
    w1q, ws1 = weight_qparams(p["w1"], 0)
    b1q, bs1 = bias_q(p["b1"], qp["x"][0], ws1)
    w1 = b.dq(b.init("w1_q", w1q), ws1, np.zeros(8, np.int8), "w1", axis=0)
    b1 = b.dq(b.init("b1_q", b1q), bs1, None, "b1", axis=0)
    c1 = b.node("Conv", [xf, w1, b1], pads=[1, 1, 1, 1])
    if signed:
        hi_value = clip_hi(acts["c1"])
        lo, hi = b.init("clip_lo", np.float32(0)), b.init("clip_hi", np.float32(hi_value))
        r1 = b.node("Clip", [c1, lo, hi])
    else:
        r1 = b.node("Relu", [c1])
    r1f = b.qdq(r1, *qp["r1"], "r1")
    pool = b.node("MaxPool", [r1f], kernel_shape=[2, 2], strides=[2, 2])
    pf = b.qdq(pool, *qp["r1"], "pool")
    w2q, ws2 = weight_qparams(p["w2"], 0)
    b2q, bs2 = bias_q(p["b2"], qp["r1"][0], ws2)
    w2 = b.dq(b.init("w2_q", w2q), ws2, np.zeros(8, np.int8), "w2", axis=0)
    b2 = b.dq(b.init("b2_q", b2q), bs2, None, "b2", axis=0)
    c2 = b.node("Conv", [pf, w2, b2], pads=[1, 1, 1, 1])
    c2f = b.qdq(c2, *qp["c2"], "c2")
    add = b.node("Add", [pf, c2f])
    af = b.qdq(b.node("Relu", [add]), *qp["a"], "a")
    flf = b.qdq(b.node("Flatten", [af]), *qp["a"], "flat")
    if signed:  # MatMul with a [K, N] weight, per channel on axis 1, no bias
        w3q, ws3 = weight_qparams(p["w3"].T.copy(), 1)
        w3 = b.dq(b.init("w3_q", w3q), ws3, np.zeros(10, np.int8), "w3", axis=1)
        fc = b.node("MatMul", [flf, w3])
    else:
        w3q, ws3 = weight_qparams(p["w3"], 0)
        b3q, bs3 = bias_q(p["b3"], qp["a"][0], ws3)
        w3 = b.dq(b.init("w3_q", w3q), ws3, np.zeros(10, np.int8), "w3", axis=0)
        b3 = b.dq(b.init("b3_q", b3q), bs3, None, "b3", axis=0)
        fc = b.node("Gemm", [flf, w3, b3], transB=1)
    zp_fc = qp["fc"][1]
    out = b.q(fc, qp["fc"][0], zp_fc, "fc")
    b.nodes[-1].output[0] = "y"
    elem = TensorProto.INT8 if signed else TensorProto.UINT8
    x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y_info = helper.make_tensor_value_info("y", elem, [1, 10])
    del out
    return b.model([x_info], [y_info], [("", 13)])


def qop_model(p):
    acts = float_activations(p, clip6=False)
    qp = {k: act_qparams(v, False) for k, v in acts.items()}
    b = Builder()

    def scale_zp(tag, key):
        return [b.init(f"{tag}_s", np.float32(qp[key][0])), b.init(f"{tag}_z", qp[key][1])]

    xq = b.node("QuantizeLinear", ["x"] + scale_zp("x", "x"))
    w1q, ws1 = weight_qparams(p["w1"], 0)
    b1q, _ = bias_q(p["b1"], qp["x"][0], ws1)
    c1 = b.node("QLinearConv", [xq] + scale_zp("x1", "x") +
                [b.init("w1_q", w1q), b.init("w1_s", ws1), b.init("w1_z", np.zeros(8, np.int8))] +
                scale_zp("r1", "r1") + [b.init("b1_q", b1q)], pads=[1, 1, 1, 1])
    pool = b.node("MaxPool", [c1], kernel_shape=[2, 2], strides=[2, 2])
    w2q, ws2 = weight_qparams(p["w2"], 0)
    b2q, _ = bias_q(p["b2"], qp["r1"][0], ws2)
    c2 = b.node("QLinearConv", [pool] + scale_zp("p", "r1") +
                [b.init("w2_q", w2q), b.init("w2_s", ws2), b.init("w2_z", np.zeros(8, np.int8))] +
                scale_zp("c2", "c2") + [b.init("b2_q", b2q)], pads=[1, 1, 1, 1])
    add = b.node("QLinearAdd", [pool] + scale_zp("pa", "r1") + [c2] + scale_zp("c2a", "c2") +
                 scale_zp("a", "a"), domain="com.microsoft")
    flat = b.node("Flatten", [add])
    w3q, ws3 = weight_qparams(p["w3"].T.copy(), 1)
    fc = b.node("QLinearMatMul", [flat] + scale_zp("fl", "a") +
                [b.init("w3_q", w3q), b.init("w3_s", ws3), b.init("w3_z", np.zeros(10, np.int8))] +
                scale_zp("fc", "fc"), name="y")
    b.node("DequantizeLinear", [fc] + scale_zp("out", "fc"), name="y_float")
    x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y_info = helper.make_tensor_value_info("y", TensorProto.UINT8, [1, 10])
    yf_info = helper.make_tensor_value_info("y_float", TensorProto.FLOAT, [1, 10])
    return b.model([x_info], [y_info, yf_info], [("", 13), ("com.microsoft", 1)])


def integer_model():
    rng = np.random.RandomState(1)
    b = Builder()
    w = rng.randint(0, 256, size=(4, 3, 3, 3)).astype(np.uint8)
    b.node("ConvInteger", ["xq", b.init("w", w), b.init("x_zp", np.uint8(7)),
                           b.init("w_zp", np.uint8(131))], name="conv_out",
           pads=[1, 0, 1, 0], strides=[1, 2])
    bm = rng.randint(-128, 128, size=(16, 5)).astype(np.int8)
    b.node("MatMulInteger", ["a", b.init("b", bm), b.init("a_zp", np.uint8(12)),
                             b.init("b_zp", np.array([1, -2, 3, 0, 5], np.int8))],
           name="matmul_out")
    inputs = [helper.make_tensor_value_info("xq", TensorProto.UINT8, [2, 3, 7, 9]),
              helper.make_tensor_value_info("a", TensorProto.UINT8, [4, 16])]
    outputs = [helper.make_tensor_value_info("conv_out", TensorProto.INT32, [2, 4, 7, 4]),
               helper.make_tensor_value_info("matmul_out", TensorProto.INT32, [4, 5])]
    return b.model(inputs, outputs, [("", 10)])


def bad_models():
    """Models the importer must refuse, each naming the node: (name, model, words)."""
    f, u8, s8 = TensorProto.FLOAT, TensorProto.UINT8, TensorProto.INT8
    out = []

    b = Builder()  # QLinearConv whose x_scale is omitted
    w = np.ones((2, 1, 1, 1), np.int8)
    b.node("QLinearConv", ["xq", "", b.init("xz", np.uint8(0)), b.init("w", w),
                           b.init("ws", np.float32(1)), b.init("wz", np.int8(0)),
                           b.init("ys", np.float32(1)), b.init("yz", np.uint8(0))], name="y")
    out.append(("missing_scale", b, [("xq", u8, [1, 1, 2, 2])], ("y", u8), 13,
                ["QLinearConv_1", "x_scale"]))

    b = Builder()  # DequantizeLinear of uint8 data with an int8 zero point
    b.node("DequantizeLinear", ["xq", b.init("s", np.float32(0.5)), b.init("z", np.int8(1))],
           name="y")
    out.append(("zero_point_dtype", b, [("xq", u8, [4])], ("y", f), 13,
                ["DequantizeLinear_1", "x_zero_point", "uint8"]))

    b = Builder()  # per-channel scale of 5 elements for an axis of extent 8
    b.node("QuantizeLinear", ["x", b.init("s", np.ones(5, np.float32)),
                              b.init("z", np.zeros(5, np.int8))], name="y", axis=1)
    out.append(("axis_length", b, [("x", f, [1, 8, 2])], ("y", s8), 13,
                ["QuantizeLinear_1", "y_scale", "axis = 1"]))
    models = []
    for name, b, ins, (yname, ytype), opset, words in out:
        inputs = [helper.make_tensor_value_info(n, t, s) for n, t, s in ins]
        graph = helper.make_graph(b.nodes, name, inputs,
                                  [helper.make_tensor_value_info(yname, ytype, None)], b.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        m.ir_version = 7
        models.append((name, m, words))
    return models


def main():
    if sys.argv[1:2] == ["--bad"] and len(sys.argv) == 3:
        os.makedirs(sys.argv[2], exist_ok=True)
        for name, m, words in bad_models():
            onnx.save(m, os.path.join(sys.argv[2], f"bad_{name}.onnx"))
            print(f"bad_{name}", "|".join(words))
        return
    if sys.argv[1:] == ["--list"]:
        print(" ".join(MODELS))
        return
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    p = params()
    models = {"qdq_u8": qdq_model(p, False), "qdq_s8": qdq_model(p, True),
              "qop_u8": qop_model(p), "integer_u8": integer_model()}
    rng = np.random.RandomState(2)
    inputs = {"qdq_u8": [p["x"]], "qdq_s8": [p["x"]], "qop_u8": [p["x"]],
              "integer_u8": [rng.randint(0, 256, size=(2, 3, 7, 9)).astype(np.uint8),
                             rng.randint(0, 256, size=(4, 16)).astype(np.uint8)]}
    for name in MODELS:
        onnx.save(models[name], os.path.join(out, name + ".onnx"))
        for k, array in enumerate(inputs[name]):
            tensor = numpy_helper.from_array(array, models[name].graph.input[k].name)
            with open(os.path.join(out, f"{name}.input_{k}.pb"), "wb") as f:
                f.write(tensor.SerializeToString())


if __name__ == "__main__":
    main()
