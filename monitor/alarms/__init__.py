"""The GMP alarm engine: limits and grade presets, delays, ISA-18.2 states, excursion log.

``service.build_alarm_service(loaded)`` is the entry point; the pure core is
``engine.AlarmEngine``; see docs/alarms.md.
"""

from .events import AlarmEvent, AlarmState, EventKind, Level, Mode

__all__ = ["AlarmEvent", "AlarmState", "EventKind", "Level", "Mode"]
