"""``import gns_pyro`` exposes the documented entry points, each with a docstring."""

import inspect
import subprocess
import sys

import gns_pyro


def test_every_documented_entry_point_resolves_to_its_definition():
    for name in gns_pyro.__all__:
        value = getattr(gns_pyro, name)
        assert getattr(value, "__name__", name) == name
        assert inspect.getdoc(value), f"gns_pyro.{name} has no docstring"
    assert set(gns_pyro.__all__) <= set(dir(gns_pyro))


def test_an_unknown_name_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        gns_pyro.nope  # noqa: B018


def test_importing_the_package_loads_no_torch():
    """The entry points load on first use: `import gns_pyro` stays quick."""
    code = "import sys, gns_pyro; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"  # fmt: skip


def test_the_package_example_runs():
    parts = gns_pyro.load_type_prior()
    types, log_prob = gns_pyro.sample_types(4, temperature=0.5, seed=0, parts=parts)
    images = gns_pyro.render(gns_pyro.sample_exemplars(types, 1)) > 0.5
    assert images.shape == (4, 105, 105) and log_prob.shape == (4,)
    assert isinstance(types, gns_pyro.Parses)
