"""The deployment fixtures of :mod:`tests.integration.runtime.conftest` (demo upstreams, worker
processes with this test's own topics), for the tests of graphfetch's clients."""

from tests.integration.runtime.conftest import Runtime, Upstreams, _healthy_upstreams, runtime, upstreams

__all__ = ["Runtime", "Upstreams", "_healthy_upstreams", "runtime", "upstreams"]
