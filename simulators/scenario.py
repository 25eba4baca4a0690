"""Scenarios: scripted cleanroom life in YAML, replayed against running simulators.

A scenario sets the locations' starting conditions and lists events at
simulated times (``at: 90s``), optionally lasting ``for:`` a while before
they are undone::

    name: grade-b-excursion
    clock: {speed: 10}                 # optional: 10 simulated seconds per real second
    locations:
      fill-1: {state: at_rest, at_rest_0_5: 900, in_operation_0_5: 80000}
    events:
      - {at: 0s, location: fill-1, set: {state: in_operation}}
      - {at: 2m, location: fill-1, set: {particles_0_5um: 250000}}   # over the alert level
      - {at: 4m, location: fill-1, set: {particles_0_5um: 450000}}   # over the action level
      - {at: 6m, location: fill-1, set: {particles_0_5um: null}}     # back to the state's level
      - {at: 3m, location: fill-1, door: open, for: 20s}             # DP dip
      - {at: 5m, device: pc1, fault: laser, for: 2m}                  # device fault
      - {at: 7m, device: dp1, comm: no_response, for: 30s}            # comm fault
      - {at: 8m, device: dp1, comm: late, delay: 2s, for: 30s}
      - {at: 9m, device: th1, force: {temperature: .nan}, for: 1m}    # NaN on the wire
      - {at: 10m, device: inc1, door: open, for: 45s}                 # incubator door
      - {at: 11m, device: pc1, sampling: stop, for: 3m}

Comm fault modes: no_response, late (``delay``), exception (``code``), garbage,
short, wrong_unit, out_of_step. The target is anything with ``model(device)``
and ``set_comm_fault(device, mode, ...)``: a ``ModbusSimulator``, a
``SiteSimulation``, or an MQTT simulator offering the same two methods.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator
from ruamel.yaml import YAML

from monitor.config.durations import Duration

from .devices.base import DeviceModel
from .devices.clock import SimClock
from .devices.environment import World, size_of
from .devices.incubator import IncubatorModel
from .devices.particle_counter import ParticleCounterModel


class Target(Protocol):
    def model(self, device: str) -> DeviceModel: ...

    def set_comm_fault(self, device: str, mode: str | None, **params: Any) -> None: ...


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Event(_Model):
    at: Duration
    for_: Duration | None = Field(None, alias="for")
    location: str | None = None
    device: str | None = None
    set: dict[str, Any] | None = None  # location settings
    door: Literal["open", "closed"] | None = None
    fault: str | None = None
    comm: str | None = None
    delay: Duration = 0.0
    code: int = 4
    force: dict[str, float | None] | None = None
    sampling: Literal["start", "stop", "clear"] | None = None

    @model_validator(mode="after")
    def _one_action(self) -> Event:
        actions = [a for a in ("set", "door", "fault", "comm", "force", "sampling")
                   if getattr(self, a) is not None]
        if len(actions) != 1:
            raise ValueError(f"an event does exactly one thing, this one: {actions or 'nothing'}")
        if (self.location is None) == (self.device is None):
            raise ValueError("an event names either a location or a device")
        if self.set is not None and self.location is None:
            raise ValueError("'set' applies to a location")
        if self.door is not None and self.device is None and self.location is None:
            raise ValueError("'door' needs a location or an incubator")
        return self


class ClockSpec(_Model):
    speed: float = Field(1.0, gt=0)


class ScenarioSpec(_Model):
    name: str = "scenario"
    description: str = ""
    clock: ClockSpec = ClockSpec()
    locations: dict[str, dict[str, Any]] = Field(default_factory=dict)
    events: list[Event] = Field(default_factory=list)
    servers: list[dict[str, Any]] = Field(
        default_factory=list, description="Simulators to start when no site config is given"
    )


class Scenario:
    """A loaded scenario; ``apply_due(now)`` for manual clocks, ``run()`` in real time."""

    def __init__(self, spec: ScenarioSpec) -> None:
        self.spec = spec
        self.start: float | None = None
        self._queue: list[tuple[float, int, Callable[[float], None], str]] = []
        self._seq = 0
        self.log: list[tuple[float, str]] = []  # (simulated time, what happened)

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        doc = YAML(typ="safe").load(Path(path).read_text())
        return cls(ScenarioSpec.model_validate(doc or {}))

    def setup(self, world: World, target: Target) -> None:
        """Set the starting conditions and schedule every event from ``world.clock.now()``."""
        self.world, self.target = world, target
        for name, settings in self.spec.locations.items():
            world.location(name).set(**settings)
        self.start = world.clock.now()
        for event in self.spec.events:
            memo: dict[str, Any] = {}  # what a timed 'set' replaced, restored at its end
            self._push(self.start + event.at, self._action(event, memo, undo=False),
                       self._describe(event))
            if event.for_ is not None:
                self._push(self.start + event.at + event.for_,
                           self._action(event, memo, undo=True), "end: " + self._describe(event))

    def _push(self, when: float, action: Callable[[float], None], what: str) -> None:
        heapq.heappush(self._queue, (when, self._seq, action, what))
        self._seq += 1

    def apply_due(self, now: float | None = None) -> int:
        """Apply every event due by ``now``; returns how many ran."""
        now = self.world.clock.now() if now is None else now
        done = 0
        while self._queue and self._queue[0][0] <= now:
            when, _, action, what = heapq.heappop(self._queue)
            action(when)
            self.log.append((when, what))
            done += 1
        return done

    @property
    def finished(self) -> bool:
        return not self._queue

    async def run(self) -> None:
        """Apply events as their simulated time comes (for a real or accelerated clock)."""
        clock: SimClock = self.world.clock
        while self._queue:
            wait = clock.real_seconds(self._queue[0][0] - clock.now())
            if wait > 0:
                await asyncio.sleep(min(wait, 1.0))
                continue
            self.apply_due()

    # -- events -------------------------------------------------------------------------
    @staticmethod
    def _describe(event: Event) -> str:
        fields = event.model_dump(exclude_none=True, exclude={"at", "delay", "code"},
                                  by_alias=True)
        return ", ".join(f"{k}={v}" for k, v in fields.items())

    def _action(self, event: Event, memo: dict[str, Any], *, undo: bool) -> Callable[[float], None]:
        world, target = self.world, self.target
        if event.location is not None:
            name = event.location
            if event.set is not None:
                settings = dict(event.set)

                def apply(when: float) -> None:
                    if undo:
                        world.location(name).set(at=when, **memo)
                        return
                    memo.update(self._snapshot(name, settings))
                    world.location(name).set(at=when, **settings)
                return apply
            open_ = (event.door == "open") != undo
            return lambda when: world.set_door(name, open_, at=when)
        device = event.device
        assert device is not None
        if event.fault is not None:
            fault = event.fault
            return lambda _when: target.model(device).set_fault(fault, not undo)
        if event.comm is not None:
            mode = None if undo else event.comm
            delay, code = event.delay, event.code
            return lambda _when: target.set_comm_fault(device, mode, delay=delay, code=code)
        if event.force is not None:
            forced = dict(event.force)

            def force(_when: float) -> None:
                model = target.model(device)
                for quantity, value in forced.items():
                    model.force(quantity, None if undo else value)
            return force
        if event.door is not None:
            open_ = (event.door == "open") != undo

            def door(_when: float) -> None:
                model = target.model(device)
                if not isinstance(model, IncubatorModel):
                    raise ValueError(f"{device} has no door; doors of rooms belong to locations")
                model.open_door(open_)
            return door
        sampling = event.sampling

        def sample(_when: float) -> None:
            model = target.model(device)
            if not isinstance(model, ParticleCounterModel):
                raise ValueError(f"{device} is not a particle counter")
            if sampling == "clear":
                if not undo:
                    model.clear()
            elif (sampling == "start") != undo:
                model.start()
            else:
                model.stop()
        return sample

    def _snapshot(self, location: str, settings: dict[str, Any]) -> dict[str, Any]:
        """What a ``set`` event replaces, to restore when its ``for:`` ends."""
        loc = self.world.location(location)
        previous: dict[str, Any] = {}
        for key in settings:
            if key == "state":
                previous[key] = loc.state
            elif key in ("at_rest_0_5", "in_operation_0_5"):
                previous[key] = getattr(loc, key)
            elif key.startswith("particles_"):
                size = size_of(key)
                previous[key] = loc.overrides.get(size) if size is not None else None
        return previous
