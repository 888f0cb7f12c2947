"""How two feature engines' outputs are compared (docs/FEATURES.md): counts, distinct
counts and codes exactly, everything else to 1e-9 relative, missing values in the same
places."""

from __future__ import annotations

import math

from fraudit.features.definitions import (
    FEATURE_NAMES,
    FEATURES,
    Aggregate,
    Row,
    RowFeature,
    Sequence,
    WindowAggregate,
)


def exact(name: str) -> bool:
    feature = FEATURES[FEATURE_NAMES.index(name)]
    if isinstance(feature, WindowAggregate):
        return feature.aggregate in (Aggregate.COUNT, Aggregate.DISTINCT)
    if isinstance(feature, RowFeature):
        return feature.kind in (Row.HOUR, Row.WEEKDAY, Row.CATEGORY, Row.CHANNEL)
    return feature.kind in (Sequence.NEW_MERCHANT_30D, Sequence.NEW_CATEGORY_30D)


def disagreements(expected, got) -> list[str]:
    problems = []
    for tid, features in expected.items():
        row = got[tid]
        for name, want in features.items():
            have = row[name]
            if want is None or have is None:
                ok = want is None and have is None
            elif exact(name):
                ok = want == have
            else:
                ok = math.isclose(want, have, rel_tol=1e-9, abs_tol=1e-12)
            if not ok:
                problems.append(f"{tid} {name}: reference {want!r}, backfill {have!r}")
    return problems
