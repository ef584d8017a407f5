"""A whole benchmark: every mode and sweep, then the JSON, the markdown and the plots."""

from __future__ import annotations

import itertools
import json
import sys
from dataclasses import replace
from functools import partial
from typing import Any

from neucodex_ros.bench.link import LinkConfig, parse_schedule, why_unavailable
from neucodex_ros.bench.modes import GRID_MODES, MODE_BY_NAME, MODES, Mode, Options, Run
from neucodex_ros.bench.report import markdown, plot
from neucodex_ros.bench.runner import run_mode
from neucodex_ros.bench.summary import summarise
from neucodex_ros.core.errors import ConfigError
from neucodex_ros.resources import default_params_file, events_params_file, read_params_file


def interleaved(bench: Run, modes: list[Mode], link: LinkConfig | None, samples: int,
                rounds: int) -> dict[str, Any]:
    """Every mode on the same samples, in `rounds` rounds of every mode in turn.

    This machine's speed drifts within minutes; rounds spread that drift over the modes
    alike instead of giving one mode a slow spell. Each round plays the next samples.
    """
    results: dict[str, Any] = {}
    bounds = [samples * r // rounds for r in range(rounds + 1)]
    for first, end in itertools.pairwise(bounds):
        for mode in modes:
            part = run_mode(bench, mode, link, end - first, first)
            if (whole := results.get(mode.name)) is None:
                results[mode.name] = part
                continue
            whole['records'] += part['records']
            whole['edge_cpu_s'] += part['edge_cpu_s']
            if whole['link'] is not None:
                whole['link'] = joined_links(whole['link'], part['link'])
    return results


def joined_links(first: dict[str, Any], then: dict[str, Any]) -> dict[str, Any]:
    """Two rounds' link.per_window: the samples in turn, the bytes added, the rates averaged."""
    return {'samples': first['samples'] + then['samples'],
            'discovery_bytes_per_s': {way: (first['discovery_bytes_per_s'][way]
                                            + then['discovery_bytes_per_s'][way]) / 2
                                      for way in ('up', 'down')},
            'discovery_bytes': {way: first['discovery_bytes'][way] + then['discovery_bytes'][way]
                                for way in ('up', 'down')},
            'dropped_bytes': first['dropped_bytes'] + then['dropped_bytes']}


def run_suite(options: Options) -> int:
    """Run every mode and sweep, then write JSON, markdown and plots; the exit status."""
    modes = [m for m in MODES if m.name in options.modes]
    if not modes:
        print(f'no known mode in {",".join(options.modes)!r}', file=sys.stderr)
        return 2
    if not 1 <= options.rounds <= options.samples:
        raise ConfigError(f'--rounds must be 1 to --samples ({options.samples}), got '
                          f'{options.rounds}')
    params_file = (options.params_file or (events_params_file() if options.input == 'events'
                                           else default_params_file())).resolve()
    params = read_params_file(params_file)
    bench = Run(options, params_file, options.alpha if options.alpha is not None
                else float(params['cloud_node']['alpha']), options.edge)
    try:
        schedule = parse_schedule(options.link_schedule, options.bandwidth, options.delay) \
            if options.link_schedule else ()
    except ValueError as err:
        raise ConfigError(f'--link-schedule: {err}') from err
    link = LinkConfig(options.bandwidth, options.delay, edge_cpu=options.edge_cpu,
                      schedule=schedule)
    steady = replace(link, schedule=())  # the sweeps measure steady links
    reason = 'asked for (--loopback)' if options.loopback else why_unavailable()
    if reason:
        print(f'neucodex-ros bench: one host, loopback, no CPU limit: {reason}', flush=True)
    options.out.mkdir(parents=True, exist_ok=True)
    results = interleaved(bench, modes, None if reason else link, options.samples,
                          options.rounds)
    sweeps: dict[str, Any] = {'bandwidth': {}, 'grid': [], 'pacing': [], 'skipped': []}

    def sweep_point(runs: dict[str, Any]) -> dict[str, Any] | None:
        """Run a sweep point's modes; None (and the reason kept) if one fails."""
        try:
            return {name: run() for name, run in runs.items()}
        except RuntimeError as err:  # one point must not cost the whole run
            print(f'neucodex-ros bench: point skipped: {err}', flush=True)
            sweeps['skipped'].append(str(err))
            return None

    if not reason:
        for bandwidth in options.sweep:
            point = replace(steady, bandwidth_mbit=bandwidth)
            runs = sweep_point({mode.name: partial(run_mode, bench, mode, point,
                                                   options.sweep_samples) for mode in modes})
            if runs:
                sweeps['bandwidth'][f'{bandwidth:g}'] = runs
        grid_modes = [MODE_BY_NAME[name] for name in GRID_MODES
                      if name in options.modes or name in ('edge_only_exit', 'neucodex')]
        for cpu in options.grid_cpu:
            for delay in options.grid_delay:
                point = replace(steady, edge_cpu=cpu, delay_ms=delay)
                runs = sweep_point({'modes': partial(
                    interleaved, bench, grid_modes, point, options.sweep_samples,
                    min(options.rounds, options.sweep_samples))})
                if runs:
                    sweeps['grid'].append({'edge_cpu': cpu, 'delay_ms': delay} | runs['modes'])
    for pacing in options.pacing_sweep:
        edge = {'pacing': 'clock'} if pacing == 'clock' else \
            {'pacing': 'adaptive', 'timestep_cost': float(pacing)}
        paced = replace(bench, edge_overrides=bench.edge_overrides | edge)
        runs = sweep_point({'neucodex': partial(run_mode, paced, MODE_BY_NAME['neucodex'],
                                                None if reason else steady,
                                                options.sweep_samples)})
        if runs:
            sweeps['pacing'].append({'pacing': pacing} | runs)
    report = summarise(results, sweeps, bench, link, reason)
    out = options.out
    (out / 'bench.json').write_text(json.dumps(report, indent=2))
    (out / 'bench.md').write_text(markdown(report))
    written = plot(report, out)
    print(markdown(report))
    print(f'written: {out}/bench.json, bench.md, ' + ', '.join(written))
    return 0
