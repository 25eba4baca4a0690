"""A small site configuration for metrics tests: two rooms, three devices, several units."""

from __future__ import annotations

from pathlib import Path

from monitor.config import LoadedConfig, load_config

SITE_YAML = """
site: {id: plant-a, name: Plant A}
data_dir: {data_dir}
profiles:
  counter:
    kind: generic
    family: generic
    source: generic
    channels:
      - {name: p05, quantity: particles_0_5um, unit: particles/m3, address: 0, type: u32}
      - {name: p50, quantity: particles_5_0um, unit: particles/ft3, address: 2, type: u32}
      - {name: flow, quantity: flow, unit: L/min, address: 4, type: u16, scale: 0.1}
  dp:
    kind: differential_pressure
    family: generic
    source: generic
    channels:
      - {name: dp, quantity: differential_pressure, unit: hPa, address: 0, type: s16}
  thrh:
    kind: temperature_humidity
    family: generic
    source: generic
    channels:
      - {name: t, quantity: temperature, unit: degC, address: 0, type: f32}
      - {name: rh, quantity: relative_humidity, unit: "%RH", address: 2, type: f32}
      - {name: lux, quantity: illuminance, unit: lx, address: 4, type: u16}
connections:
  - {name: gw1, driver: modbus_tcp, host: 127.0.0.1, port: 1502}
rooms:
  - name: fill
    grade: A
    locations: [{name: fill-1}]
  - name: corridor
    grade: C
    locations: [{name: corr-1}]
devices:
  - {name: pc1, connection: gw1, location: fill-1, profile: counter, unit_id: 1}
  - {name: dp1, connection: gw1, location: fill-1, profile: dp, unit_id: 2}
  - {name: th1, connection: gw1, location: corr-1, profile: thrh, unit_id: 3}
"""


def load_site(tmp_path: Path) -> LoadedConfig:
    path = tmp_path / "site.yaml"
    path.write_text(SITE_YAML.replace("{data_dir}", str(tmp_path / "data")))
    return load_config(path)
