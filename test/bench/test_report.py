"""The bench's tables and figures from a report, without running a bench."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from neucodex_ros.bench.report import markdown, plot


def mode(p50: float, p95: float, energy_uj: float, where: str = 'edge') -> dict[str, Any]:
    """A mode's summary with the numbers the tables read."""
    return {'accuracy': 0.95, 'mean_timesteps': 1.3, 'mean_timesteps_computed_on_edge': 1.3,
            'latency_p50_ms': p50, 'latency_p95_ms': p95, 'edge_cpu_ms_per_sample': 5.0,
            'edge_compute_energy_j': energy_uj * 1e-6 / 2, 'edge_energy_j': energy_uj * 1e-6,
            'payload_bytes_per_sample': 10.0, 'message_bytes_per_sample': {'up': 1, 'down': 1},
            'link_bytes_per_sample': None, 'link_breakdown': None, 'discovery_bytes_per_s': None,
            'answered': [[p50, 1, where]] * 9 + [[p95, 4, 'both']]}


def report(grid: list[dict[str, Any]]) -> dict[str, Any]:
    config = {'samples': 10, 'input': 'images', 'model': 'resnet18_digits',
              'backbone': 'resnet18', 'model_id': 'abc', 'num_timesteps': 4, 'alpha': 0.94,
              'pacing': 'adaptive', 'timestep_cost': 0.05, 'sweep_samples': 10,
              'radio_nj_per_bit': {'sent': 17.0, 'received': 20.0},
              'link': {'two_hosts': False, 'loopback_reason': 'test'}}
    modes = {'edge_only_exit': mode(100, 400, 26), 'neucodex': mode(75, 200, 107, 'both'),
             'neucodex_auto': mode(78, 210, 100, 'both'), 'neucodex_cascade': mode(99, 244, 44)}
    return {'config': config, 'modes': modes,
            'sweeps': {'bandwidth': {}, 'grid': grid, 'pacing': [], 'skipped': []}}


def test_the_grid_table_judges_auto_against_the_better_place_at_each_point(
        tmp_path: Path) -> None:
    grid = [{'edge_cpu': 0.25, 'delay_ms': 20.0, 'edge_only_exit': mode(100, 400, 26),
             'neucodex': mode(75, 200, 107), 'neucodex_auto': mode(80, 230, 100),
             'neucodex_cascade': mode(99, 244, 44)},
            {'edge_cpu': 1.0, 'delay_ms': 5.0, 'edge_only_exit': mode(30, 120, 26),
             'neucodex': mode(40, 110, 107), 'neucodex_auto': mode(None, None, 0),
             'neucodex_cascade': mode(31, 150, 30)}]
    text = markdown(report(grid))
    assert '| 25% | 20 ms | 100 / 400 | 75 / 200 | 80 / 230 | 99 / 244 | 1.07 ✓ / 1.15 | ' \
        '26.0 / 107.0 / 100.0 / 44.0 |' in text
    assert '| 100% | 5 ms | 30 / 120 | 40 / 110 | – / – | 31 / 150 | – / – |' in text
    written = plot(report(grid), tmp_path)
    assert {'split_vs_local.png', 'where_answered.png'} <= set(written)
    for name in written:
        assert (tmp_path / name).stat().st_size > 10_000, name


def test_without_a_grid_the_table_and_the_figure_are_left_out(tmp_path: Path) -> None:
    text = markdown(report([]))
    assert 'The grid' not in text
    assert 'split_vs_local.png' not in plot(report([]), tmp_path)
    assert (tmp_path / 'where_answered.png').exists()
