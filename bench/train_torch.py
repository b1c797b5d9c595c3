#!/usr/bin/env python3
"""The PyTorch peer of `stride bench train`: the same networks (the seed CNN
and vgg_bn of core/src/spec.cpp, Keras' batch-norm epsilon and momentum),
batch, Adam and thread count on one synthetic batch held in memory, timed
after warm-up steps. Prints one JSON line per thread count with images_per_s.
Runs on the CPU, or on a GPU with --device cuda (channels-last, cuDNN
autotuning on: PyTorch eager as a user tunes it)."""
import argparse
import json
import time

import torch
from torch import nn


def seed_cnn(channels: int, classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(channels, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
        nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, classes))


def vgg_bn(channels: int, classes: int) -> nn.Module:
    def bn(c: int, dims: int = 2) -> nn.Module:
        # Keras' BatchNormalization: epsilon 1e-3, moving average 0.99.
        return (nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d)(c, eps=1e-3, momentum=0.01)

    def block(cin: int, cout: int) -> list:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), bn(cout), nn.ReLU(),
                nn.Conv2d(cout, cout, 3, padding=1, bias=False), bn(cout), nn.ReLU(),
                nn.MaxPool2d(2), nn.Dropout(0.25)]

    return nn.Sequential(*block(channels, 32), *block(32, 64), nn.Flatten(),
                         nn.Linear(64 * 7 * 7, 256, bias=False), bn(256, dims=1), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(256, classes))


NETS = {"seed_cnn": seed_cnn, "vgg_bn": vgg_bn}


def measure(net: str, threads: int, batch: int, steps: int, warmup: int, channels_last: bool, device: str) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(7)
    model = NETS[net](1, 10).to(device)
    x = torch.randn(batch, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optimizer.step()

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    for _ in range(warmup):
        step()
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    seconds = time.perf_counter() - start
    return {"peer": f"pytorch {torch.__version__}" + (" channels_last" if channels_last else ""),
            "net": net, "batch": batch, "threads": threads, "device": device,
            "images_per_s": batch * steps / seconds, "step_ms": 1e3 * seconds / steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--net", default="seed_cnn", choices=sorted(NETS))
    parser.add_argument("--threads", default="2")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True
    for t in args.threads.split(","):
        print(json.dumps(measure(args.net, int(t), args.batch, args.steps, args.warmup,
                                 args.channels_last or args.device == "cuda", args.device)))


if __name__ == "__main__":
    main()
