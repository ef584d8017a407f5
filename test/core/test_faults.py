"""The fault relay's seeded rules."""

from __future__ import annotations

import random

import pytest

from neucodex_ros.core.faults import FaultRules


def test_no_rules_pass_everything_at_once() -> None:
    rng = random.Random(0)
    assert all(FaultRules().plan(rng) == [0.0] for _ in range(100))


def test_the_same_seed_gives_the_same_faults() -> None:
    rules = FaultRules(drop=0.2, duplicate=0.2, reorder=0.2, delay=0.01)
    plans = [[rules.plan(random.Random(seed)) for _ in range(50)] for seed in (7, 7)]
    assert plans[0] == plans[1]


def test_fault_rates_follow_the_probabilities() -> None:
    rules = FaultRules(drop=0.1, duplicate=0.2, reorder=0.3, delay=0.01, reorder_delay=0.05)
    rng = random.Random(1)
    plans = [rules.plan(rng) for _ in range(20000)]
    kept = [p for p in plans if p]
    assert sum(not p for p in plans) / len(plans) == pytest.approx(0.1, abs=0.01)
    assert sum(len(p) == 2 for p in kept) / len(kept) == pytest.approx(0.2, abs=0.01)
    copies = [d for p in kept for d in p]
    assert sorted({round(d, 9) for d in copies}) == [0.01, 0.06]
    assert sum(d > 0.01 for d in copies) / len(copies) == pytest.approx(0.3, abs=0.01)


@pytest.mark.parametrize('kwargs', [{'drop': 1.5}, {'reorder': -0.1}, {'delay': -1.0}])
def test_impossible_rules_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        FaultRules(**kwargs)
