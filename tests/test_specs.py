import pytest

from matinv_bench.datasets import DATASETS
from matinv_bench.solvers import SOLVERS
from matinv_bench.specs import SpecError, format_spec, parse_spec


def test_parse_and_format_round_trip():
    name, params = parse_spec("randsvd[n=64, cond=1e8,mode=3]")
    assert name == "randsvd" and params == {"n": 64, "cond": 1e8, "mode": 3}
    assert isinstance(params["n"], int) and isinstance(params["cond"], float)
    assert format_spec(name, params) == "randsvd[cond=1e+08,mode=3,n=64]"
    assert parse_spec(format_spec(name, params)) == (name, params)


def test_values_parse_as_bool_and_string():
    assert parse_spec("x[a=true,b=torch,c=-0.5]")[1] == {"a": True, "b": "torch", "c": -0.5}


def test_prefix_specs_take_the_rest_as_path():
    assert parse_spec("npy:/tmp/a[1].npy", ("npy",)) == ("npy", {"path": "/tmp/a[1].npy"})


@pytest.mark.parametrize("bad", ["", "lu[", "lu[order]", "lu[=3]", "lu[a=1,a=2]", "two words"])
def test_malformed_specs_raise_spec_error(bad):
    with pytest.raises(SpecError):
        parse_spec(bad)


def test_unknown_names_list_the_known_ones():
    with pytest.raises(SpecError, match="unknown solver 'lux'.*gauss-jordan.*lu"):
        SOLVERS.build("lux")


def test_unknown_parameters_list_the_allowed_ones():
    with pytest.raises(SpecError, match="no parameter order; allowed: backend, device"):
        SOLVERS.build("gauss-jordan[order=2]")
    with pytest.raises(SpecError, match="bad parameters"):
        DATASETS.build("randsvd[n=0]")


def test_canonical_spec_is_stored_on_the_object():
    assert SOLVERS.build("gauss-jordan[device=cpu,backend=torch]").spec == "gauss-jordan[backend=torch,device=cpu]"
