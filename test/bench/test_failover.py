"""bench/failover.py's summary and report of a cloud killed mid-run, on a made-up record."""

from __future__ import annotations

from pathlib import Path

import pytest

from neucodex_ros.bench.failover import summarise
from neucodex_ros.bench.report import failover_markdown, plot_failover


def record(sent: float, answered: float | None, by: str | None,
           status: str | None = 'ok') -> dict[str, object]:
    return {'sent': sent, 'answered': answered, 'status': status if answered else None,
            'correct': True, 'computed_by': by, 'predictions': 1 if answered else 0}


def test_the_gaps_counts_and_places_of_a_failover_run(tmp_path: Path) -> None:
    records = [record(0.0, 0.05, 'a'), record(0.1, 0.15, 'a'), record(0.2, None, None),
               record(0.3, 0.62, 'b'), record(0.4, 0.7, 'edge', 'cloud_unavailable')]
    report = summarise({'records': records, 'killed': {'cloud': 'a', 'at': 0.18, 'frame': 2},
                        'stats': {'hedges_sent': '1'}})
    assert (report['frames'], report['answered'], report['ok']) == (5, 4, 3)
    assert report['statuses'] == {'ok': 3, 'unanswered': 1, 'cloud_unavailable': 1}
    assert report['longest_gap_s'] == pytest.approx(0.47)
    assert report['longest_gap_at_s'] == pytest.approx(0.15)
    report |= {'where': 'loopback', 'clouds': ['a', 'b'], 'edge': {}, 'params_file': 'x.yaml'}
    text = failover_markdown(report)
    assert '| 5 | 4 (80.0%) | 3 | 0 | 0.47 s at 0.1 s | a 2, b 1, edge 1 |' in text
    assert 'hedges_sent 1' in text
    plot_failover(report, tmp_path / 'timeline.png')
    assert (tmp_path / 'timeline.png').stat().st_size > 10_000
