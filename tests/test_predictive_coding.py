"""Predictive coding (pc_kernels.pyx through neatai.evaluator.predictive_coding) against the
float64 NumPy oracle of pc_reference.py and backprop's gradients: the verification tests
T1-T6 of reference/predictive-coding.md §3 on the MLP (A) and random DAGs (B), over 5 seeds.
The kernel is float32, so tolerances are float32's where the reference quotes float64's."""
from __future__ import annotations

import numpy as np
import pytest

import pc_reference as R
from neatai.creature import Creature
from neatai.evaluator import predictive_coding as pc
from neatai.evaluator.training import gradients

SEEDS = range(5)
FIXTURES = {"mlp": R.mlp, "dag": R.random_dag}
# T1 also on DAGs whose outputs feed later outputs (strict PC re-predicts from clamped outputs)
LOCAL = {**FIXTURES, "chained": lambda seed: R.random_dag(seed, p=0.3, outputs_feed_outputs=True)}
# The plain algorithm, no safety nets: every step is the textbook Jacobi update.
PLAIN = dict(gradient_cap=0, backtrack=False, adaptive_scaling=False, convergence_threshold=0)


def fixture(kind, seed):
    c = LOCAL[kind](seed)
    X, Y = R.batch(c, seed)
    return c, X, Y


def bp_direction(c, X, Y):
    """-dL/dW, -dL/db of the mean squared error, scaled to PC's energy (MSE divides by outputs, x2)."""
    g = gradients(c, X, Y, "MSE")
    return -g.weights * c.output / 2, -g.biases * c.output / 2


def free_rows(c):
    return np.array([c.input + k for k, n in enumerate(c.neurons) if n.type == "hidden"])


# ---- T1: local derivatives --------------------------------------------------------------------

@pytest.mark.parametrize("kind", LOCAL)
@pytest.mark.parametrize("seed", SEEDS)
def test_t1a_inference_gradient_is_the_derivative_of_the_energy(kind, seed):
    """A step moves every free latent by -rate * dE/dx, dE/dx by central finite differences of
    the float64 energy (a PRECO-style f' at the wrong node is O(1) off): the first step from the
    clamped forward state and one from a state 5 steps in."""
    c, X, Y = fixture(kind, seed)
    rate, rows, h = 0.1, free_rows(c), 1e-6
    oracle = R.Oracle(c)
    for start in (0, 5):
        x0 = pc.settle(c, X, Y, max_iterations=start, inference_rate=rate, **PLAIN).latents
        x1 = pc.settle(c, X, Y, max_iterations=start + 1, inference_rate=rate, **PLAIN).latents
        kernel = (x0 - x1) / rate
        shift = np.zeros((len(rows), 1, x0.shape[1]))
        shift[np.arange(len(rows)), 0, rows] = h
        fd = (oracle.energy(x0 + shift) - oracle.energy(x0 - shift)) / (2 * h)   # [rows, samples]
        assert np.abs(kernel[:, rows]).max() > 1e-2
        assert np.abs(kernel[:, rows] - fd.T).max() < 2e-5, start
        # clamped latents never move
        clamped = np.setdiff1d(np.arange(x0.shape[1]), rows)
        assert np.array_equal(x0[:, clamped], x1[:, clamped])


@pytest.mark.parametrize("kind", LOCAL)
@pytest.mark.parametrize("seed", SEEDS)
def test_t1b_hebbian_update_is_minus_the_energy_gradient_at_fixed_latents(kind, seed):
    c, X, Y = fixture(kind, seed)
    s = pc.settle(c, X, Y, max_iterations=8, inference_rate=0.1, **PLAIN)
    u = pc.hebbian(c, s, learning_rate=1.0)
    oracle = R.Oracle(c)
    fd_w = -oracle.energy_weight_differences(s.latents, 1e-6)
    fd_b = -oracle.energy_bias_differences(s.latents, 1e-6)
    assert np.abs(fd_w).max() > 1e-2
    assert np.abs(u.weights - fd_w).max() < 1e-5
    assert np.abs(u.biases - fd_b).max() < 1e-5


def reordered(c: Creature, seed) -> Creature:
    """The same network with its hidden neurons stored in another valid (topological) order."""
    rng = np.random.default_rng(seed)
    parents = {n.uuid: {s.from_uuid for s in c.synapses if s.to_uuid == n.uuid} for n in c.neurons}
    placed = {f"input-{i}" for i in range(c.input)}
    hidden = [n for n in c.neurons if n.type == "hidden"]
    order = []
    while hidden:
        ready = [n for n in hidden if parents[n.uuid] <= placed]
        pick = ready[int(rng.integers(len(ready)))]
        order.append(pick)
        placed.add(pick.uuid)
        hidden.remove(pick)
    data = c.to_dict()
    by_uuid = {n["uuid"]: n for n in data["neurons"]}
    data["neurons"] = [by_uuid[n.uuid] for n in order] + [n for n in data["neurons"] if n["type"] == "output"]
    rng.shuffle(data["synapses"])
    return Creature.from_json(data)


@pytest.mark.parametrize("kind", LOCAL)
@pytest.mark.parametrize("seed", SEEDS)
def test_t1c_settling_does_not_depend_on_the_storage_order_of_neurons(kind, seed):
    c, X, Y = fixture(kind, seed)
    other = reordered(c, seed)
    names = [f"input-{i}" for i in range(c.input)] + [n.uuid for n in c.neurons]
    other_names = [f"input-{i}" for i in range(c.input)] + [n.uuid for n in other.neurons]
    assert names != other_names
    where = [other_names.index(u) for u in names]
    a = pc.settle(c, X, Y, max_iterations=10, inference_rate=0.1, **PLAIN)
    b = pc.settle(other, X, Y, max_iterations=10, inference_rate=0.1, **PLAIN)
    np.testing.assert_allclose(b.latents[:, where], a.latents, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.energy, a.energy, rtol=1e-5)
    ua, ub = pc.hebbian(c, a, 1.0), pc.hebbian(other, b, 1.0)
    key = lambda cr: [(s.from_uuid, s.to_uuid) for s in cr.synapses]  # noqa: E731
    order_b = {k: i for i, k in enumerate(key(other))}
    np.testing.assert_allclose(ub.weights[[order_b[k] for k in key(c)]], ua.weights, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kind", LOCAL)
@pytest.mark.parametrize("seed", SEEDS)
def test_t1d_a_batch_settles_as_its_records_do_one_by_one(kind, seed):
    """With early stopping on (records stop at different steps and leave the tile), the batch
    gives every record what it gets alone, and its Hebbian update is the mean of theirs."""
    c, X, Y = fixture(kind, seed)
    options = dict(max_iterations=60, inference_rate=0.1, convergence_threshold=1e-3, tile=4)
    together = pc.settle(c, X, Y, **options)
    assert len(set(together.steps.tolist())) > 1  # the records did stop at different steps
    alone = [pc.settle(c, X[i:i + 1], Y[i:i + 1], **options) for i in range(len(X))]
    np.testing.assert_array_equal(np.concatenate([a.latents for a in alone]), together.latents)
    np.testing.assert_array_equal(np.concatenate([a.steps for a in alone]), together.steps)
    np.testing.assert_array_equal(np.concatenate([a.converged for a in alone]), together.converged)
    mean_w = np.mean([pc.hebbian(c, a, 0.5).weights for a in alone], axis=0)
    np.testing.assert_allclose(pc.hebbian(c, together, 0.5).weights, mean_w, rtol=1e-9, atol=1e-12)


# ---- T2, T3: fixed prediction against backprop ----------------------------------------------

@pytest.mark.parametrize("kind", FIXTURES)
@pytest.mark.parametrize("seed", SEEDS)
def test_t2_fixed_prediction_at_rate_one_for_depth_steps_is_backprop(kind, seed):
    c, X, Y = fixture(kind, seed)
    depth = R.Oracle(c).depth()
    bw, bb = bp_direction(c, X, Y)
    s = pc.settle(c, X, Y, max_iterations=depth, inference_rate=1.0, fixed_prediction=True, **PLAIN)
    u = pc.hebbian(c, s, 1.0)
    assert R.relerr(u.weights, bw) < 1e-5 and R.cosine(u.weights, bw) > 1 - 1e-9
    assert R.relerr(u.biases, bb) < 1e-5
    if kind == "mlp":   # negative control: one step short, the first layer gets nothing
        short = pc.hebbian(c, pc.settle(c, X, Y, max_iterations=depth - 1, inference_rate=1.0,
                                        fixed_prediction=True, **PLAIN), 1.0)
        assert R.relerr(short.weights, bw) > 0.1
        first = [i for i, s in enumerate(c.synapses) if s.from_uuid.startswith("input-")]
        assert np.all(short.weights[first] == 0) and np.abs(bw[first]).max() > 1e-3


@pytest.mark.parametrize("seed", SEEDS)
def test_t3_fixed_prediction_jacobi_scales_each_layer_by_a_binomial_tail(seed):
    """eta = 0.1, T = 20 on the MLP: the update of a layer k steps below the output is backprop's
    times P[Bin(20, 0.1) >= k] (0.3231 / 0.6083 / 0.8784 / 1): Jacobi semantics, sharply."""
    c, X, Y = fixture("mlp", seed)
    bw, _ = bp_direction(c, X, Y)
    u = pc.hebbian(c, pc.settle(c, X, Y, max_iterations=20, inference_rate=0.1, fixed_prediction=True,
                                **PLAIN), 1.0)
    layer = np.array([0 if s.from_uuid.startswith("input-") else 4 if s.to_uuid.startswith("output")
                      else int(s.from_uuid[1]) for s in c.synapses])
    for depth, k in ((0, 3), (1, 2), (2, 1), (4, 0)):
        sel = layer == depth
        ratio = np.linalg.norm(u.weights[sel]) / np.linalg.norm(bw[sel])
        assert ratio == pytest.approx(R.binomial_tail(20, 0.1, k), abs=2e-5)
        assert R.cosine(u.weights[sel], bw[sel]) > 1 - 1e-6


# ---- T4: strict PC with a weak output term tends to backprop linearly in beta ---------------

@pytest.mark.parametrize("kind", FIXTURES)
@pytest.mark.parametrize("seed", SEEDS)
def test_t4_strict_pc_with_a_free_output_approaches_backprop_linearly_in_beta(kind, seed):
    c, X, Y = fixture(kind, seed)
    bw, _ = bp_direction(c, X, Y)
    errs, cos = {}, {}
    for beta in (1e-2, 1e-3):
        s = pc.settle(c, X, Y, max_iterations=1500, inference_rate=0.1, output_weight=beta, **PLAIN)
        u = pc.hebbian(c, s, 1.0 / beta)   # the update divided by beta
        errs[beta], cos[beta] = R.relerr(u.weights, bw), R.cosine(u.weights, bw)
    assert errs[1e-3] < 1e-2 and cos[1e-3] > 0.9999 and cos[1e-2] > 0.998
    assert 5 < errs[1e-2] / errs[1e-3] < 15, errs


# ---- T5a: envelope theorem -------------------------------------------------------------------

@pytest.mark.parametrize("kind", FIXTURES)
@pytest.mark.parametrize("seed", SEEDS)
def test_t5a_hebbian_at_equilibrium_is_minus_the_gradient_of_the_settled_energy(kind, seed):
    """Strict PC, outputs clamped: after convergence the Hebbian update equals -dE*/dW with
    E*(W) = min_x E re-settled at W +- h (float32 settling bounds the agreement)."""
    c, X, Y = fixture(kind, seed)
    options = dict(max_iterations=1500, inference_rate=0.1, **PLAIN)
    u = pc.hebbian(c, pc.settle(c, X, Y, **options), 1.0)
    rng = np.random.default_rng(seed)
    probes = rng.choice(np.flatnonzero(np.abs(u.weights) > 1e-3), size=4, replace=False)
    h = 1e-2
    for i in probes:
        settled = []
        for sign in (1, -1):
            data = c.to_dict()
            data["synapses"][i]["weight"] = c.synapses[i].weight + sign * h
            settled.append(pc.settle(Creature.from_json(data), X, Y, **options).energy.mean())
        fd = -(settled[0] - settled[1]) / (2 * h)
        assert u.weights[i] == pytest.approx(fd, rel=2e-2, abs=2e-5), (i, u.weights[i], fd)


# ---- T6: stability and energy descent --------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_t6_energy_descends_below_the_stability_limit_and_the_guard_stops_divergence(seed):
    c, X, Y = fixture("mlp", seed)
    lam = R.Oracle(c).gauss_newton_max_eigenvalue(X, Y)
    stable = 0.9 * 2 / lam
    s = pc.settle(c, X, Y, max_iterations=300, inference_rate=stable, history=True, **PLAIN)
    h = s.history
    assert np.all(np.diff(h, axis=1) <= 1e-6 * h[:, :-1]) and np.all(h[:, -1] <= h[:, 0])
    # eta = 0.8 diverges as it is and settles with the backtracking guard
    wild = pc.settle(c, X, Y, max_iterations=300, inference_rate=0.8, history=True, **PLAIN)
    assert not np.all(wild.history[:, -1] <= wild.history[:, 0])
    guarded = pc.settle(c, X, Y, max_iterations=300, inference_rate=0.8, history=True,
                        **{**PLAIN, "backtrack": True})
    g = guarded.history
    assert np.all(np.isfinite(g)) and np.all(np.diff(g, axis=1) <= 0) and np.all(g[:, -1] < g[:, 0])


# ---- the rules around the kernels ------------------------------------------------------------

def test_adaptive_scaling_follows_neat_ai_above_ten_hidden_neurons():
    c = R.random_dag(0, n_hidden=40, n_out=3)
    s = pc.settle(c, *R.batch(c, 0), max_iterations=1)
    assert s.scaling == pc.Scaling(1 / 2, 4.3, 2)      # H = 40, N = 43: r = 4
    small = R.random_dag(0, n_hidden=8)
    assert pc.settle(small, *R.batch(small, 0), max_iterations=1).scaling == pc.Scaling(1, 1, 1)


def test_without_targets_the_forward_state_is_already_settled():
    c, X, _ = fixture("dag", 0)
    s = pc.settle(c, X)
    np.testing.assert_allclose(s.latents, R.Oracle(c).forward(X.astype(np.float64)), rtol=1e-5, atol=1e-6)
    assert np.all(s.energy < 1e-10) and np.all(s.steps == 0) and np.all(s.converged)


def test_apply_hebbian_keeps_typed_synapses_in_sign_skips_conditions_and_snaps_the_plank():
    from neatai.evaluator.network import trainable_network
    c = Creature.from_json({"input": 2, "output": 1, "neurons": [
        {"type": "output", "uuid": "output-0", "bias": 0.0, "squash": "IF"}], "synapses": [
        {"fromUUID": "input-0", "toUUID": "output-0", "weight": 0.5, "type": "condition"},
        {"fromUUID": "input-1", "toUUID": "output-0", "weight": 0.2, "type": "positive"},
        {"fromUUID": "input-0", "toUUID": "output-0", "weight": -0.3, "type": "negative"}]})
    net = trainable_network(c)
    roles = net.roles.tolist()
    dw = np.array([{3: 1.0, 1: -0.5, 2: 0.3 - 5e-8}[r] for r in roles])
    pc.apply_hebbian(net, dw, np.array([0.25]))
    got = dict(zip(roles, net.weights.tolist()))
    assert got == {3: 0.5, 1: 0.0, 2: 0.0} and net.bias[0] == 0.25


def test_bad_options_are_refused_with_the_option_named():
    c, X, Y = fixture("dag", 0)
    for bad, name in ((dict(inference_rate=0), "inference_rate"), (dict(max_iterations=-1), "max_iterations"),
                      (dict(convergence_threshold=float("nan")), "convergence_threshold"),
                      (dict(output_weight=-1.0), "output_weight")):
        with pytest.raises(ValueError, match=name):
            pc.settle(c, X, Y, **bad)
    with pytest.raises(ValueError, match="X"):
        pc.settle(c, X[:, :2], Y)


def test_neuron_prediction_errors_name_every_neuron():
    c, X, Y = fixture("dag", 1)
    r = pc.neuron_prediction_errors(c, X, Y, max_iterations=5)
    assert r.uuids == [n.uuid for n in c.neurons]
    assert r.mean_abs_error.shape == (len(c.neurons),) and r.mean_abs_error.max() > 0
    outputs = [k for k, n in enumerate(c.neurons) if n.type == "output"]
    assert np.all(r.unsettled[outputs] == 0) and r.unsettled.max() > 0
    assert 0 < r.mean_steps <= 5


# ---- recurrence: the unrolled step, the previous record's state held fixed ----------------------

def recurrent(seed):
    c = R.recurrent_dag(seed)
    assert c.recurrent
    X, Y = R.batch(c, seed)
    return c, X, Y


def sequential_forward(oracle, X):
    """The float64 forward pass with state carried from record to record (from zeros)."""
    prev = np.zeros(oracle.n_in + oracle.n)
    out = []
    for row in X:
        oracle.prev = prev[None, :]
        x = oracle.forward(row[None, :].astype(np.float64))
        out.append(x[0])
        prev = x[0]
    oracle.prev = None
    return np.array(out)


@pytest.mark.parametrize("seed", SEEDS)
def test_feedback_loop_settles_each_record_on_its_unrolled_step(seed):
    c, X, Y = recurrent(seed)
    from neatai.evaluator import compile_network
    free = pc.settle(c, X, feedback_loop=True)   # no targets: the forward state, carried
    forward = sequential_forward(R.Oracle(c), X)
    np.testing.assert_allclose(free.latents, forward, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(free.latents[:, -c.output:], compile_network(c).activate(X, feedback_loop=True),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(free.previous[1:], forward[:-1], rtol=1e-5, atol=1e-5)
    assert np.all(free.previous[0] == 0)
    # clamped: the gradient is the energy's with the previous state held fixed (T1a) ...
    rate, rows, h = 0.1, free_rows(c), 1e-6
    s0 = pc.settle(c, X, Y, max_iterations=3, inference_rate=rate, feedback_loop=True, **PLAIN)
    s1 = pc.settle(c, X, Y, max_iterations=4, inference_rate=rate, feedback_loop=True, **PLAIN)
    np.testing.assert_array_equal(s0.previous, free.previous)   # the state is the forward pass's
    oracle = R.Oracle(c)
    oracle.prev = s0.previous[None].astype(np.float64)
    shift = np.zeros((len(rows), 1, s0.latents.shape[1]))
    shift[np.arange(len(rows)), 0, rows] = h
    fd = (oracle.energy(s0.latents + shift) - oracle.energy(s0.latents - shift)) / (2 * h)
    assert np.abs((s0.latents - s1.latents)[:, rows] / rate - fd.T).max() < 2e-5
    # ... and the Hebbian update of self/back synapses multiplies the state they read (T1b)
    oracle.prev = s0.previous.astype(np.float64)
    u = pc.hebbian(c, s0, 1.0)
    fd_w = -oracle.energy_weight_differences(s0.latents, 1e-6)
    back = [i for i, syn in enumerate(c.synapses) if c.uuid_index()[syn.from_uuid] >= c.uuid_index()[syn.to_uuid]]
    assert back and np.abs(fd_w[back]).max() > 1e-3
    assert np.abs(u.weights - fd_w).max() < 1e-5


def test_without_the_feedback_loop_self_and_back_synapses_read_zero():
    c, X, Y = recurrent(0)
    s = pc.settle(c, X, Y, max_iterations=5)
    assert s.previous is None and s.state is None
    back = [i for i, syn in enumerate(c.synapses) if c.uuid_index()[syn.from_uuid] >= c.uuid_index()[syn.to_uuid]]
    assert np.all(pc.hebbian(c, s, 1.0).weights[back] == 0)


def test_the_feedback_state_carries_from_one_call_to_the_next():
    c, X, Y = recurrent(1)
    whole = pc.settle(c, X, Y, max_iterations=5, feedback_loop=True)
    first = pc.settle(c, X[:3], Y[:3], max_iterations=5, feedback_loop=True)
    rest = pc.settle(c, X[3:], Y[3:], max_iterations=5, feedback_loop=True, initial_state=first.state)
    np.testing.assert_array_equal(np.concatenate([first.latents, rest.latents]), whole.latents)
    np.testing.assert_array_equal(rest.state, whole.state)


def test_the_kernel_checks_its_arrays():
    from neatai.evaluator import pc_kernels
    from neatai.evaluator.network import trainable_network
    c, X, Y = fixture("dag", 0)
    net = trainable_network(c)
    for bad in (X.astype(np.float64), X[:, :3], np.full_like(X, np.nan)):
        with pytest.raises(ValueError, match="X"):
            pc_kernels.settle(net, bad, Y, 5, 0.1, 0.0)
    with pytest.raises(ValueError, match="records"):
        pc_kernels.settle(net, X, Y[:3], 5, 0.1, 0.0)
    with pytest.raises(ValueError, match="rate"):
        pc_kernels.settle(net, X, Y, 5, 0.0, 0.0)
