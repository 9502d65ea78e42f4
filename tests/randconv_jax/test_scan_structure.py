"""Regression guard for the unrolled-fusion trap: same-shape layers must run under lax.scan.

Unrolled, XLA fuses consecutive layers into one loop nest that recomputes earlier layers per
output tap (the ``_random_conv`` comment: three unrolled layers cost ~32x one). This checks
the program structure, not timings.
"""

from __future__ import annotations

import collections
import functools

import jax
import jax.numpy as jnp
import pytest

import randconv_jax as rc


def _sub_jaxprs(value):
    values = value if isinstance(value, (list, tuple)) else [value]
    for v in values:
        if hasattr(v, "eqns"):  # Jaxpr
            yield v
        elif hasattr(v, "jaxpr") and hasattr(v.jaxpr, "eqns"):  # ClosedJaxpr
            yield v.jaxpr


def _walk(jaxpr, depth=0):
    """Yields (eqn, nesting depth) over a jaxpr and all its sub-jaxprs (scan bodies, cond branches, ...)."""
    for eqn in jaxpr.eqns:
        yield eqn, depth
        for value in eqn.params.values():
            for sub in _sub_jaxprs(value):
                yield from _walk(sub, depth + 1)


def _eqns(fn, *args):
    return list(_walk(jax.make_jaxpr(fn)(*args).jaxpr))


def _layer_scans(eqns, spatial_dims=2):
    """Scans over stacked layers: one operand is the stacked kernels ``(repeats, *k, C_in/g, C_out)``.

    (Other scans, e.g. a loop over output channels inside one convolution, do not count.)
    """
    found = []
    for eqn, _ in eqns:
        if eqn.primitive.name != "scan":
            continue
        length = eqn.params["length"]
        shapes = [getattr(v.aval, "shape", ()) for v in eqn.invars]
        if any(len(s) == spatial_dims + 3 and s[0] == length for s in shapes):  # (repeats, *k, cin, cout)
            found.append(eqn)
    return found


def _resolved(impl: str) -> str:
    """``impl="auto"`` is resolved at trace time: taps on a CPU backend, lax.conv elsewhere."""
    if impl != "auto":
        return impl
    return "taps" if jax.default_backend() == "cpu" else "lax"


def _counts(eqns):
    return collections.Counter(eqn.primitive.name for eqn, _ in eqns)


X = jax.ShapeDtypeStruct((12, 13, 3), jnp.float32)
KEY = jax.random.key(0)


@pytest.mark.parametrize("impl", ["auto", "taps", "lax"])
@pytest.mark.parametrize("kernel_size", [3, (1, 3, 5, 7)], ids=["fixed", "multiscale"])
def test_depth_five_random_conv_runs_its_layers_under_scan(kernel_size, impl):
    eqns = _eqns(functools.partial(rc.random_conv, kernel_size=kernel_size, depth=5, impl=impl), KEY, X)
    scans = _layer_scans(eqns)
    assert len(scans) == 1, [e.primitive.name for e, _ in eqns if e.primitive.name == "scan"]
    assert scans[0].params["length"] == 5
    # One layer's worth of convolution code in the whole program, not five, all inside the scan body.
    counts = _counts(eqns)
    body = _counts(_walk(scans[0].params["jaxpr"].jaxpr))
    if _resolved(impl) == "lax":
        n_sizes = 1 if isinstance(kernel_size, int) else 4
        assert counts["conv_general_dilated"] == body["conv_general_dilated"] == n_sizes, counts
    else:  # taps: the tap products live in the body; outside it only sampling arithmetic
        assert body["mul"] >= 9 * 3
        assert counts["mul"] - body["mul"] < body["mul"]


def test_layer_scan_appears_for_runs_of_equal_layers_only():
    depth1 = _eqns(functools.partial(rc.random_conv, kernel_size=3, depth=1), KEY, X)
    assert not _layer_scans(depth1)
    # C -> 6 -> 6 -> 6 -> 6 -> C: the three 6 -> 6 layers form one scanned stack.
    hidden = _eqns(functools.partial(rc.random_conv, kernel_size=3, depth=5, hidden_channels=6), KEY, X)
    (scan,) = _layer_scans(hidden)
    assert scan.params["length"] == 3
    # Applying given params (no sampling) has the same structure.
    params = rc.sample_random_conv(KEY, jnp.zeros((12, 13, 3)), kernel_size=3, depth=5, bias_std=1.0)
    (scan,) = _layer_scans(_eqns(rc.apply_random_conv, jnp.zeros((12, 13, 3)), params))
    assert scan.params["length"] == 5


def test_ms_rc_3d_scans_its_three_layers():
    x3 = jax.ShapeDtypeStruct((6, 7, 8, 2), jnp.float32)
    (scan,) = _layer_scans(_eqns(rc.presets.ms_rc_3d(probability=1.0), KEY, x3), spatial_dims=3)
    assert scan.params["length"] == 3


@pytest.mark.parametrize("impl", ["auto", "lax"])
def test_depth_five_3d_random_conv_runs_its_layers_under_scan(impl):
    x3 = jax.ShapeDtypeStruct((6, 7, 8, 2), jnp.float32)
    eqns = _eqns(functools.partial(rc.random_conv, kernel_size=3, depth=5, impl=impl), KEY, x3)
    (scan,) = _layer_scans(eqns, spatial_dims=3)
    assert scan.params["length"] == 5
    assert _counts(eqns)["conv_general_dilated"] == (1 if _resolved(impl) == "lax" else 0)
