"""PyTorch reference for the seed CNN: reads the initial weights and batches a
Stride test wrote, takes the same Adam steps, and writes the loss before each
step and the final weights, so the test can compare the two trajectories.

Layouts on disk are Stride's (NHWC images, HWIO conv kernels, [in, out] dense
kernels, flatten in NHWC order); they are converted to PyTorch's here.

usage: torch_reference.py DIR   (DIR holds meta.json, weights.bin, images.bin, labels.bin)
"""
import json
import pathlib
import sys

import numpy as np
import torch


def main(directory):
    d = pathlib.Path(directory)
    meta = json.loads((d / "meta.json").read_text())
    torch.set_num_threads(1)
    weights = np.fromfile(d / "weights.bin", dtype="<f4")
    params, offset = [], 0
    for shape in meta["shapes"]:
        count = int(np.prod(shape))
        params.append(torch.tensor(weights[offset:offset + count].reshape(shape)))
        offset += count
    assert offset == weights.size, "weights.bin does not match the shapes"

    def to_torch(p):
        if p.dim() == 4:  # HWIO -> OIHW
            return p.permute(3, 2, 0, 1).contiguous()
        if p.dim() == 2:  # [in, out] -> [out, in]
            return p.t().contiguous()
        return p.clone()

    tensors = [torch.nn.Parameter(to_torch(p)) for p in params]
    conv1_w, conv1_b, conv2_w, conv2_b, conv3_w, conv3_b, fc1_w, fc1_b, fc2_w, fc2_b = tensors

    def forward(x):  # x NHWC
        h = x.permute(0, 3, 1, 2)
        h = torch.nn.functional.max_pool2d(torch.relu(torch.nn.functional.conv2d(h, conv1_w, conv1_b)), 2)
        h = torch.nn.functional.max_pool2d(torch.relu(torch.nn.functional.conv2d(h, conv2_w, conv2_b)), 2)
        h = torch.relu(torch.nn.functional.conv2d(h, conv3_w, conv3_b))
        h = h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)  # Keras flattens NHWC
        h = torch.relu(torch.nn.functional.linear(h, fc1_w, fc1_b))
        return torch.nn.functional.linear(h, fc2_w, fc2_b)

    n, hw = meta["batch"], meta["image"]
    images = np.fromfile(d / "images.bin", dtype="<f4").reshape(meta["steps"], n, hw[0], hw[1], hw[2])
    labels = np.fromfile(d / "labels.bin", dtype="<i4").reshape(meta["steps"], n)
    optimizer = torch.optim.Adam(tensors, lr=meta["lr"], betas=(0.9, 0.999), eps=meta["epsilon"])
    losses = []
    for step in range(meta["steps"]):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(forward(torch.tensor(images[step])),
                                                 torch.tensor(labels[step], dtype=torch.long))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

    (d / "losses.json").write_text(json.dumps(losses))
    final = []
    for p, original in zip(tensors, params):
        q = p.detach()
        if q.dim() == 4:
            q = q.permute(2, 3, 1, 0)  # OIHW -> HWIO
        elif q.dim() == 2:
            q = q.t()
        assert tuple(q.shape) == tuple(original.shape)
        final.append(q.contiguous().numpy().astype("<f4").ravel())
    np.concatenate(final).tofile(d / "final_weights.bin")


if __name__ == "__main__":
    main(sys.argv[1])
