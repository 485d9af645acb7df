"""Fixtures and a float64 NumPy oracle for the predictive-coding tests
(reference/predictive-coding.md §3): the MLP (A) and random NEAT-like DAGs (B) with the kernel's
own squashes, the energy and its gradient in float64, the Gauss-Newton Hessian of T6. Shares no
code with the kernels (the squash values come from squash_reference.py)."""
from __future__ import annotations

import math

import numpy as np

import squash_reference as sq
from neatai.creature import Creature
from neatai.squash import BY_NAME

DAG_SQUASHES = ("TANH", "LOGISTIC", "SINE", "IDENTITY", "Softplus")


def _creature(n_in, neurons, synapses):
    n_out = sum(n["type"] == "output" for n in neurons)
    return Creature.from_json({"input": n_in, "output": n_out, "neurons": neurons, "synapses": synapses})


def f32(v):
    return float(np.float32(v))


def mlp(seed, sizes=(10, 32, 32, 32, 5)) -> Creature:
    """(A): tanh hidden layers, identity outputs, W ~ N(0, 1/fan_in), b ~ N(0, 0.1)."""
    rng = np.random.default_rng(seed)
    layers = [[f"input-{i}" for i in range(sizes[0])]]
    neurons, synapses = [], []
    for depth, size in enumerate(sizes[1:], start=1):
        last = depth == len(sizes) - 1
        names = [f"output-{i}" if last else f"h{depth}-{i}" for i in range(size)]
        for name in names:
            neurons.append({"type": "output" if last else "hidden", "uuid": name,
                            "bias": f32(rng.normal(0, 0.1)), "squash": "IDENTITY" if last else "TANH"})
            for src in layers[-1]:
                synapses.append({"fromUUID": src, "toUUID": name,
                                 "weight": f32(rng.normal(0, 1 / math.sqrt(len(layers[-1]))))})
        layers.append(names)
    return _creature(sizes[0], neurons, synapses)


def random_dag(seed, n_in=6, n_hidden=40, n_out=3, p=0.15, outputs_feed_outputs=False) -> Creature:
    """(B): every neuron draws each earlier neuron as a source with probability p (at least one),
    squashes from DAG_SQUASHES, weights N(0, 1/sqrt(fan_in)); outputs draw from earlier outputs
    too when asked (backprop then differs from clamped PC: a clamped output passes no error on)."""
    rng = np.random.default_rng(seed)
    order = [f"input-{i}" for i in range(n_in)]
    neurons, synapses = [], []
    names = [f"h{k}" for k in range(n_hidden)] + [f"output-{k}" for k in range(n_out)]
    for k, name in enumerate(names):
        out = k >= n_hidden
        neurons.append({"type": "output" if out else "hidden", "uuid": name, "bias": f32(rng.normal(0, 0.1)),
                        "squash": str(rng.choice(DAG_SQUASHES))})
        pool = order if not out or outputs_feed_outputs else order[:n_in + n_hidden]
        picks = [s for s in pool if rng.random() < p] or [pool[int(rng.integers(len(pool)))]]
        for src in picks:
            synapses.append({"fromUUID": src, "toUUID": name, "weight": f32(rng.normal(0, 1 / math.sqrt(len(picks))))})
        order.append(name)
    return _creature(n_in, neurons, synapses)


def recurrent_dag(seed, back=6, **kw) -> Creature:
    """(B) plus `back` self/back synapses (a neuron reading itself or a later neuron)."""
    c = random_dag(seed, **kw)
    rng = np.random.default_rng(500 + seed)
    data = c.to_dict()
    names = [n["uuid"] for n in data["neurons"]]
    for _ in range(back):
        to = int(rng.integers(len(names)))
        frm = int(rng.integers(to, len(names)))
        if not any(s["fromUUID"] == names[frm] and s["toUUID"] == names[to] for s in data["synapses"]):
            data["synapses"].append({"fromUUID": names[frm], "toUUID": names[to], "weight": f32(rng.normal(0, 0.5))})
    data["forwardOnly"] = False
    return Creature.from_json(data)


def batch(creature, seed, records=8):
    rng = np.random.default_rng(1000 + seed)
    X = rng.normal(0, 1, (records, creature.input)).astype(np.float32)
    Y = rng.normal(0, 1, (records, creature.output)).astype(np.float32)
    return X, Y


class Oracle:
    """The energy of one creature in float64 at given latents (rows: inputs, then neurons)."""

    def __init__(self, creature: Creature):
        self.c = creature
        self.n_in = creature.input
        index = creature.uuid_index()
        self.ops = [BY_NAME[n.squash_name].id for n in creature.neurons]
        self.bias = np.array([n.bias for n in creature.neurons], np.float64)
        self.src = np.array([index[s.from_uuid] for s in creature.synapses])
        self.dst = np.array([index[s.to_uuid] for s in creature.synapses])
        self.w = np.array([s.weight for s in creature.synapses], np.float64)
        self.n = len(creature.neurons)
        self.prev = None   # the state self/back synapses read, [samples, rows] (None: zero)
        self.hidden = np.array([self.n_in + k for k, n in enumerate(creature.neurons) if n.type == "hidden"])

    def matrix(self, w=None, back=False):
        """Dense weights [rows, neurons] of the forward synapses (or of the self/back ones)."""
        W = np.zeros((self.n_in + self.n, self.n))
        sel = (self.src >= self.dst) if back else (self.src < self.dst)
        np.add.at(W, (self.src[sel], self.dst[sel] - self.n_in), (self.w if w is None else w)[sel])
        return W

    def pre(self, x, w=None, b=None, prev=None):
        """Pre-activations [..., neurons] from latents x [..., rows]; self/back synapses read
        `prev` (the state before the record), zero when not given."""
        a = x @ self.matrix(w) + (self.bias if b is None else b)
        return a if prev is None else a + prev @ self.matrix(w, back=True)

    def squash(self, a):
        return np.stack([sq.squash(op, a[..., k]) for k, op in enumerate(self.ops)], axis=-1)

    def predictions(self, x, w=None, b=None):
        a = self.pre(x, w, b, self.prev)
        fp = np.stack([sq.derivative(op, a[..., k]) for k, op in enumerate(self.ops)], axis=-1)
        return self.squash(a), fp

    def energy(self, x, w=None, b=None):
        """Per-sample E = 1/2 sum over neurons (x - mu)^2."""
        e = x[..., self.n_in:] - self.squash(self.pre(x, w, b, self.prev))
        return 0.5 * (e * e).sum(axis=-1)

    def energy_weight_differences(self, x, h):
        """Central differences dE/dw per synapse (mean over samples) at fixed latents: moving
        w_s changes only its target's term, so all synapses are probed at once."""
        a = self.pre(x, prev=self.prev)
        k = self.dst - self.n_in
        ops = [self.ops[i] for i in k]
        x_k = x[:, self.dst]
        source = x[:, self.src] if self.prev is None else np.where(self.src < self.dst, x[:, self.src],
                                                                   self.prev[:, self.src])
        def term(shift):
            v = a[:, k] + shift
            mu = np.stack([sq.squash(op, v[:, i]) for i, op in enumerate(ops)], axis=1)
            return 0.5 * (x_k - mu) ** 2
        return ((term(h * source) - term(-h * source)) / (2 * h)).mean(axis=0)

    def energy_bias_differences(self, x, h):
        a = self.pre(x, prev=self.prev)
        x_k = x[:, self.n_in:]
        term = lambda shift: 0.5 * (x_k - self.squash(a + shift)) ** 2  # noqa: E731
        return ((term(h) - term(-h)) / (2 * h)).mean(axis=0)

    def forward(self, X):
        x = np.zeros((X.shape[0], self.n_in + self.n), np.float64)
        x[:, :self.n_in] = X
        W = self.matrix()
        held = 0 if self.prev is None else self.prev @ self.matrix(back=True)
        for k in range(self.n):
            a = x @ W[:, k] + self.bias[k] + (held[:, k] if self.prev is not None else 0)
            x[:, self.n_in + k] = sq.squash(self.ops[k], a)
        return x

    def depth(self):
        """Longest path (in synapses) from a hidden neuron to an output."""
        far = np.zeros(self.n_in + self.n, int)
        for k in range(self.n - 1, -1, -1):
            row = self.n_in + k
            if self.c.neurons[k].type == "output":
                continue
            children = self.dst[self.src == row]
            far[row] = max(far[children] + 1) if len(children) else -10 ** 6
        return int(far[self.hidden].max())

    def gauss_newton_max_eigenvalue(self, X, Y):
        """lambda_max of J^T J at the feed-forward point with the outputs clamped, over samples:
        J = d eps / d x_hidden (I - diag(f') W^T on the error rows, hidden columns)."""
        x = self.forward(X)
        x[:, self.n_in + self.n - self.c.output:] = Y
        _, fp = self.predictions(x)
        worst = 0.0
        cols = {row: c for c, row in enumerate(self.hidden)}
        for j in range(x.shape[0]):
            J = np.zeros((self.n, len(self.hidden)))
            for row, c in cols.items():
                J[row - self.n_in, c] = 1.0
            for s in range(len(self.w)):
                if self.src[s] in cols:
                    k = self.dst[s] - self.n_in
                    J[k, cols[self.src[s]]] -= fp[j, k] * self.w[s]
            worst = max(worst, float(np.linalg.eigvalsh(J.T @ J).max()))
        return worst


def binomial_tail(T, eta, k):
    """P[Binomial(T, eta) >= k]."""
    return sum(math.comb(T, i) * eta ** i * (1 - eta) ** (T - i) for i in range(k, T + 1))


def relerr(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
