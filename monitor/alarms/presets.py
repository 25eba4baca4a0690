"""Grade presets: the particle action limits each regulation sets, as data.

Values are particles per m³ of air, cumulative (≥ the size). ``None`` means the
regulation gives no figure for that grade and state (EU GMP Grade D in
operation is "not predetermined"; ISO 14644-1 does not classify ISO 5 at
≥5 µm): such a limit must be configured explicitly.

Sources:
- EU GMP Annex 1 (2022), section 9, the table of maximum permitted total particle
  concentrations for monitoring (≥5 µm in Grade A at 29/m³; Grade D in
  operation "not predetermined").
- China GMP (2010 revision), Annex 1 "Sterile medicinal products" (the EU Annex 1
  table of 2008: ≥5 µm in Grade A at 20/m³, Grade D in operation not specified).
- ISO 14644-1:2015, Table 1, computed from its formula
  Cn = 10^N × (0.1 / D)^2.08 and rounded as the table is (three significant
  figures, then to a whole number). The class limit applies in whichever
  occupancy state the class was specified for, so it is the same at rest and in
  operation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from monitor.config.site import Standard

P05 = "particles_0_5um"
P50 = "particles_5_0um"
AT_REST = "at_rest"
IN_OPERATION = "in_operation"

SIZE_UM = {P05: 0.5, P50: 5.0}

Table = Mapping[str, Mapping[str, Mapping[str, float | None]]]
"""grade -> state -> quantity -> limit (particles/m³) or None."""


def _grade(rest: tuple[float | None, float | None],
           operation: tuple[float | None, float | None]) -> dict[str, dict[str, float | None]]:
    return {
        AT_REST: {P05: rest[0], P50: rest[1]},
        IN_OPERATION: {P05: operation[0], P50: operation[1]},
    }


EU_GMP_ANNEX1_2022: Table = {
    "A": _grade((3_520, 29), (3_520, 29)),
    "B": _grade((3_520, 29), (352_000, 2_930)),
    "C": _grade((352_000, 2_930), (3_520_000, 29_300)),
    "D": _grade((3_520_000, 29_300), (None, None)),  # in operation: not predetermined
}

CHINA_GMP_2010: Table = {
    "A": _grade((3_520, 20), (3_520, 20)),
    "B": _grade((3_520, 29), (352_000, 2_900)),
    "C": _grade((352_000, 2_900), (3_520_000, 29_000)),
    "D": _grade((3_520_000, 29_000), (None, None)),  # in operation: not specified
}

ISO_CLASSES = (5, 6, 7, 8)
ISO_5UM_UNDEFINED = frozenset({1, 2, 3, 4, 5})
"""Classes ISO 14644-1:2015 does not classify at ≥5 µm (Table 1, notes d, e, f)."""


def iso_concentration(class_number: float, size_um: float) -> float:
    """ISO 14644-1 class limit Cn for class N at particle size D (µm), rounded as Table 1.

    Table 1 shows Cn to three significant figures at most, as whole numbers:
    3,519.8 -> 3,520; 292.8 -> 293; 23.65 -> 24.
    """
    if not 1 <= class_number <= 9:
        raise ValueError(f"ISO class {class_number} is outside 1..9")
    if not 0.1 <= size_um <= 5.0:
        raise ValueError(f"ISO 14644-1 classifies sizes 0.1-5 µm, not {size_um}")
    exact = 10.0**class_number * (0.1 / size_um) ** 2.08
    digits = 2 - math.floor(math.log10(exact))
    three_sig = round(exact, digits)
    return float(math.floor(three_sig + 0.5))


def _iso_table() -> Table:
    table: dict[str, dict[str, dict[str, float | None]]] = {}
    for n in ISO_CLASSES:
        p05 = iso_concentration(n, SIZE_UM[P05])
        p50 = None if n in ISO_5UM_UNDEFINED else iso_concentration(n, SIZE_UM[P50])
        table[f"ISO{n}"] = _grade((p05, p50), (p05, p50))
    return table


ISO_14644_1_2015: Table = _iso_table()

TABLES: Mapping[Standard, Table] = {
    Standard.EU_GMP_ANNEX1: EU_GMP_ANNEX1_2022,
    Standard.CHINA_GMP: CHINA_GMP_2010,
    Standard.ISO_14644_1: ISO_14644_1_2015,
}

TABLE_NAMES: Mapping[Standard, str] = {
    Standard.EU_GMP_ANNEX1: "EU GMP Annex 1 (2022)",
    Standard.CHINA_GMP: "China GMP (2010) Annex 1",
    Standard.ISO_14644_1: "ISO 14644-1:2015",
}


def table_for(standard: Standard | str, grade: str) -> Standard:
    """The table a room's preset comes from: ISO grades always use ISO 14644-1."""
    if grade.startswith("ISO"):
        return Standard.ISO_14644_1
    return Standard(standard)


def preset_table_name(standard: Standard | str, grade: str) -> str:
    return TABLE_NAMES[table_for(standard, grade)]


def preset_limit(standard: Standard | str, grade: str, state: str, quantity: str) -> float | None:
    """The action limit for a particle quantity, or None where the table gives none."""
    table = TABLES[table_for(standard, grade)]
    by_state = table.get(grade)
    if by_state is None:
        return None
    return by_state[state].get(quantity)
