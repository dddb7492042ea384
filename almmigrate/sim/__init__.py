"""A local stand-in of the SD Elements ALM API, for rehearsals, the demo and tests.

    from almmigrate.sim import SimServer, Faults
    with SimServer(data="samples/source.json", faults=Faults(latency_ms=50)) as sim:
        sim.url, sim.token, sim.state.snapshot(), sim.stats
    with LoopbackServer(any_asgi_app) as server:       # what the simulator runs on
        server.url

See almmigrate/DESIGN.md ("Simulator") for the data-file format.
"""

from __future__ import annotations

from almmigrate.sim.faults import Faults, SimStats
from almmigrate.sim.loopback import LoopbackServer
from almmigrate.sim.server import SimServer
from almmigrate.sim.store import SimStore, SimValidationError

__all__ = ["Faults", "LoopbackServer", "SimServer", "SimStats", "SimStore", "SimValidationError"]
