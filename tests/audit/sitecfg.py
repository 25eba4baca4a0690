"""A small valid site config for the data-integrity tests (audit, users, QA, reports)."""

from __future__ import annotations

from pathlib import Path

CONFIG = """\
site: {{id: plant-a, name: Plant A Fill-Finish}}
data_dir: {data_dir}
profiles:
  dp-generic:
    kind: differential_pressure
    family: generic
    source: generic
    channels:
      - {{name: dp, quantity: differential_pressure, unit: Pa, address: 0, type: s16, scale: 0.1}}
  pc-generic:
    kind: generic
    family: generic
    source: generic
    channels:
      - {{name: p05, quantity: particles_0_5um, unit: particles/m3, address: 0, type: u32}}
      - {{name: p50, quantity: particles_5_0um, unit: particles/m3, address: 2, type: u32}}
connections:
  - {{name: gw, driver: modbus_tcp, host: 127.0.0.1, port: 5020}}
rooms:
  - name: fill
    grade: B
    locations:
      - {{name: fill-1}}
      - {{name: fill-2}}
devices:
  - {{name: dp1, connection: gw, location: fill-1, profile: dp-generic, unit_id: 1,
     poll_interval: 1s{dp1_extra}}}
  - {{name: pc1, connection: gw, location: fill-2, profile: pc-generic, unit_id: 2,
     poll_interval: 1s}}
alarms:
  limits:
    fill-1:
      - {{channel: dp1/dp, low_alert: {low_alert}, low_action: 10}}
    fill-2:
      - {{channel: pc1/p05, high_alert: 300000, high_action: preset}}
"""


def write_config(folder: Path, *, low_alert: float = 12, dp1_extra: str = "",
                 name: str = "cleanroom-monitor.yaml") -> Path:
    path = folder / name
    path.write_text(CONFIG.format(data_dir=folder / "data", low_alert=low_alert,
                                  dp1_extra=dp1_extra), encoding="utf-8")
    return path
