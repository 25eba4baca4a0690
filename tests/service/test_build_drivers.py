"""What the runtime gives each driver it builds: a Modbus connection's record-cursor file in
the data directory, named after the connection (particle counters resume from it)."""

from __future__ import annotations

from pathlib import Path

from monitor.config import load_config
from monitor.drivers.modbus.driver import ModbusDriver
from monitor.runtime import build_drivers
from tests.service.test_lifecycle import site_config


def test_each_modbus_connection_keeps_its_cursors_in_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    config = tmp_path / "site.yaml"
    config.write_text(site_config(data_dir, 1502))
    drivers = build_drivers(load_config(config), lambda readings: None)
    assert [type(d) for d in drivers] == [ModbusDriver]
    driver = drivers[0]
    assert isinstance(driver, ModbusDriver)
    assert driver.cursor_file == data_dir / "modbus-cursors-gw.json"
