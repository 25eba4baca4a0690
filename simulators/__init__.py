"""Device simulators: physics models of every device kind, served over Modbus (and MQTT).

In-process use (tests, the demo)::

    from simulators import ManualClock, ModbusSimulator, SimClock, World, sim_device

    world = World(SimClock(speed=10))            # or ManualClock() for tests
    world.location("fill-1").set(state="at_rest")
    devices = [
        sim_device(world, "pc1", 1, "lighthouse-remote-4ch", "fill-1", sample_s=60),
        sim_device(world, "dp1", 2, "dp-generic", "fill-1", nominal_pa=15.0),
    ]
    async with ModbusSimulator(devices, world=world, host="127.0.0.1", port=0) as sim:
        sim.port                                  # the port it listens on
        world.location("fill-1").set(state="in_operation", particles_0_5um=400_000)
        world.set_door("fill-1", True)            # DP dips until set_door(..., False)
        sim.device("pc1").model.set_fault("laser")
        sim.set_comm_fault("dp1", "no_response", duration=30)   # simulated seconds
        sim.requests[(2, 3)]                      # FC03 requests seen for unit 2

``framer="rtu"`` serves RTU framing over TCP (a serial-to-Ethernet gateway);
``serial_port=`` serves a serial port, e.g. one end of ``PtyPair`` (socat), for
RTU/ASCII over a real pseudo-terminal. ``Scenario`` (simulators.scenario) runs
YAML-scripted events against a world and its simulators, and
``SiteSimulation`` starts simulators for every Modbus connection of a site
config. Profiles come from config/devices/*.yaml; models from
simulators.devices.
"""

from simulators.devices.clock import ManualClock, SimClock
from simulators.devices.environment import Location, World
from simulators.modbus.devices import SimulatedDevice, sim_device
from simulators.modbus.server import ModbusSimulator

__all__ = [
    "Location", "ManualClock", "ModbusSimulator", "SimClock", "SimulatedDevice", "World",
    "sim_device",
]
