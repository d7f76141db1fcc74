"""Every asv benchmark in bench/ runs. The suites are discovered as asv discovers them
(``asv_runner.discovery``); each benchmark runs as asv would run it, once: ``setup_cache`` (where
the class has one), ``setup``, one call of the benchmark and ``teardown``, on one combination of
its parameters (the first value of each, or :data:`CHEAP`). The class's ``params`` are narrowed to
that combination first, so ``setup_cache``, which computes what ``params`` holds, stays small.

asv skips a combination whose ``setup`` raises NotImplementedError; the one chosen here must run,
or the test would check nothing.
"""

from __future__ import annotations

import io
import json
import math
import tomllib
from pathlib import Path

import pytest
from asv_runner.discovery import disc_benchmarks, get_benchmark_from_name, list_benchmarks

from bench import names

ROOT = Path(__file__).resolve().parents[1]
BENCH = str(ROOT / "bench")
# per class: parameter values that replace the first ones (where those skip, or train for long)
CHEAP = {
    "Accuracy": {"solver": "lu"},  # cholesky, the first, skips the non-symmetric paper-2x2-1st
    "TrainedAccuracy": {"solver": "mlp-2fc[recipe=tiny]"},  # the quick recipe trains for ~10 s
}
NAMES = sorted(b.name for b in disc_benchmarks(BENCH))


def _suite_class(name: str) -> type:
    bench = get_benchmark_from_name(BENCH, name)
    owner = getattr(bench.func, "__self__", None)
    assert owner is not None, f"{name}: a module-level benchmark; give it a class (this test narrows class params)"
    return type(owner)


def _combination(cls: type) -> tuple:
    params = cls.params if cls.params and isinstance(cls.params[0], (list, tuple)) else (cls.params,)
    chosen = {n: values[0] for n, values in zip(cls.param_names, params)}
    unknown = set(CHEAP.get(cls.__name__, {})) - set(chosen)
    assert not unknown, f"CHEAP[{cls.__name__!r}] names no parameter of the class: {unknown}"
    return tuple({**chosen, **CHEAP.get(cls.__name__, {})}[n] for n in cls.param_names)


_CACHES: dict[tuple[type, tuple], object] = {}


def _setup_cache(bench, cls: type, combination: tuple):
    """One setup_cache per class and combination, shared by its benchmarks (as asv runs one per
    class and commit)."""
    if (cls, combination) not in _CACHES:
        _CACHES[cls, combination] = bench.do_setup_cache()
    return _CACHES[cls, combination]


def test_every_suite_is_discovered():
    modules = {p.stem for p in Path(BENCH).glob("bench_*.py")}
    assert {n.split(".")[0] for n in NAMES} == modules
    assert len(NAMES) >= 10


@pytest.mark.parametrize("name", NAMES)
def test_benchmark_runs_once(name, monkeypatch):
    cls = _suite_class(name)
    combination = _combination(cls)
    monkeypatch.setattr(cls, "params", tuple([v] for v in combination))
    bench = get_benchmark_from_name(BENCH, name)  # built again, from the narrowed params
    bench.set_param_idx(0)
    cache_value = _setup_cache(bench, cls, combination) if bench.setup_cache_key is not None else None
    bench.set_cache(cache_value)
    skipped = bench.do_setup()
    assert not skipped, f"{name}{combination} was skipped: choose a combination that runs in CHEAP"
    try:
        result = bench.func(*(() if cache_value is None else (cache_value,)), *combination)
    finally:
        bench.do_teardown()
    if name.split(".")[-1].startswith("track_"):  # asv records a number
        assert isinstance(result, (int, float)) and math.isfinite(result), (name, result)


def test_the_committed_benchmarks_json_is_current():
    """results/asv/benchmarks.json (asv's record of the suites, committed with the results) lists
    the benchmarks the suites have, with their parameters, as asv's discovery writes them."""
    if names.PLUGIN_LEARNED or names.PLUGIN_OTHERS:
        pytest.skip("plugins add solvers to the lists; the committed file has the package's only")
    out = io.StringIO()
    list_benchmarks(BENCH, out)
    discovered = {b["name"]: b for b in json.loads(out.getvalue())}
    committed = json.loads((ROOT / "results" / "asv" / "benchmarks.json").read_text())
    committed.pop("version")
    hint = "regenerate it: asv run --python=same --bench just-discover; git restore results/asv/*/machine.json"
    assert set(committed) == set(discovered), hint
    for name, bench in discovered.items():
        for key in ("type", "params", "param_names", "unit"):
            assert committed[name].get(key) == bench.get(key), (name, key, hint)


def test_ci_runs_the_pytest_benchmark_cases_once_untimed():
    """CI runs ``python -m pytest``: its test paths hold tests/benchmarks, and pyproject's addopts
    disable timing (each case runs once; tests/conftest.py re-enables it for timing options)."""
    ini = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert any((ROOT / path / "benchmarks" / "test_bench_invert.py").is_file() for path in ini["testpaths"])
    assert "--benchmark-disable" in ini["addopts"].split()
    assert (ROOT / ".ci" / "run").read_text().rstrip().splitlines()[-1] == "python -m pytest"
