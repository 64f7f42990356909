#!/usr/bin/python3
"""Trains a small CNN on scikit-learn's 8x8 digits and exports it to ONNX, with its data.

    digits_model.py OUT_DIR [--epochs N] [--force]
    digits_model.py --accuracy LOGITS.pb LABELS.npy

The real data set for checking what quantization costs in accuracy. The digits (1797
8x8 images, values 0-16, from Debian's python3-sklearn) are scaled to [0, 1] and split
70/30 into a train and a test split (stratified, seed 0). The CNN, trained with
python3-torch in a few seconds on one CPU thread (seed 0, so every run writes the same
files):
    Conv 1->16 3x3 pad 1, BatchNorm, ReLU
    Conv 16->32 3x3 pad 1, BatchNorm, ReLU, MaxPool 2x2
    Conv 32->32 3x3 pad 1, ReLU
    Flatten, Gemm 512->64, ReLU, Gemm 64->10
Writes into OUT_DIR:
    digits.onnx             the fp32 model, opset 13, input "input" [N, 1, 8, 8] with a
                            symbolic batch, output "logits" [N, 10]
    digits_test.pb          the test split as one TensorProto "input" [540, 1, 8, 8]
    digits_test_labels.npy  its labels, int64 [540]
    digits_test_x.npy       the test split again as numpy float32 [540, 1, 8, 8]
    digits_calib/           64 train images for calibration, input_000.pb ...
                            (TensorProto [1, 1, 8, 8])
    digits_calib.npy        the same 64 images as one numpy array [64, 1, 8, 8]
    digits_fp32_accuracy.txt  the fp32 model's top-1 test accuracy as torch computes it
                            (percent, two decimals), also printed
    digits.stamp            this script's hash; files are written again when it changes

--accuracy prints the top-1 accuracy (percent) of a [N, 10] logits TensorProto (as
`tessera run --save-outputs` writes it) against N labels.

Exit status 77 when torch, scikit-learn or onnx is missing, so that a test can report
itself skipped.
"""
import argparse
import hashlib
import os
import sys

SKIP = 77
TEST_SIZE = 540
CALIB_SAMPLES = 64


def load_split():
    """The digits scaled to [0, 1], as (x_train, y_train, x_test, y_test) numpy arrays."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=TEST_SIZE,
                                                        random_state=0, stratify=y)
    return x_train, y_train, x_test, y_test


def build_model():
    import torch.nn as nn
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10))


def train(x_train, y_train, epochs):
    import torch
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = build_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.from_numpy(x_train)
    y = torch.from_numpy(y_train)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), 64):
            batch = order[start:start + 64]
            optimizer.zero_grad()
            loss = loss_fn(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
    return model.eval()


def accuracy_percent(logits, labels):
    import numpy as np
    return 100.0 * float(np.mean(np.argmax(logits, axis=1) == labels))


def write_tensor(array, name, path):
    from onnx import numpy_helper
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(numpy_helper.from_array(array, name).SerializeToString())
    os.replace(tmp, path)


def export(model, path):
    import torch
    example = torch.zeros(1, 1, 8, 8)
    options = dict(opset_version=13, input_names=["input"], output_names=["logits"],
                   dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                   do_constant_folding=True)
    tmp = path + ".tmp"
    try:  # newer torch defaults to the dynamo exporter; keep the TorchScript one
        torch.onnx.export(model, example, tmp, dynamo=False, **options)
    except TypeError:
        torch.onnx.export(model, example, tmp, **options)
    os.replace(tmp, path)


def script_hash():
    with open(os.path.abspath(__file__), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_all(out_dir, epochs, force):
    import numpy as np
    import torch
    stamp_path = os.path.join(out_dir, "digits.stamp")
    stamp = "%s epochs=%d\n" % (script_hash(), epochs)
    if not force and os.path.exists(stamp_path):
        with open(stamp_path) as f:
            if f.read() == stamp:
                print("digits: %s is up to date" % out_dir)
                return 0
    x_train, y_train, x_test, y_test = load_split()
    model = train(x_train, y_train, epochs)
    with torch.no_grad():
        logits = model(torch.from_numpy(x_test)).numpy()
    os.makedirs(os.path.join(out_dir, "digits_calib"), exist_ok=True)
    export(model, os.path.join(out_dir, "digits.onnx"))
    write_tensor(x_test, "input", os.path.join(out_dir, "digits_test.pb"))
    np.save(os.path.join(out_dir, "digits_test_labels.npy"), y_test)
    np.save(os.path.join(out_dir, "digits_test_x.npy"), x_test)
    calib = x_train[:CALIB_SAMPLES]
    np.save(os.path.join(out_dir, "digits_calib.npy"), calib)
    for i in range(CALIB_SAMPLES):
        write_tensor(calib[i:i + 1], "input",
                     os.path.join(out_dir, "digits_calib", "input_%03d.pb" % i))
    accuracy = "%.2f" % accuracy_percent(logits, y_test)
    with open(os.path.join(out_dir, "digits_fp32_accuracy.txt"), "w") as f:
        f.write(accuracy + "\n")
    with open(stamp_path, "w") as f:
        f.write(stamp)
    print("digits: trained %d epochs on %d images; fp32 test accuracy %s%% on %d images"
          % (epochs, len(x_train), accuracy, len(y_test)))
    return 0


def print_accuracy(logits_path, labels_path):
    import numpy as np
    import onnx
    from onnx import numpy_helper
    tensor = onnx.TensorProto()
    try:
        with open(logits_path, "rb") as f:
            tensor.ParseFromString(f.read())
        labels = np.load(labels_path)
    except (OSError, ValueError) as e:
        sys.exit("digits_model: %s" % e)
    logits = numpy_helper.to_array(tensor)
    if logits.ndim != 2 or logits.shape[0] != labels.shape[0]:
        sys.exit("digits_model: %s has shape %s, not [%d, classes]"
                 % (logits_path, list(logits.shape), labels.shape[0]))
    print("%.2f" % accuracy_percent(logits, labels))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", nargs="?")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--force", action="store_true", help="train and write again")
    parser.add_argument("--accuracy", nargs=2, metavar=("LOGITS_PB", "LABELS_NPY"))
    args = parser.parse_args()
    try:
        import numpy  # noqa: F401
        import onnx  # noqa: F401
        import sklearn  # noqa: F401
        import torch  # noqa: F401
    except ImportError as e:
        print("digits_model: %s (Debian: python3-torch, python3-sklearn, python3-onnx)" % e)
        return SKIP
    if args.accuracy:
        return print_accuracy(*args.accuracy)
    if not args.out_dir:
        parser.error("give OUT_DIR or --accuracy")
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    return write_all(args.out_dir, args.epochs, args.force)


if __name__ == "__main__":
    sys.exit(main())
