"""`make test` keeps each shared smoke run on one pytest-xdist worker (tests/conftest.py), so it
is built once. pytest-xdist's loadgroup reads a test's group from a suffix it adds to the node id;
when that suffix is lost (pytest 9.2 with pytest-xdist 3.8, or a conftest hook running after
xdist's) tests spread over both workers and every shared run is built on each."""

import pytest


def test_make_test_keeps_a_module_on_one_worker(request):
    if not getattr(request.config.option, "loadgroup", False):  # set on xdist workers
        pytest.skip("checks `make test`'s distribution: run with -n 2 --dist loadgroup")
    assert request.node.nodeid.endswith("@tests/test_xdist_groups.py"), request.node.nodeid
