"""`lazyrich.matrices`: the QQᵀ blocks, against `lazyrich solve` and the balance identities."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import polars as pl
import pytest

import lazyrich

from .conftest import lazyrich as run_lazyrich


@pytest.fixture(scope="module")
def points(matrices_data: pathlib.Path) -> list[lazyrich.PointMatrices]:
    ms = lazyrich.matrices(matrices_data)
    assert len(ms) == 9
    return ms


def test_shapes_and_selection(matrices_data: pathlib.Path,
                              points: list[lazyrich.PointMatrices]) -> None:
    assert [m.point_id for m in points] == sorted(m.point_id for m in points)
    for m in points:
        k = len(m.t)
        assert m.t.tolist() == [0.0, 0.5, 1.0, 2.0, 1e6]
        assert m.arch == f"{m.n_in}-{m.n_hidden}-{m.n_out}"
        assert m.qqt.shape == (k, m.n_in + m.n_out, m.n_in + m.n_out)
        assert m.w1tw1.shape == (k, m.n_in, m.n_in)
        assert m.w2w2t.shape == (k, m.n_out, m.n_out)
        assert m.w2w1.shape == (k, m.n_out, m.n_in)
    one = lazyrich.matrices(matrices_data, point_id=points[4].point_id)
    assert len(one) == 1 and np.array_equal(one[0].qqt, points[4].qqt)
    funnels = lazyrich.matrices(matrices_data, where=pl.col("arch") == "3-2-2")
    assert {m.arch for m in funnels} == {"3-2-2"} and len(funnels) == 3
    assert lazyrich.matrices(matrices_data, point_id=[1, 2]) == []


def test_no_matrices_no_points(quickstart: pathlib.Path) -> None:
    assert lazyrich.matrices(quickstart) == []


def test_singular_values_are_those_of_w2w1(matrices_data: pathlib.Path,
                                           points: list[lazyrich.PointMatrices]) -> None:
    """The dataset's own `singular_values` column (computed by lazyrich from W2W1) at the same
    times: fails for any other block or orientation."""
    rows = lazyrich.scan(matrices_data).select("point_id", "t", "singular_values").collect()
    stored = {r["point_id"]: r for r in rows.iter_rows(named=True)}
    for m in points:
        row = stored[m.point_id]
        assert row["t"] == m.t.tolist()
        for i in range(len(m.t)):
            want = np.array(row["singular_values"][i])
            got = np.linalg.svd(m.w2w1[i], compute_uv=False)[: len(want)]
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_blocks_satisfy_the_balance_identities(points: list[lazyrich.PointMatrices]) -> None:
    """With W2ᵀW2 − W1W1ᵀ = λI: (W2W1)ᵀ(W2W1) = A² + λA for A = W1ᵀW1, and
    (W2W1)(W2W1)ᵀ = C² − λC for C = W2W2ᵀ. Both fail if a block is the wrong one, transposed,
    or λ has the wrong sign."""
    for m in points:
        lam = m.lambda_
        assert lam is not None
        for a, c, p in zip(m.w1tw1, m.w2w2t, m.w2w1):
            scale = max(1.0, float(np.abs(a).max()), float(np.abs(c).max())) ** 2
            np.testing.assert_allclose(p.T @ p, a @ a + lam * a, atol=1e-9 * scale)
            np.testing.assert_allclose(p @ p.T, c @ c - lam * c, atol=1e-9 * scale)


def test_representations_are_symmetric_psd(points: list[lazyrich.PointMatrices]) -> None:
    for m in points:
        for block in (m.w1tw1, m.w2w2t):
            np.testing.assert_allclose(block, np.swapaxes(block, 1, 2), atol=1e-12)
            eig = np.linalg.eigvalsh(block)
            assert (eig >= -1e-10 * np.abs(eig).max()).all()


def weights_from_qqt(qqt0: np.ndarray, n_in: int, n_hidden: int) -> tuple[np.ndarray, np.ndarray]:
    """Balanced weights with the given QQᵀ(0): Q = U√S from its top `n_hidden` eigenpairs
    (any factor of a balanced QQᵀ with Nh orthonormal-scaled columns keeps QᵀJQ = λI)."""
    values, vectors = np.linalg.eigh(qqt0)
    top = np.argsort(values)[::-1][:n_hidden]
    q = vectors[:, top] * np.sqrt(np.clip(values[top], 0, None))
    return q[:n_in].T, q[n_in:]


def test_w2w1_equals_lazyrich_solve(points: list[lazyrich.PointMatrices],
                                    tmp_path: pathlib.Path) -> None:
    """Recompute each point with `lazyrich solve` from its stored QQᵀ(0) (weights) and its
    converged W2W1(t = 1e6) (= Σyx), and compare QQᵀ and its blocks at the other times."""
    for m in points:
        assert m.t[0] == 0.0 and m.t[-1] == 1e6
        w1, w2 = weights_from_qqt(m.qqt[0], m.n_in, m.n_hidden)
        problem = {
            "w1": w1.tolist(), "w2": w2.tolist(), "sigma_yx": m.w2w1[-1].tolist(),
            "times": m.t[:-1].tolist(), "method": "closed-form",
        }
        path = tmp_path / f"{m.point_id}.json"
        path.write_text(json.dumps(problem))
        out = json.loads(run_lazyrich("solve", path).stdout)
        assert out["status"] == "ok", out
        assert out["lambda"] == pytest.approx(m.lambda_, rel=1e-9)
        for i, point in enumerate(out["points"]):
            qqt = np.array(point["qqt"])
            scale = float(np.abs(qqt).max())
            np.testing.assert_allclose(m.qqt[i], qqt, atol=1e-8 * scale)
            np.testing.assert_allclose(m.w2w1[i], qqt[m.n_in:, : m.n_in], atol=1e-8 * scale)
            np.testing.assert_allclose(m.w1tw1[i], qqt[: m.n_in, : m.n_in], atol=1e-8 * scale)
            np.testing.assert_allclose(m.w2w2t[i], qqt[m.n_in:, m.n_in:], atol=1e-8 * scale)
