"""Random subject geometry: rotations, the displacement field's Jacobian bound, its interpolation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from train.data.phantom.warp import jacobian_determinant, random_displacement, rotation_matrix, upsample_control


@pytest.mark.parametrize("angles", [(0, 0, 0), (8, -6, 4), (-30, 12, 90)])
def test_rotation_is_proper_orthogonal(angles):
    r = rotation_matrix(*angles)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-12)


def test_yaw_rotates_in_the_axial_plane():
    r = rotation_matrix(90, 0, 0)
    np.testing.assert_allclose(r @ [1, 0, 0], [0, 1, 0], atol=1e-12)  # X -> Y about Z
    np.testing.assert_allclose(r @ [0, 0, 1], [0, 0, 1], atol=1e-12)


@pytest.mark.parametrize(("shape", "voxel"), [((64, 64), 2.8), ((24, 28, 32), 5.0)])
@pytest.mark.parametrize("max_gradient", [0.1, 0.3])
def test_jacobian_bounded_and_positive(shape, voxel, max_gradient):
    d = len(shape)
    for seed in range(3):
        u = random_displacement(np.random.default_rng(seed), shape, voxel, rms_mm=20.0, max_gradient=max_gradient)
        assert u.shape == (d, *shape) and u.dtype == np.float32
        det = jacobian_determinant(u, voxel)
        # eigenvalues of grad u lie within max_gradient of 0 (row-sum bound)
        assert det.min() >= (1 - max_gradient) ** d - 1e-4
        assert det.max() <= (1 + max_gradient) ** d + 1e-4
        # a large requested RMS is cut back by the bound, so the bound is what is exercised
        grads = [np.gradient(u[i].astype(np.float64), voxel) for i in range(d)]
        rows = [sum(np.abs(g[j] if d > 1 else g) for j in range(d)) for i, g in enumerate(grads)]
        assert max(float(r.max()) for r in rows) <= max_gradient + 1e-4
        assert max(float(r.max()) for r in rows) > 0.5 * max_gradient


def test_displacement_rms_and_determinism():
    a = random_displacement(np.random.default_rng(4), (48, 48), 3.75, rms_mm=2.0)
    b = random_displacement(np.random.default_rng(4), (48, 48), 3.75, rms_mm=2.0)
    np.testing.assert_array_equal(a, b)
    rms = float(np.sqrt(np.mean(np.sum(a.astype(np.float64) ** 2, axis=0))))
    assert 0.2 < rms < 4.0  # about the control-grid RMS (2 mm), never above it by much
    c = random_displacement(np.random.default_rng(5), (48, 48), 3.75, rms_mm=2.0)
    assert not np.allclose(a, c)


@pytest.mark.parametrize(
    ("shape", "m", "spacing", "voxel"), [((30, 20), (11, 9), 8.0, 2.5), ((7, 9, 11), (6, 7, 8), 4.0, 2.0)]
)
def test_upsample_control_matches_scipy(shape, m, spacing, voxel):
    ctrl = np.random.default_rng(0).normal(size=(len(shape), *m)).astype(np.float32)
    out = upsample_control(ctrl, spacing, shape, voxel)
    coords = [((np.arange(n) - (n - 1) / 2) * voxel) / spacing + (k - 1) / 2 for n, k in zip(shape, m, strict=True)]
    grid = np.meshgrid(*coords, indexing="ij")
    ref = np.stack([ndimage.map_coordinates(c.astype(np.float64), grid, order=1) for c in ctrl])
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_upsample_control_rejects_uncovered_grid():
    with pytest.raises(ValueError, match="does not cover"):
        upsample_control(np.zeros((2, 3, 3), np.float32), 1.0, (10, 10), 1.0)


def test_bad_max_gradient():
    with pytest.raises(ValueError, match="max_gradient"):
        random_displacement(np.random.default_rng(0), (32, 32), 1.0, rms_mm=1.0, max_gradient=1.0)
