"""Behaviour kept: today's CLI JSON outputs match the golden files written before the reshaping.

Figures must agree to a relative 1e-6; keys may be added, none removed. Timings and versions aside.
"""

from __future__ import annotations

import json

import pytest
from golden_cases import CASES, HERE, differences, run, strip


@pytest.mark.parametrize("case", sorted(CASES))
def test_outputs_match_golden(case: str, tmp_path) -> None:
    golden = json.loads((HERE / f"{case}.json").read_text())
    found = differences(golden, strip(run(case, tmp_path / "out")))
    assert not found, "\n".join(found[:20])


def test_differences_sees_a_changed_figure() -> None:
    assert differences({"a": [1.0, {"b": 2.0}]}, {"a": [1.0, {"b": 2.1}], "c": 0}) == ["$.a[1].b: 2.0 -> 2.1"]
    assert differences({"a": 1}, {}) == ["$.a: removed"]
