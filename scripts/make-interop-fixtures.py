#!/usr/bin/python3
"""Make the PyTorch interop fixtures under test/fixtures/interop/ (run with torch 1.13:
/usr/bin/python3 scripts/make-interop-fixtures.py). Tests read the committed files and never
need torch.

Two small Sparse VD networks are written the way a PyTorch user keeps them: per layer a θ
(`weight`, nn.Linear [out, in] / nn.Conv2d [F, C, KH, KW] layout), a log σ² of the same shape and
a bias, trained a few hundred Adam steps on a toy task with the Sparse VD objective (local
reparameterization, the Molchanov et al. 2017 KL approximation), so their log α spread over both
sides of the threshold 3. The weights go to `<net>.safetensors`; `<net>-io.safetensors` holds
test inputs (NHWC for images) and the outputs of the deterministic forward in float64 (θ masked
where log α >= 3, log α = clamp(log σ² − log(θ² + 1e-8), −8, 8)), which vardrop must reproduce
after importWeights(..., { layout: 'torch' }). The conv net permutes its NCHW maps to NHWC
before flattening (vardrop flattens NHWC), as a PyTorch model meant for export here must.
Weights within 0.05 of the threshold are nudged away from it so float32 rounding cannot flip a
mask.
"""
import json
import os
import struct

import torch
import torch.nn.functional as F

torch.manual_seed(12)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'interop')
THR = 3.0


def write_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata:
        header['__metadata__'] = metadata
    for name, t in tensors.items():
        t = t.detach().contiguous()
        dtype = {torch.float32: 'F32', torch.float64: 'F64'}[t.dtype]
        b = t.numpy().astype('<f4' if dtype == 'F32' else '<f8').tobytes()
        header[name] = {'dtype': dtype, 'shape': list(t.shape), 'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


class SVD(torch.nn.Module):
    """A Sparse VD linear or conv layer, PyTorch layout."""

    def __init__(self, shape, conv=None):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(shape) * 0.3)
        self.log_sigma2 = torch.nn.Parameter(torch.full(shape, -6.0))
        self.bias = torch.nn.Parameter(torch.randn(shape[0]) * 0.1)
        self.conv = conv

    def log_alpha(self):
        return torch.clamp(self.log_sigma2 - torch.log(self.weight ** 2 + 1e-8), -8, 8)

    def op(self, x, w, b):
        if self.conv is None:
            return F.linear(x, w, b)
        return F.conv2d(x, w, b, stride=self.conv['stride'], padding=self.conv['pad'])

    def forward(self, x, train):
        if not train:
            return self.op(x, self.weight * (self.log_alpha() < THR), self.bias)
        mu = self.op(x, self.weight, self.bias)
        var = self.op(x * x, torch.exp(self.log_sigma2), None)
        return mu + torch.sqrt(var + 1e-8) * torch.randn_like(mu)

    def kl(self):
        k1, k2, k3 = 0.63576, 1.87320, 1.48695
        la = self.log_alpha()
        return -(k1 * torch.sigmoid(k2 + k3 * la) - 0.5 * F.softplus(-la) - k1).sum()

    def nudge(self):
        with torch.no_grad():
            la = self.log_sigma2 - torch.log(self.weight ** 2 + 1e-8)
            near = (la - THR).abs() < 0.05
            self.log_sigma2[near] += 0.2


class Mlp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = SVD((16, 12)), SVD((5, 16))

    def forward(self, x, train=False):
        return self.fc2(F.relu(self.fc1(x, train)), train)


class ConvNet(torch.nn.Module):
    """input NHWC [6, 6, 2] → conv 3×3 pad 1 (4) → ReLU → max-pool 2 → NHWC flatten → dense 3."""

    def __init__(self):
        super().__init__()
        self.conv1 = SVD((4, 2, 3, 3), conv={'stride': 1, 'pad': 1})
        self.fc1 = SVD((3, 36))

    def forward(self, x_nhwc, train=False):
        h = self.conv1(x_nhwc.permute(0, 3, 1, 2), train)
        h = F.max_pool2d(F.relu(h), 2)
        return self.fc1(h.permute(0, 2, 3, 1).flatten(1), train)


def train(net, x, y, steps=300):
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    layers = [m for m in net.modules() if isinstance(m, SVD)]
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(net(x, True), y) + 2e-3 * sum(m.kl() for m in layers)
        loss.backward()
        opt.step()
    for m in layers:
        m.nudge()
    return layers


def make(name, net, x, y, xs):
    layers = train(net, x, y)
    tensors = {}
    for lname, m in net.named_modules():
        if isinstance(m, SVD):
            tensors[f'{lname}.weight'] = m.weight
            tensors[f'{lname}.log_sigma2'] = m.log_sigma2
            tensors[f'{lname}.bias'] = m.bias
    write_safetensors(os.path.join(OUT, f'{name}.safetensors'), tensors, {'source': 'scripts/make-interop-fixtures.py'})
    with torch.no_grad():
        net64 = net.double()
        out = net64(xs.double())
    kept = sum(int((m.log_alpha() < THR).sum()) for m in layers)
    total = sum(m.weight.numel() for m in layers)
    write_safetensors(os.path.join(OUT, f'{name}-io.safetensors'), {'input': xs, 'output': out}, {'kept': str(kept), 'total': str(total)})
    print(f'{name}: kept {kept} of {total} weights')


os.makedirs(OUT, exist_ok=True)
x = torch.randn(256, 12)
y = (x[:, :5].argmax(1))
make('mlp', Mlp(), x, y, torch.randn(7, 12))
xi = torch.randn(256, 6, 6, 2)
yi = (xi.mean(3)[:, ::2, ::2].reshape(256, 9)[:, :3]).argmax(1)
make('conv', ConvNet(), xi, yi, torch.randn(5, 6, 6, 2))
