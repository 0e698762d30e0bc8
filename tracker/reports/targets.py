"""The target rules of the growth report: pure arithmetic, no database.

The province's target, per metric, is ceil(its previous-year figure x (1 + rate)) (`target_of`).

A row's target (an office, a channel or another breakdown row), per metric (`unit_target`):
1. the figure a manager set for that office or channel and year, when there is one;
2. else ceil(its previous-year figure x (1 + rate)), as the province's;
3. else (nothing last year: an office or channel that did not exist, or took nothing) the
   weight a manager gave it: ceil(the province's target x weight);
4. else none: "on track" is then unknown.
The targets of rule 2 add up to at least the province's target and less than it plus the
number of rows (each is rounded up); those of rules 1 and 3 come on top.

`growth.target_state` gives managers a year's rate with the targets it sets (it reads the
previous year's figures, so it sits above this module and the report).
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

from tracker.reports.models import OfficeTarget


def target_of(previous: int | Fraction | None, rate: Decimal) -> int | None:
    """ceil(previous x (1 + rate)), exact (fractions, no float rounding); None when unknown."""
    if previous is None:
        return None
    return math.ceil(Fraction(previous) * (1 + Fraction(rate)))


def unit_target(
    metric: str,
    previous: Fraction | int | None,
    setting: OfficeTarget | None,
    rate: Decimal,
    province_target: int | None,
) -> tuple[int | None, str | None]:
    """The target of one office, channel or other row, and the rule that gave it (see the
    module's docstring): ("override" | "growth" | "weight" | None)."""
    override = getattr(setting, metric) if setting is not None else None
    if override is not None:
        return override, "override"
    if previous:
        return target_of(previous, rate), "growth"
    if setting is not None and setting.weight is not None and province_target is not None:
        return math.ceil(province_target * Fraction(setting.weight)), "weight"
    return None, None
