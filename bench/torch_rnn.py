"""Epoch time of a plain LSTM classifier in PyTorch: the peer of bench/svd-rnn.bench.mjs.

The same model and step as vardrop's dense baseline: nn.LSTM(features, units, batch_first) ->
last state -> nn.Linear(units, classes), softmax cross-entropy, Adam lr 1e-3. Inputs are
random of the benchmark's shape (an LSTM step costs the same for any values).

  --steps N --batch B --seq T --features F --units H --classes C --samples S
  times N training steps after 5 warm-up steps and prints {"secPerEpoch": ...} scaled to an
  epoch of S samples. Run one-threaded:
  OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 /usr/bin/python3 bench/torch_rnn.py ...
"""
import argparse
import json
import time

import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, features, units, classes):
        super().__init__()
        self.lstm = nn.LSTM(features, units, batch_first=True)
        self.out = nn.Linear(units, classes)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return self.out(h[-1])


def main():
    p = argparse.ArgumentParser()
    for k, d in [('steps', 20), ('batch', 100), ('seq', 28), ('features', 28), ('units', 128), ('classes', 10), ('samples', 60000)]:
        p.add_argument('--' + k, type=int, default=d)
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = Net(a.features, a.units, a.classes)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.rand(a.batch, a.seq, a.features)
    y = torch.randint(0, a.classes, (a.batch,))

    def step():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()

    for _ in range(5):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    sec = (time.perf_counter() - t0) / a.steps
    print(json.dumps({'secPerStep': sec, 'secPerEpoch': sec * a.samples / a.batch, 'threads': torch.get_num_threads(), 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
