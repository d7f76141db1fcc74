import numpy as np
import pytest

from matinv_bench.datasets import BASES, DATASETS, DataFileError, box_theta, make_dataset
from matinv_bench.scoring.reference import mpmath_inverse, residual_dd
from matinv_bench.specs import SpecError

EVERY_GENERATED = [
    "paper-2x2-1st", "paper-2x2-2nd", "paper-3x3", "paper-16x16", "box[base=paper-3x3,eps=0.05]",
    "randsvd[n=12,cond=1e6,mode=1]", "randsvd[n=12,cond=1e6,mode=5]", "spd[n=10,cond=1e4]",
    "near-singular[n=6,sigma_min=1e-9]", "uniform[n=3]", "pascal[n=9]", "hilbert[n=7]", "spd-box[n=5]",
]


def test_every_registered_family_is_covered():
    covered = {s.split("[")[0] for s in EVERY_GENERATED} | {"npy", "paper-dir"}
    assert covered == set(DATASETS.names())


@pytest.mark.parametrize("spec", EVERY_GENERATED)
def test_same_seed_is_bit_identical_and_seeds_differ(spec):
    a = make_dataset(spec, n_train=5, n_test=20, seed=7)
    b = make_dataset(spec, n_train=5, n_test=20, seed=7)
    assert a.A.tobytes() == b.A.tobytes() and a.inv_ref.tobytes() == b.inv_ref.tobytes()
    assert a.train.A.tobytes() == b.train.A.tobytes() if a.train is not None else True
    if not a.source.fixed:
        c = make_dataset(spec, n_test=20, seed=8)
        assert not np.array_equal(a.A, c.A)
        assert not np.array_equal(a.A[:5], a.train.A), "train and test splits must be independent"


@pytest.mark.parametrize("spec", EVERY_GENERATED)
def test_reference_inverse_is_accurate(spec):
    data = make_dataset(spec, n_test=4, seed=1)
    exact = mpmath_inverse(data.A, digits=80)
    err = np.abs(data.inv_ref - exact).max(axis=(1, 2)) / np.abs(exact).max(axis=(1, 2))
    assert err.max() < 1e-14, (data.ref_method, err)


def test_reference_beats_plain_lapack_when_ill_conditioned():
    data = make_dataset("randsvd[n=10,cond=1e12]", n_test=3, seed=0)
    exact = mpmath_inverse(data.A, digits=80)
    lapack = np.linalg.inv(data.A)
    assert np.abs(data.inv_ref - exact).max() < 1e-3 * np.abs(lapack - exact).max()


def test_residual_dd_against_mpmath(rng):
    import mpmath

    A = rng.standard_normal((1, 6, 6))
    X = np.linalg.inv(A)
    with mpmath.workdps(60):
        R = mpmath.eye(6) - mpmath.matrix(A[0].tolist()) * mpmath.matrix(X[0].tolist())
        R = np.array(R.tolist(), dtype=float)
    assert np.abs(residual_dd(A, X)[0] - R).max() <= 1e-3 * np.abs(R).max()


def test_metadata_of_boxes():
    d = make_dataset("box[base=paper-2x2-1st,eps=0.1]", n_test=50)
    assert d.eps == 0.1 and np.array_equal(d.base, BASES["paper-2x2-1st"])
    np.testing.assert_allclose(d.A, d.base + d.eps * d.T)
    assert np.abs(d.T).max() <= 1
    # theta = n eps / sigma_min(A0) with sigma_min([[2,2],[2,3]]) = (5 - sqrt(17)) / 2
    assert d.theta == pytest.approx(2 * 0.1 / ((5 - np.sqrt(17)) / 2))
    assert d.kappa.shape == d.sigma_min.shape == (50,)


def test_theta_below_one_keeps_the_box_nonsingular(rng):
    for name, A0 in BASES.items():
        eps = 0.99 / A0.shape[0] * np.linalg.svd(A0, compute_uv=False)[-1]
        assert box_theta(A0, eps) < 1
        T = rng.uniform(-1, 1, size=(2000, *A0.shape))
        assert np.linalg.svd(A0 + eps * T, compute_uv=False)[:, -1].min() > 0, name


def test_paper_16x16_base_is_integer_and_nonsingular():
    A0 = BASES["paper-16x16"]
    assert A0.shape == (16, 16) and set(np.unique(A0)) <= {-2, -1, 0, 1, 2}
    assert box_theta(A0, 0.01) < 1


def test_near_singular_and_randsvd_have_prescribed_singular_values():
    d = make_dataset("near-singular[n=8,sigma_min=1e-6]", n_test=10)
    np.testing.assert_allclose(d.sigma_min, 1e-6, rtol=1e-6)
    r = make_dataset("randsvd[n=8,cond=1e5]", n_test=10)
    np.testing.assert_allclose(r.kappa, 1e5, rtol=1e-6)


def test_spd_is_exactly_symmetric():
    d = make_dataset("spd[n=12,cond=1e6]", n_test=5)
    assert np.array_equal(d.A, d.A.swapaxes(1, 2))
    assert (np.linalg.eigvalsh(d.A) > 0).all()


def test_pascal_reference_is_the_exact_integer_inverse():
    d = make_dataset("pascal[n=6]")
    assert d.ref_method == "exact-integer"
    np.testing.assert_array_equal(d.inv_ref[0] @ d.A[0], np.eye(6))


def test_npy_loader(tmp_path):
    stack = np.random.default_rng(0).standard_normal((5, 4, 4))
    np.save(tmp_path / "a.npy", stack)
    d = make_dataset(f"npy:{tmp_path / 'a.npy'}")
    assert np.array_equal(d.A, stack) and len(d) == 5


@pytest.mark.parametrize("content, words", [
    (np.ones((3, 4, 5)), "expected shape"),
    (np.ones(5), "expected shape"),
    (np.array([[np.nan]]), "NaN or Inf"),
    (np.array(["a", "b"]), "expected real numbers"),
])
def test_npy_loader_rejects_malformed_files(tmp_path, content, words):
    np.save(tmp_path / "bad.npy", content)
    with pytest.raises(SpecError, match=words):
        make_dataset(f"npy:{tmp_path / 'bad.npy'}")


def test_npy_loader_rejects_garbage_and_missing(tmp_path):
    (tmp_path / "junk.npy").write_bytes(b"not an npy file")
    with pytest.raises(SpecError, match="cannot read"):
        make_dataset(f"npy:{tmp_path / 'junk.npy'}")
    with pytest.raises(SpecError, match="no such file"):
        make_dataset(f"npy:{tmp_path / 'missing.npy'}")


def test_paper_dir_matches_the_authors_sets(paper_data):
    d = make_dataset(f"paper-dir:{paper_data / 'matrix_2_dataset'}", n_train=100)
    assert d.A.shape == (10000, 2, 2) and d.eps == 0.01
    np.testing.assert_array_equal(d.base, BASES["paper-2x2-1st"])
    # our reference and the authors' numpy.linalg.inv agree to rounding
    assert np.abs(d.inv_ref - d.source.authors_inv).max() < 1e-14
    # the README's orientation figure: the linear approximation scores about 1.96e-4
    iA0 = np.linalg.inv(d.base)
    lin = iA0 - iA0 @ (d.A - d.base) @ iA0
    assert abs(np.abs(lin - d.source.authors_inv).mean() - 1.96e-4) < 0.01e-4
    assert d.train is not None and d.train.A.shape == (100, 2, 2)
    for folder, base in [("matrix_2_dataset_2", "paper-2x2-2nd"), ("matrix_3_dataset", "paper-3x3")]:
        np.testing.assert_array_equal(make_dataset(f"paper-dir:{paper_data / folder}").base, BASES[base])


def test_paper_dir_with_only_a_base_is_the_box_around_it(tmp_path, paper_data):
    d = make_dataset(f"paper-dir:{paper_data / 'matrix_16'}", n_test=20, n_train=5, seed=3)
    base = np.load(paper_data / "matrix_16" / "base_matrix.npy")
    assert not d.source.fixed and d.A.shape == (20, 16, 16) and d.train.A.shape == (5, 16, 16)
    np.testing.assert_array_equal(d.base, base)
    assert 0 < np.abs(d.A - base).max() <= 0.01
    again = make_dataset(f"paper-dir:{paper_data / 'matrix_16'}", n_test=20, seed=3)
    np.testing.assert_array_equal(d.A, again.A)  # seeded: bit-identical for the same seed
    assert not np.array_equal(d.A, make_dataset(f"paper-dir:{paper_data / 'matrix_16'}", n_test=20, seed=4).A)
    np.save(tmp_path / "base_matrix.npy", np.eye(3))  # any base-only folder works the same way
    assert make_dataset(f"paper-dir:{tmp_path}", n_test=4).A.shape == (4, 3, 3)


def test_paper_dir_rejects_malformed_folders(tmp_path):
    with pytest.raises(SpecError, match="no such folder"):
        make_dataset(f"paper-dir:{tmp_path / 'nope'}")
    np.save(tmp_path / "base_matrix.npy", np.eye(2))
    np.save(tmp_path / "test_set.npy", np.ones((4, 2, 2)))
    with pytest.raises(SpecError, match=r"test_set.npy must have shape \(N, 2, 2, 2\)"):
        make_dataset(f"paper-dir:{tmp_path}")


def test_sizes_that_do_not_fit_in_memory_are_refused_with_the_bytes():
    with pytest.raises(MemoryError, match=r"need about .* GiB \(\d+ bytes\)"):
        make_dataset("randsvd[n=100000]", n_test=8)


def test_data_file_error_is_a_value_error():
    assert issubclass(DataFileError, ValueError)


def test_an_exactly_singular_matrix_with_a_zero_column_gets_a_nan_reference(tmp_path):
    A = np.random.default_rng(0).standard_normal((3, 6, 6))
    A[1][:, 2] = 0.0  # mpmath's LU used to fail on this with a TypeError
    np.save(tmp_path / "s.npy", A)
    data = make_dataset(f"npy:{tmp_path / 's.npy'}")
    assert np.isnan(data.inv_ref[1]).all()
    assert np.isfinite(data.inv_ref[[0, 2]]).all()
