"""A run's report: the markdown tables and the plots people would rather look at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from neucodex_ros.bench.modes import GRID_MODES
from neucodex_ros.bench.summary import _phase_text
from neucodex_ros.core.figures import saving_text


def _fmt(value: float | None, spec: str, suffix: str = '') -> str:
    return '–' if value is None else format(value, spec) + suffix


def _where(c: dict[str, Any]) -> str:
    link = c['link']
    if not link['two_hosts']:
        return f'loopback ({link["loopback_reason"]})'
    steady = f'{link["bandwidth_mbit"]:g} Mbit/s, {link["delay_ms"]:g} ms one way'
    if link.get('schedule'):
        steady = 'the link scheduled: ' + ', '.join(_phase_text(p) for p in link['schedule'])
    return f'two hosts, {steady}, edge at {c["edge_cpu_share"]:.0%} of one core'


def markdown(report: dict[str, Any]) -> str:
    """The tables: modes; bytes; and the sweeps that were run."""
    c, modes = report['config'], report['modes']
    pacing = c['pacing'] if c['pacing'] == 'clock' else \
        f'adaptive pacing, timestep_cost {c["timestep_cost"]:g} s'
    lines = [f'{c["samples"]} held-out {c["input"]}, model {c["model"]} ({c["backbone"]}, '
             f'{c["model_id"]}, T = {c["num_timesteps"]}, α = {c["alpha"]:g}, {pacing}), '
             f'{_where(c)}; radio {c["radio_nj_per_bit"]["sent"]:g} nJ/bit sent, '
             f'{c["radio_nj_per_bit"]["received"]:g} received:', '',
             '| mode | accuracy | timesteps used | computed on edge | latency p50 / p95 | '
             'edge CPU / sample | edge energy: compute | + radio | saving vs edge_only '
             '(compute / with radio) | vs edge_only_exit |',
             '|---|---|---|---|---|---|---|---|---|---|']
    for name, m in modes.items():
        def saving(base: str, m: dict[str, Any] = m) -> str:
            s = m.get(f'energy_saving_vs_{base}')
            return '–' if s is None else \
                f'{saving_text(s["compute_only"])} / {saving_text(s["with_radio"])}'
        lines.append(
            f'| {name} | {m["accuracy"]:.1%} | {_fmt(m["mean_timesteps"], ".2f")} | '
            f'{m["mean_timesteps_computed_on_edge"]:.2f} | '
            f'{_fmt(m["latency_p50_ms"], ".1f")} / {_fmt(m["latency_p95_ms"], ".1f")} ms | '
            f'{m["edge_cpu_ms_per_sample"]:.1f} ms | {m["edge_compute_energy_j"] * 1e6:.2f} µJ | '
            f'{m["edge_energy_j"] * 1e6:.2f} µJ | {saving("edge_only")} | '
            f'{saving("edge_only_exit")} |')
    lines += ['', 'Bytes per sample: spike payloads, serialized messages and IP bytes on the '
              'link (up = edge → cloud; link bytes exclude discovery, given per second):', '',
              '| mode | payload | messages up / down | link up / down | link up: data / '
              'heartbeat / acknack | link down: data / heartbeat / acknack | discovery up / '
              'down |', '|---|---|---|---|---|---|---|']
    for name, m in modes.items():
        message, link = m['message_bytes_per_sample'], m['link_bytes_per_sample']
        kinds = {way: _kinds(m['link_breakdown'], way) for way in ('up', 'down')}
        discovery = m['discovery_bytes_per_s']
        lines.append(
            f'| {name} | {m["payload_bytes_per_sample"]:,.1f} | '
            f'{message["up"]:,.0f} / {message["down"]:,.0f} | '
            + (f'{link["up"]:,.0f} / {link["down"]:,.0f}' if link else '–') + ' | '
            + ' | '.join(' / '.join(f'{v:,.0f}' for v in kinds[way]) if link else '–'
                         for way in ('up', 'down')) + ' | '
            + (f'{discovery["up"]:,.0f} / {discovery["down"]:,.0f} B/s' if discovery else '–')
            + ' |')
    if any('phases' in m for m in modes.values()):
        lines += ['', 'Per phase of the scheduled link (by capture time): samples answered ok, '
                  'accuracy, latency p50 / p95, share answered on the edge, edge energy with '
                  'radio; after an outage, seconds from the link back to the first sample the '
                  'cloud answered:', '',
                  '| mode | phase | ok | accuracy | latency p50 / p95 | on edge | edge energy | '
                  'split again after |', '|---|---|---|---|---|---|---|---|']
        for name, m in modes.items():
            for p in m.get('phases', []):
                again = '' if 'split_again_s' not in p else \
                    _fmt(p['split_again_s'], '.1f', ' s')
                lines.append(
                    f'| {name} | {p["phase"]} | {p["ok"]}/{p["samples"]} | '
                    f'{_fmt(p["accuracy"], ".1%")} | {_fmt(p["latency_p50_ms"], ".1f")} / '
                    f'{_fmt(p["latency_p95_ms"], ".1f")} ms | {_fmt(p["on_edge"], ".0%")} | '
                    + _fmt(None if p['edge_energy_j'] is None else p['edge_energy_j'] * 1e6,
                           '.2f', ' µJ')
                    + f' | {again} |')
    sweeps = report['sweeps']
    if sweeps['pacing']:
        lines += ['', f'Pacing ({c["sweep_samples"]} samples each, NeuCODEX):', '',
                  '| pacing | timesteps used | computed on edge | latency p50 / p95 | '
                  'edge CPU / sample | edge energy (with radio) | link bytes up / down |',
                  '|---|---|---|---|---|---|---|']
        for point in sweeps['pacing']:
            m = point['neucodex']
            link = m['link_bytes_per_sample'] or m['message_bytes_per_sample']
            label = point['pacing'] if point['pacing'] == 'clock' else \
                f'adaptive, timestep_cost {float(point["pacing"]):g} s'
            lines.append(f'| {label} | {_fmt(m["mean_timesteps"], ".2f")} | '
                         f'{m["mean_timesteps_computed_on_edge"]:.2f} | '
                         f'{_fmt(m["latency_p50_ms"], ".1f")} / '
                         f'{_fmt(m["latency_p95_ms"], ".1f")} ms | '
                         f'{m["edge_cpu_ms_per_sample"]:.1f} ms | '
                         f'{m["edge_energy_j"] * 1e6:.2f} µJ | '
                         f'{link["up"]:,.0f} / {link["down"]:,.0f} |')
    if sweeps['grid']:
        lines += _grid_table(sweeps['grid'], c['sweep_samples'])
    if sweeps.get('skipped'):
        lines += ['', 'Sweep points skipped (a mode failed there):', '']
        lines += [f'- {reason}' for reason in sweeps['skipped']]
    return '\n'.join(lines) + '\n'


def _kinds(breakdown: dict[str, Any] | None, way: str) -> list[float]:
    """Data, heartbeat and acknack bytes of one direction, summed over topics."""
    if breakdown is None:
        return []
    return [sum(kinds.get(kind, 0.0) for kinds in breakdown[way].values())
            for kind in ('data', 'heartbeat', 'acknack')]


def _grid_table(grid: list[dict[str, Any]], samples: int) -> list[str]:
    """Each grid point's modes: latency p50 / p95, auto against the better place, energy."""
    names = [n for n in GRID_MODES if n in grid[0]]
    auto = 'neucodex_auto' in names
    lines = ['', f'The grid ({samples} samples per mode and point, the modes interleaved): '
             'latency p50 / p95 (ms)' + (', auto over the better of edge_only_exit and '
                                           'neucodex at each (✓: within 10%)' if auto else '')
             + ', and edge energy with the radio (µJ):', '',
             '| edge CPU | one-way delay | ' + ' | '.join(names)
             + (' | auto ÷ better' if auto else '') + ' | energy: ' + ' / '.join(names) + ' |',
             '|---|---|' + '---|' * (len(names) + auto + 1)]
    for point in grid:
        cells = [f'{_fmt(point[n]["latency_p50_ms"], ".0f")} / '
                 f'{_fmt(point[n]["latency_p95_ms"], ".0f")}' for n in names]
        if auto:
            ratios = [_over_better(point, key) for key in ('latency_p50_ms', 'latency_p95_ms')]
            cells.append(' / '.join('–' if r is None else f'{r:.2f}' + (' ✓' if r <= 1.1 else '')
                                    for r in ratios))
        cells.append(' / '.join(f'{point[n]["edge_energy_j"] * 1e6:.1f}' for n in names))
        lines.append(f'| {point["edge_cpu"]:.0%} | {point["delay_ms"]:g} ms | '
                     + ' | '.join(cells) + ' |')
    return lines


def _over_better(point: dict[str, Any], key: str) -> float | None:
    """The auto mode over the better of edge_only_exit and neucodex (None: one is missing)."""
    values = [point[n][key] for n in ('neucodex_auto', 'edge_only_exit', 'neucodex')]
    if any(v is None for v in values) or min(values[1:]) <= 0:
        return None
    return values[0] / min(values[1:])


def plot(report: dict[str, Any], out: Path) -> list[str]:
    """The figures: bytes_vs_accuracy.png, and the ones of what was run.

    latency_over_time.png on a scheduled link; latency_vs_bandwidth.png and
    split_vs_local.png with sweeps; where_answered.png with the grid's modes.
    """
    written = ['bytes_vs_accuracy.png']
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for name, m in report['modes'].items():
        counted = m['link_bytes_per_sample'] or m['message_bytes_per_sample']
        size = max(counted['up'] + counted['down'], 1)
        ax.scatter(size, m['accuracy'] * 100, s=40)
        ax.annotate(name, (size, m['accuracy'] * 100), textcoords='offset points',
                    xytext=(5, 4), fontsize=8)
    measured = 'IP bytes on the link' if report['config']['link']['two_hosts'] \
        else 'serialized message bytes'
    ax.set(xscale='log', xlabel=f'{measured} per sample, both ways (edge-only: 0, drawn at 1)',
           ylabel='accuracy (%)', title='Bytes against accuracy')
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / 'bytes_vs_accuracy.png', dpi=120)
    if any('timeline' in m for m in report['modes'].values()):
        written.append('latency_over_time.png')
        _plot_timeline(report, out / 'latency_over_time.png')
    sweeps = report['sweeps']
    if sweeps['bandwidth']:
        written.append('latency_vs_bandwidth.png')
        fig = Figure(figsize=(6, 4))
        ax = fig.subplots()
        bandwidths = sorted(sweeps['bandwidth'], key=float)
        for name in report['modes']:
            p50 = [sweeps['bandwidth'][b][name]['latency_p50_ms'] for b in bandwidths]
            ax.plot([float(b) for b in bandwidths], p50, marker='o', label=name)
        ax.set(xscale='log', yscale='log', xlabel='link bandwidth (Mbit/s)',
               ylabel='latency p50 (ms)', title='Latency against bandwidth')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / 'latency_vs_bandwidth.png', dpi=120)
    if sweeps['grid']:
        written.append('split_vs_local.png')
        _plot_grid(report, out / 'split_vs_local.png')
    if any(m.get('answered') for name, m in report['modes'].items() if name in GRID_MODES):
        written.append('where_answered.png')
        _plot_answered(report, out / 'where_answered.png')
    return written


PLACE_COLOURS = {'edge_only_exit': '#e08a2c', 'neucodex': '#3470b5', 'neucodex_cascade': '#3a9a4f'}


def _plot_grid(report: dict[str, Any], path: Path) -> None:
    """The three places over the grid: in each cell the best, and by how much it wins."""
    grid = report['sweeps']['grid']
    names = [n for n in PLACE_COLOURS if n in grid[0]]
    cpus = sorted({p['edge_cpu'] for p in grid})
    delays = sorted({p['delay_ms'] for p in grid})
    fig = Figure(figsize=(14, 4.6))
    axes = fig.subplots(1, 3)
    for ax, key, title in ((axes[0], 'latency_p50_ms', 'latency p50'),
                           (axes[1], 'latency_p95_ms', 'latency p95'),
                           (axes[2], 'edge_energy_j', 'edge energy, compute + radio')):
        ax.set(xlim=(-0.5, len(delays) - 0.5), ylim=(-0.5, len(cpus) - 0.5),
               xticks=range(len(delays)), xticklabels=[f'{d:g}' for d in delays],
               yticks=range(len(cpus)), yticklabels=[f'{c:.0%}' for c in cpus],
               xlabel='one-way delay (ms)', title=f'{title}: the best, and its lead')
        for p in grid:
            values = {n: p[n][key] for n in names if p[n][key]}
            if not values:
                continue
            ranked = sorted(values, key=values.__getitem__)
            j, i = delays.index(p['delay_ms']), cpus.index(p['edge_cpu'])
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, color=PLACE_COLOURS[ranked[0]],
                                   alpha=0.75))
            lead = f'\n{values[ranked[1]] / values[ranked[0]]:.2f}x ahead of\n' \
                f'{_short(ranked[1])}' if len(ranked) > 1 else ''
            ax.text(j, i, _short(ranked[0]) + lead, ha='center', va='center', fontsize=8)
    axes[0].set_ylabel('edge CPU (share of one core)')
    fig.legend(handles=[Patch(color=PLACE_COLOURS[n], alpha=0.75, label=n) for n in names],
               loc='lower center', ncol=len(names), bbox_to_anchor=(0.5, -0.06))
    fig.suptitle(f'{report["config"]["model"]}: the robot alone (early exit), the split, or '
                 'the cascade', y=1.02)
    fig.savefig(path, dpi=120, bbox_inches='tight')


def _short(name: str) -> str:
    return {'edge_only_exit': 'local', 'neucodex': 'split', 'neucodex_cascade': 'cascade'}[name]


def _plot_answered(report: dict[str, Any], path: Path) -> None:
    """Each sample of the main run: its latency, the timestep it was answered at, and where."""
    modes = [(n, report['modes'][n]) for n in GRID_MODES
             if report['modes'].get(n, {}).get('answered')]
    fig = Figure(figsize=(3.6 * len(modes), 4))
    axes = np.atleast_1d(fig.subplots(1, len(modes), sharey=True))
    jitter = np.random.default_rng(0)
    for ax, (name, m) in zip(axes, modes, strict=True):
        for where, colour, label in (('edge', PLACE_COLOURS['edge_only_exit'], 'on the robot'),
                                     ('both', PLACE_COLOURS['neucodex'], 'by the cloud')):
            points = [(used, ms) for ms, used, at in m['answered']
                      if at == where and ms is not None and used]
            if points:
                used, ms = np.array(points, dtype=float).T
                ax.scatter(used + jitter.uniform(-0.2, 0.2, len(used)), ms, s=12, alpha=0.6,
                           color=colour, label=f'{label} ({len(points)})')
        ax.set(yscale='log', xlabel='timesteps its early exit used', title=name,
               xticks=range(1, report['config']['num_timesteps'] + 1))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc='upper left')
    axes[0].set_ylabel('latency (ms)')
    fig.suptitle('Where each sample was answered, and after which timestep', y=1.02)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches='tight')


def _plot_timeline(report: dict[str, Any], path: Path) -> None:
    """Latency and place of each sample of each mode over the link's schedule, phases shaded."""
    modes = {name: m['timeline'] for name, m in report['modes'].items() if m.get('timeline')}
    fig = Figure(figsize=(9, 5.5))
    ax, where = fig.subplots(2, 1, sharex=True, gridspec_kw={'height_ratios': [3, 1.2]})
    start = 0.0
    for phase in report['config']['link']['schedule']:
        if phase['down'] or phase['loss'] or phase['bandwidth_mbit'] \
                != report['config']['link']['bandwidth_mbit']:
            for axis in (ax, where):
                axis.axvspan(start, start + phase['seconds'], alpha=0.15,
                             color='red' if phase['down'] else 'grey', lw=0)
            ax.text(start, 1.0, ' ' + _phase_text(phase), transform=ax.get_xaxis_transform(),
                    va='top', fontsize=7)
        start += phase['seconds']
    top = max((p['latency_ms'] or 0 for timeline in modes.values() for p in timeline),
              default=1.0) * 1.5
    for row, (name, timeline) in enumerate(modes.items()):
        answered = [(p['t_s'], p['latency_ms']) for p in timeline if p['status'] == 'ok']
        failed = [p['t_s'] for p in timeline if p['status'] != 'ok']
        line = ax.plot(*zip(*answered, strict=True), marker='.', lw=0.8, label=name)[0] \
            if answered else None
        color = line.get_color() if line else None
        ax.scatter(failed, [top] * len(failed), marker='x', s=25, color=color,
                   label=f'{name}: not ok ({len(failed)})' if failed else None)
        for place, marker in (('both', '|'), ('edge', 'o')):
            times = [p['t_s'] for p in timeline if p['computed_on'] == place]
            where.scatter(times, [row] * len(times), marker=marker, s=14, color=color,
                          facecolors='none' if place == 'edge' else None, lw=0.8)
    ax.set(yscale='log', ylabel='latency, capture → Prediction (ms)',
           title=f'{report["config"]["model"]} on a changing link (x: no ok answer)')
    where.set(yticks=range(len(modes)), yticklabels=list(modes), ylim=(-0.6, len(modes) - 0.4),
              xlabel='seconds since the schedule started',
              title='answered where: | split (edge + cloud), o on the edge alone')
    where.title.set_fontsize(8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


FAILOVER_COLOURS = {'edge': '#1b9e77', 'a': '#7570b3', 'b': '#d95f02', 'c': '#e7298a',
                    'cloud': '#666666'}


def failover_markdown(report: dict[str, Any]) -> str:
    """The failover scenario (bench/failover.py) as a short markdown report."""
    frames, killed, stats = report['frames'], report['killed'], report['stats']
    places: dict[str, int] = {}
    for record in report['records']:
        if record['computed_by'] is not None:
            places[record['computed_by']] = places.get(record['computed_by'], 0) + 1
    counters = ', '.join(f'{key} {stats.get(key, 0)}' for key in (
        'hedges_sent', 'samples_fallen_back', 'frames_dropped', 'answers_repeated',
        'answers_to_resends', 'hedge_answers_dropped', 'samples_cloud_unavailable'))
    return '\n'.join([
        '# A cloud killed mid-run', '',
        f'{frames} frames at a steady rate; {len(report["clouds"])} cloud(s); cloud '
        f'{killed.get("cloud")} (serving the robot) SIGKILLed at frame {killed.get("frame")} '
        f'({killed.get("at", 0):.1f} s); {report["where"]}; edge parameters '
        f'{report["params_file"]} + {report["edge"] or "nothing"}.', '',
        '| frames | answered | ok | answered twice | longest gap between answers | '
        'computed by |', '|---|---|---|---|---|---|',
        f'| {frames} | {report["answered"]} ({100 * report["answered"] / frames:.1f}%) | '
        f'{report["ok"]} | {report["answered_twice"]} | '
        f'{_fmt(report["longest_gap_s"], ".2f", " s")} at '
        f'{_fmt(report["longest_gap_at_s"], ".1f", " s")} | '
        + ', '.join(f'{place} {count}' for place, count in sorted(places.items())) + ' |', '',
        f'Edge counters: {counters}.', ''])


def plot_failover(report: dict[str, Any], path: Path) -> None:
    """Each frame's answer over time (latency, and where it was computed), the kill, the gaps."""
    fig = Figure(figsize=(9, 4.8))
    ax, gaps_ax = fig.subplots(2, 1, sharex=True, gridspec_kw={'height_ratios': [3, 1.3]})
    records = report['records']
    for place in sorted({r['computed_by'] for r in records if r['computed_by']}):
        points = [(r['answered'], (r['answered'] - r['sent']) * 1e3) for r in records
                  if r['computed_by'] == place]
        t, ms = np.array(points).T
        label = 'on the robot' if place == 'edge' else f'cloud {place}'
        ax.scatter(t, ms, s=10, color=FAILOVER_COLOURS.get(place, '#666666'),
                   label=f'{label} ({len(points)})')
    missing = [r['sent'] for r in records if r['answered'] is None]
    if missing:
        ax.scatter(missing, [1.0] * len(missing), marker='x', color='red',
                   label=f'never answered ({len(missing)})')
    answered = sorted(r['answered'] for r in records if r['answered'] is not None)
    gaps = np.diff(answered)
    gaps_ax.plot(answered[1:], gaps * 1e3, color='black', lw=0.8)
    gaps_ax.axhline(500, color='red', lw=0.8, ls=':', label='0.5 s')
    for axis in (ax, gaps_ax):
        axis.axvline(report['killed'].get('at', 0), color='red', lw=1.0)
        axis.grid(alpha=0.3)
    if report['longest_gap_s'] is not None:
        gaps_ax.annotate(f'longest {report["longest_gap_s"]:.2f} s',
                         (report['longest_gap_at_s'] + report['longest_gap_s'],
                          report['longest_gap_s'] * 1e3), fontsize=8,
                         xytext=(5, 0), textcoords='offset points')
    ax.text(report['killed'].get('at', 0), 1.0, f' cloud {report["killed"].get("cloud")} killed',
            transform=ax.get_xaxis_transform(), va='top', fontsize=8, color='red')
    ax.set(yscale='log', ylabel='latency (ms)',
           title='Every frame\'s answer when its cloud is killed mid-run')
    ax.legend(fontsize=7, loc='upper left')
    gaps_ax.set(ylabel='gap between\nanswers (ms)', xlabel='time from the first frame (s)')
    gaps_ax.legend(fontsize=7, loc='upper left')
    fig.tight_layout()
    fig.savefig(path, dpi=120)
