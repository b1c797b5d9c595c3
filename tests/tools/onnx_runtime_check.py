"""Loads an ONNX file that `stride export` wrote, checks it with onnx.checker,
runs it in onnxruntime on raw images and compares the probabilities with the
ones Stride computed for the same images (export_onnx_runtime_test.cpp).

  onnx_runtime_check.py MODEL IMAGES PROBABILITIES --count N --shape H W C --classes K

IMAGES holds N uint8 NHWC images as decoded, PROBABILITIES N x K float32.
Exit status 0 when they agree; otherwise one line says what differs and where.
"""
import argparse
import sys

import numpy as np
import onnx
import onnxruntime as ort


def fail(message):
    print(f"onnx_runtime_check: {message}")
    sys.exit(1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("images")
    parser.add_argument("probabilities")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--shape", type=int, nargs=3, required=True)
    parser.add_argument("--classes", type=int, required=True)
    parser.add_argument("--tolerance", type=float, default=1e-5)
    # Near-uniform probabilities agree to 1e-5 even when the logits do not:
    # their logarithms (the logits up to a constant) are compared too.
    parser.add_argument("--log-tolerance", type=float, default=1e-3)
    args = parser.parse_args()

    model = onnx.load(args.model)
    onnx.checker.check_model(model, full_check=True)

    h, w, c = args.shape
    session = ort.SessionOptions()
    session.intra_op_num_threads = 2
    # Spinning pool threads take the cores from everything else a busy machine runs.
    session.add_session_config_entry("session.intra_op.allow_spinning", "0")
    runtime = ort.InferenceSession(args.model, session, providers=["CPUExecutionProvider"])
    inputs, outputs = runtime.get_inputs(), runtime.get_outputs()
    if [i.name for i in inputs] != ["pixels"] or inputs[0].type != "tensor(float)":
        fail(f"inputs {[(i.name, i.type) for i in inputs]}, expected one float tensor 'pixels'")
    if inputs[0].shape[1:] != [h, w, c]:
        fail(f"input shape {inputs[0].shape}, expected [N, {h}, {w}, {c}] (NHWC)")
    if [o.name for o in outputs] != ["probabilities"] or outputs[0].shape[1:] != [args.classes]:
        fail(f"outputs {[(o.name, o.shape) for o in outputs]}, expected 'probabilities' [N, {args.classes}]")

    images = np.fromfile(args.images, dtype=np.uint8).reshape(args.count, h, w, c)
    expected = np.fromfile(args.probabilities, dtype=np.float32).reshape(args.count, args.classes)
    got = np.concatenate([runtime.run(None, {"pixels": images[i:i + 250].astype(np.float32)})[0]
                          for i in range(0, args.count, 250)])

    difference = np.abs(got - expected)
    worst = np.unravel_index(np.argmax(difference), difference.shape)
    floor = 1e-30
    log_difference = np.abs(np.log(np.maximum(got, floor)) - np.log(np.maximum(expected, floor)))
    log_worst = np.unravel_index(np.argmax(log_difference), log_difference.shape)
    print(f"onnx_runtime_check: {args.count} images, max |p_onnx - p_stride| = {difference.max():.3g}, "
          f"max |log p_onnx - log p_stride| = {log_difference.max():.3g}, "
          f"mean top probability {expected.max(axis=1).mean():.3f}")
    if difference.max() > args.tolerance:
        fail(f"image {worst[0]} class {worst[1]}: onnxruntime {got[worst]:.8g}, stride {expected[worst]:.8g} "
             f"(tolerance {args.tolerance:g})")
    if log_difference.max() > args.log_tolerance:
        fail(f"image {log_worst[0]} class {log_worst[1]}: log p onnxruntime {np.log(got[log_worst]):.8g}, "
             f"stride {np.log(expected[log_worst]):.8g} (tolerance {args.log_tolerance:g})")


if __name__ == "__main__":
    main()
