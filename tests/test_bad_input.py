"""Bad input, everywhere (property-based, hypothesis): solvers, loaders, specs, the runner.

Each bad input must give a clear error (a SpecError / InputError / DataFileError that names the
problem) or a failed / skipped row with its reason; never an exception from deep inside numpy,
and never a NaN reported as a result. Solvers never modify the caller's array. The fixed cases
live in test_solver_contract.py and test_datasets.py; these tests search the space around them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from matinv_bench.cli import main
from matinv_bench.datasets import DATASETS, make_dataset
from matinv_bench.engine.runner import Cell, run_cell, run_grid
from matinv_bench.solvers import SOLVERS, InputError
from matinv_bench.specs import SpecError, format_spec, parse_spec

SPECS = [getattr(SOLVERS.get(name), "test_spec", None) or name for name in SOLVERS]
FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MANY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _ready(spec: str, n: int):
    """A solver built and fitted (learned solvers need to know n) for n x n input."""
    solver = SOLVERS.build(spec)
    data = make_dataset(f"uniform[n={n}]", n_test=2, seed=0)
    if solver.skip(data) is not None:  # solvers that start from inv(A0) need a base matrix: A0 = I
        data = SimpleNamespace(n=n, base=np.eye(n), eps=0.01, spec=f"box around I_{n}")
    solver.fit(data)
    return solver


# -- solvers ----------------------------------------------------------------------------------

bad_shapes = st.one_of(
    hnp.array_shapes(min_dims=1, max_dims=2, max_side=4),
    hnp.array_shapes(min_dims=4, max_dims=4, max_side=3),
    st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4)).filter(lambda s: s[1] != s[2]),
)


@pytest.mark.parametrize("spec", SPECS)
@FAST
@given(shape=bad_shapes)
def test_wrong_shapes_are_refused_naming_the_shape(spec, shape):
    with pytest.raises(InputError) as err:
        SOLVERS.build(spec).prepare(np.ones(shape))
    assert str(shape) in str(err.value)


@pytest.mark.parametrize("spec", SPECS)
@FAST
@given(B=st.integers(1, 3), n=st.integers(1, 4), data=st.data(),
       bad=st.sampled_from([np.nan, np.inf, -np.inf]), dtype=st.sampled_from([np.float64, np.float32]))
def test_nan_and_inf_are_refused_with_the_batch_index(spec, B, n, data, bad, dtype):
    A = np.ones((B, n, n), dtype=dtype)
    i, j, k = (data.draw(st.integers(0, s - 1)) for s in A.shape)
    A[i, j, k] = bad
    with pytest.raises(InputError, match=f"NaN or Inf \\(first at batch index {i}\\)"):
        SOLVERS.build(spec).prepare(A)


@pytest.mark.parametrize("spec", SPECS)
def test_integer_complex_float16_and_object_dtypes_are_refused(spec):
    solver = SOLVERS.build(spec)
    A = np.eye(3)[None].repeat(2, axis=0)
    for dtype in (np.int8, np.int64, np.uint16, np.bool_, np.complex64, np.complex128, np.float16, np.longdouble,
                  object):
        with pytest.raises(InputError, match="complex|dtype") as err:
            solver.prepare(A.astype(dtype))
        assert str(np.dtype(dtype)) in str(err.value)


@pytest.mark.parametrize("spec", SPECS)
def test_empty_batches_and_n_zero_are_refused(spec):
    solver = SOLVERS.build(spec)
    with pytest.raises(InputError, match="empty batch"):
        solver.prepare(np.ones((0, 3, 3)))
    with pytest.raises(InputError, match="n >= 1"):
        solver.prepare(np.ones((2, 0, 0)))


@pytest.mark.parametrize("spec", SPECS)
@FAST
@given(a=hnp.arrays(np.float64, st.integers(1, 6), elements=st.floats(0.01, 100) | st.floats(-100, -0.01)))
def test_one_by_one_matrices(spec, a):
    solver = _ready(spec, 1)
    A = a[:, None, None]
    if solver.skip(make_dataset("npy:" + _save(A))):
        return  # e.g. Cholesky on a negative 1 x 1 matrix, with its reason
    solver.prepare(A)
    res = solver.collect(solver.invert())
    assert res.X.shape == A.shape and not res.failed.any()
    if solver.family == "direct":
        np.testing.assert_allclose(res.X[:, 0, 0], 1 / a, rtol=1e-15)


@st.composite
def finite_stacks(draw):
    """Finite float stacks: small integers (often exactly singular), floats, numerically singular
    products U V^T of rank n - 1, and badly scaled ones; with zero columns planted in some. n up to
    4, which every solver takes (closed-form refuses larger)."""
    B, n = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    kind = draw(st.sampled_from(["integers", "floats", "rank-deficient", "scaled"]))
    floats = st.floats(-1e3, 1e3, allow_subnormal=False)
    if kind == "integers":
        A = draw(hnp.arrays(np.float64, (B, n, n), elements=st.integers(-2, 2).map(float)))
    elif kind == "rank-deficient":
        U = draw(hnp.arrays(np.float64, (B, n, n - 1), elements=floats))
        V = draw(hnp.arrays(np.float64, (B, n, n - 1), elements=floats))
        A = U @ V.swapaxes(1, 2)
    else:
        A = draw(hnp.arrays(np.float64, (B, n, n), elements=floats))
        if kind == "scaled":
            A *= draw(st.sampled_from([1e-150, 1e150] if dtype == np.float64 else [1e-15, 1e15]))
    zero_cols = draw(st.lists(st.booleans(), min_size=B, max_size=B))
    col = draw(st.integers(0, n - 1))
    A[np.array(zero_cols), :, col] = 0.0
    return A.astype(dtype), np.array(zero_cols)


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")  # ill-conditioned on purpose
@pytest.mark.parametrize("spec", SPECS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stack=finite_stacks())
def test_finite_input_never_gives_silent_nan_nor_is_modified(spec, stack):
    A, zero_col = stack
    solver = _ready(spec, A.shape[-1])
    before = A.copy()
    with np.errstate(all="ignore"):  # overflow inside a solver is expected here; its result must be flagged
        solver.prepare(A)
        res = solver.collect(solver.invert())
        res2 = solver.collect(solver.invert())
    np.testing.assert_array_equal(A, before, err_msg="the solver modified the caller's array")
    assert A.dtype == before.dtype
    assert res.X.shape == A.shape and res.failed.shape == (len(A),) and res.failed.dtype == bool
    finite = np.isfinite(res.X).all(axis=(1, 2))
    assert (finite | res.failed).all(), "a non-finite output must be flagged as failed"
    assert np.isnan(res.X[res.failed]).all(), "a failed matrix is NaN, never a finite guess"
    assert bool(res.reason) == bool(res.failed.any())
    np.testing.assert_array_equal(res2.failed, res.failed)
    if solver.family == "direct":  # an exactly zero column is an exactly zero pivot: always caught
        assert res.failed[zero_col].all(), res.reason


# -- the runner: singular sets, sizes that cannot fit -------------------------------------------

def _save(arr: np.ndarray) -> str:
    f = tempfile.NamedTemporaryFile(suffix=".npy", delete=False)
    np.save(f, arr)
    f.close()
    return f.name


@pytest.mark.parametrize("spec", SPECS)
def test_singular_sets_give_failed_rows_with_reasons_not_nan(spec):
    singular = np.array([[[1.0, 2.0], [2.0, 4.0]], [[0.0, 0.0], [0.0, 1.0]], [[3.0, 0.0], [0.0, 0.0]]])
    mixed = np.concatenate([singular, [[[2.0, 1.0], [1.0, 2.0]]]])
    for arr, all_singular in ((singular, True), (mixed, False)):
        data = make_dataset("npy:" + _save(arr))
        row = run_cell(Cell(spec, data.spec), data, warmup_s=0, min_run_s=0, time_it=False)
        if row["status"] == "ok":
            assert not all_singular, f"an unscorable cell reported as ok: {row}"
            assert np.isfinite(row["mae"]) and np.isfinite(row["residual_ratio"]), row
        else:
            assert row["status"] in ("failed", "skipped") and row["reason"], row


def test_sizes_that_cannot_fit_are_rows_with_the_bytes():
    # a dataset too large for this machine is skipped (it was not run); a network too large fails
    cells = [Cell("lu", "randsvd[n=300000]"), Cell("mlp-2fc", "uniform[n=200]"), Cell("lu", "paper-3x3")]
    df = run_grid(cells, None, time_it=False, progress=False)
    assert df.status.tolist() == ["skipped", "failed", "ok"]
    assert "does not fit in memory" in df.reason[0] and "GiB" in df.reason[0] and "bytes" in df.reason[0]
    assert "GiB of weights" in df.reason[1]
    huge = run_grid([Cell("lu", "paper-3x3")], None, n_test=10**13, time_it=False, progress=False)
    assert huge.status[0] == "skipped" and "GiB" in huge.reason[0] and "bytes" in huge.reason[0]


# -- loaders --------------------------------------------------------------------------------------

def _npy_header(header: str) -> bytes:
    body = header.encode("latin1").ljust(118) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body


@MANY
@example(content=_npy_header("{'descr': '<f8', 'fortran_order': False, 'shape': ((((}"))  # a tokenize error
@example(content=_npy_header("{'descr': '<f8', 'fortran_order': False, 'shape': (10**6, 1000, 1000), }"))
@example(content=_npy_header("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 1000, 1000), }"))
@example(content=_npy_header("{'descr': '|O', 'fortran_order': False, 'shape': (2, 2), }") + b"\x80\x04N.")
@given(content=st.binary(max_size=300) | st.binary(max_size=300).map(lambda b: b"\x93NUMPY\x01\x00" + b))
def test_npy_loader_refuses_garbage_naming_the_file(content):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "junk.npy"
        path.write_bytes(content)
        with pytest.raises(SpecError, match="junk.npy"):
            make_dataset(f"npy:{path}")


@MANY
@example(arr=np.zeros((1, 1), dtype=np.float16), cut=130)  # a cut at the file's length leaves it whole
@given(arr=hnp.arrays(st.sampled_from(["f2", "f4", "f8", "i1", "i8", "u8", "?", "c8", "U2"]),
                      hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=3)),
       cut=st.none() | st.integers(0, 200))
def test_npy_loader_takes_real_square_stacks_and_refuses_the_rest(arr, cut):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.npy"
        np.save(path, arr)
        truncated = cut is not None and cut < path.stat().st_size
        if truncated:
            path.write_bytes(path.read_bytes()[:cut])
            assume(arr.size or cut < 64)  # cutting the padding of an empty array may leave it whole
        stack = arr[None] if arr.ndim == 2 else arr
        good = (not truncated and arr.dtype.kind in "fiu" and stack.ndim == 3 and stack.shape[1] == stack.shape[2]
                and min(stack.shape) >= 1 and np.isfinite(stack).all())
        if good:
            np.testing.assert_array_equal(make_dataset(f"npy:{path}").A, stack.astype(np.float64))
        else:
            with pytest.raises(SpecError, match="a.npy"):
                make_dataset(f"npy:{path}")


@MANY
@example(base=np.zeros((0, 0)), test=np.zeros((1, 0, 0, 2)))  # n = 0
@example(base=np.eye(2), test=np.zeros((0, 2, 2, 2)))  # N = 0
@given(base=st.none() | hnp.arrays("f8", hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3),
                                   elements=st.floats(-3, 3)),
       test=st.none() | hnp.arrays("f8", hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=3),
                                   elements=st.floats(-1, 1)))
def test_paper_dir_loader_refuses_malformed_folders(base, test):
    with tempfile.TemporaryDirectory() as tmp:
        for name, arr in (("base_matrix.npy", base), ("test_set.npy", test)):
            if arr is not None:
                np.save(Path(tmp) / name, arr)
        n = base.shape[0] if base is not None and base.ndim == 2 else -1
        square = base is not None and n >= 1 and base.shape == (n, n)
        good = square and test is not None and test.shape[1:] == (n, n, 2) and test.shape[0] >= 1
        if good:
            d = make_dataset(f"paper-dir:{tmp}")
            np.testing.assert_array_equal(d.A, base + 0.01 * test[..., 0])
        elif square and test is None:  # only a base: the box of radius 0.01 around it
            d = make_dataset(f"paper-dir:{tmp}", n_test=3)
            assert d.A.shape == (3, n, n) and np.abs(d.A - base).max() <= 0.01
        else:
            with pytest.raises(SpecError, match="paper-dir"):
                make_dataset(f"paper-dir:{tmp}")


# -- specs and parameters ----------------------------------------------------------------------

@FAST
@given(text=st.text(max_size=30))
def test_any_text_is_a_spec_or_a_spec_error(text):
    for build in (lambda t: parse_spec(t, ("npy", "paper-dir")), SOLVERS.build, DATASETS.build):
        try:
            build(text)
        except SpecError as exc:
            assert str(exc) and "\n" not in str(exc)


values = (st.integers(-3, 40) | st.integers(10**6, 10**30) | st.floats(allow_nan=True, allow_infinity=True)
          | st.booleans() | st.sampled_from(["cpu", "cuda", "auto", "numpy", "torch", "none", "paper-3x3", "x"]))


@pytest.mark.parametrize("registry, spec", [
    (SOLVERS, "mlp-2fc[seed=1e400]"), (SOLVERS, "gauss-jordan[backend=torch,device=cuda:x]"),
    (DATASETS, "uniform[low=-1e308,high=1e308]"), (DATASETS, "randsvd[n=1e400]"), (DATASETS, "box[eps=nan]"),
    (DATASETS, "near-singular[sigma_min=x]"), (DATASETS, "pascal[n=29]"),
])
def test_values_that_once_crashed_give_spec_errors(registry, spec):
    with pytest.raises(SpecError, match="bad parameters"):
        registry.build(spec)


@pytest.mark.parametrize("spec", ["near-singular[n=true]", "randsvd[n=true]", "pascal[n=true]", "hilbert[n=true]",
                                  "spd-box[n=false]", "mlp-2fc[hidden=true]"])
def test_a_boolean_is_no_size(spec):
    # bool is an int subclass in Python: n=true must not pass as n=1 (or reach numpy as a bool)
    registry = SOLVERS if spec.startswith("mlp") else DATASETS
    with pytest.raises(SpecError, match="must be"):
        registry.build(spec)


@MANY
@given(data=st.data())
def test_any_parameter_values_build_or_give_a_spec_error(data):
    registry = data.draw(st.sampled_from([SOLVERS, DATASETS]))
    name = data.draw(st.sampled_from([n for n in registry.names() if n not in registry.prefixes]))
    allowed = list(registry.parameters(name)) + ["bogus"]
    keys = data.draw(st.lists(st.sampled_from(allowed), unique=True, max_size=3))
    spec = format_spec(name, {k: data.draw(values) for k in keys})
    try:
        obj = registry.build(spec)
    except SpecError as exc:
        assert spec in str(exc) or name in str(exc)
        return
    if registry is DATASETS and obj.n <= 6:  # small enough to draw: errors here are clear too
        try:
            d = make_dataset(obj, n_test=2, seed=0)
        except (ValueError, MemoryError) as exc:
            assert str(exc)
        else:
            assert np.isfinite(d.A).all() and d.ref_method


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(min_size=1, max_size=20).filter(lambda t: not t.startswith("-")))
def test_cli_gives_one_line_for_any_solver_spec(text):
    import contextlib
    import io

    err = io.StringIO()
    quiet = contextlib.redirect_stdout(io.StringIO())
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stderr(err), quiet:
        rc = main(["run", "--solver", text, "--dataset", "paper-2x2-1st", "--n-matrices", "2", "--no-timing",
                   "--quiet", "--out", tmp])
    assert rc in (0, 1, 2)  # 1: a solver that built but skipped or failed its only cell
    if rc != 0:
        assert len(err.getvalue().strip().splitlines()) == 1 and "Traceback" not in err.getvalue()


def test_a_huge_spd_box_builds_cheaply_and_refuses_to_draw_in_one_line():
    """Building a spec allocates nothing; the n x n base is drawn, memory-checked, on first use."""
    from matinv_bench.errors import TooLargeError

    ds = DATASETS.build("spd-box[n=1000000]")
    with pytest.raises(TooLargeError, match=r"1000000 x 1000000 need about .* GiB"):
        make_dataset(ds, n_test=2, seed=0)
