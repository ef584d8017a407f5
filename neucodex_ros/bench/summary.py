"""A run's numbers: per mode accuracy, latency, timesteps, bytes three ways, CPU and energy.

Edge energy = compute of the layers the edge ran, for the timesteps it ran, + radio: the link
bytes it sent and received (on loopback, the message bytes).
"""

from __future__ import annotations

import dataclasses
import platform
import time
from collections import Counter
from typing import Any

import numpy as np
import torch

from neucodex_ros.bench.link import LinkConfig
from neucodex_ros.bench.modes import JPEG_QUALITY, MODE_BY_NAME, Mode, Run
from neucodex_ros.core.checkpoint import Checkpoint, load_checkpoint
from neucodex_ros.core.datasets.digits import (
    DvsRecordings,
    camera_input,
    held_out_digits,
    held_out_indices,
)
from neucodex_ros.core.energy import (
    EnergyConfig,
    OpCounts,
    compute_energy_j,
    radio_energy_j,
)
from neucodex_ros.core.events.frames import FrameSpec, event_frames
from neucodex_ros.core.figures import wire_reduction
from neucodex_ros.core.inference import edge_op_counts
from neucodex_ros.core.scoring import outcome_counts
from neucodex_ros.core.training import as_sequence
from neucodex_ros.resources import read_params_file, shown_path


def edge_operations(input_kind: str, samples: int, checkpoint: Checkpoint) -> dict[str, Any]:
    """Per-sample, per-timestep operation counts of the layers each mode runs on the edge."""
    model, config = checkpoint.model.eval(), checkpoint.config
    images, _ = held_out_digits(samples)
    if input_kind == 'images':
        inputs = [camera_input(image, config.in_channels, config.input_size)
                  for image in images]
    else:
        recordings = DvsRecordings(held_out_indices(samples))
        spec = FrameSpec.from_record(checkpoint.data, config.num_timesteps, config.input_size)
        inputs = [event_frames(recordings[i], recordings.sensor_size, spec)
                  for i in range(samples)]
    batches = (torch.as_tensor(np.stack(inputs[start:start + 50]))  # a ResNet-18 at once
               for start in range(0, samples, 50))  # would be GBs
    return edge_op_counts(model, (as_sequence(batch, config.num_timesteps)
                                  for batch in batches))


def latency_summary(records: list[dict[str, Any]]) -> dict[str, float | None]:
    """p50 / p95 latency (ms) and accuracy of some records."""
    latencies = [r['latency_ms'] for r in records if r['latency_ms'] is not None]
    return {'latency_p50_ms': float(np.percentile(latencies, 50)) if latencies else None,
            'latency_p95_ms': float(np.percentile(latencies, 95)) if latencies else None,
            'accuracy': sum(r['predicted'] == r['label'] for r in records) / len(records)}


def summarise_mode(mode: Mode, result: dict[str, Any], ops: dict[str, Any],
                   steps: int, energy: EnergyConfig, cascade_here: int = 0) -> dict[str, Any]:
    """One mode's numbers: accuracy, latency, timesteps, bytes three ways, CPU, energy.

    `cascade_here`: timesteps a cascade runs the whole network here before it escalates.
    """
    records, link = result['records'], result['link']
    n = len(records)
    ok = [r for r in records if r['status'] == 'ok']
    # The edge computed the timesteps it sent, and those it used where it decided itself
    # (every sample of layers all; with placement auto, those it ran or fell back on; with
    # cascade, those of an escalated sample it ran whole before sending their spikes).
    here = np.array([(r['timesteps_used'] or steps) if mode.layers == 'all'
                     or (mode.layers is not None and r['computed_on'] == 'edge') else
                     cascade_here if r['computed_on'] == 'both' else 0 for r in records])
    sent_steps = np.array([0 if mode.layers == 'all' else
                           max(r['timesteps_sent'] - (cascade_here if r['computed_on'] == 'both'
                                                      else 0), 0) for r in records])
    computed = here + sent_steps
    message = {'up': np.array([r['bytes_up'] for r in records], dtype=float),
               'down': np.array([r['bytes_down'] for r in records], dtype=float)}
    radio_bytes = message
    if link is not None:
        radio_bytes = {way: np.array([sum(sum(kinds.values()) for kinds in s[way].values())
                                      for s in link['samples']], dtype=float)
                       for way in ('up', 'down')}
    compute = np.zeros(n)
    if mode.layers is not None:
        for layers, timesteps in (('all', here), (mode.layers, sent_steps)):
            if timesteps.any():  # (no timesteps, no energy)
                layer_ops = ops[layers]
                compute = compute + compute_energy_j(
                    OpCounts(layer_ops.macs[:, :n], layer_ops.sops[:, :n]), timesteps, energy)
    sent = radio_energy_j(radio_bytes['up'] * 8, energy)
    received = radio_energy_j(0.0, energy, radio_bytes['down'] * 8)
    radio = sent + received
    codecs = Counter(c for r in records for c in r['codecs'])
    summary = {
        'samples': n,
        'mean_timesteps': float(np.mean([r['timesteps_used'] for r in ok])) if ok else None,
        'mean_timesteps_computed_on_edge': float(computed.mean()) if mode.layers else 0.0,
        'resends_per_sample': float(np.mean([r.get('resends', 0) for r in records])),
        'payload_bytes_per_sample': float(np.mean([r['payload_bytes'] for r in records])),
        'message_bytes_per_sample': {way: float(v.mean()) for way, v in message.items()},
        'link_bytes_per_sample': None if link is None else
        {way: float(v.mean()) for way, v in radio_bytes.items()},
        'link_breakdown': None if link is None else _mean_breakdown(link['samples']),
        'discovery_bytes_per_s': None if link is None else link['discovery_bytes_per_s'],
        'discovery_bytes_whole_run': None if link is None else link['discovery_bytes'],
        'link_dropped_bytes': None if link is None else link['dropped_bytes'],
        'edge_compute_energy_j': float(compute.mean()),
        'edge_radio_energy_j': float(radio.mean()),
        'edge_radio_energy_sent_j': float(np.mean(sent)),
        'edge_radio_energy_received_j': float(np.mean(received)),
        'edge_energy_j': float((compute + radio).mean()),
        'edge_cpu_ms_per_sample': result['edge_cpu_s'] / n * 1e3,
        'codec_mix': {c: k / max(sum(codecs.values()), 1) for c, k in codecs.items()},
        **outcome_counts(r['status'] for r in records),
        'computed_on': dict(Counter(r['computed_on'] for r in records if r['computed_on'])),
        'predicted': [r['predicted'] for r in records],
        # per sample: latency (ms), timesteps its early exit used, where it was computed
        'answered': [[r['latency_ms'], r['timesteps_used'], r['computed_on']] for r in records],
    }
    if (start := result.get('schedule_start')) is not None:  # on a scheduled link
        summary['timeline'] = [{'t_s': r['window'][0] - start, 'latency_ms': r['latency_ms'],
                                'status': r['status'], 'computed_on': r['computed_on'],
                                'correct': r['predicted'] == r['label'],
                                'edge_energy_j': float(compute[i] + radio[i])}
                               for i, r in enumerate(records)]
    return summary | latency_summary(records)


def by_phase(timeline: list[dict[str, Any]], schedule: list[dict[str, Any]]
             ) -> list[dict[str, Any]]:
    """A scheduled run's samples per phase of the link (by capture time; the last phase holds).

    Each phase: samples, ok, accuracy, latency p50 / p95 of the answered, the share answered
    on the edge, the mean edge energy with radio; after an outage also `split_again_s`, from
    the link's return to the capture of the first sample the cloud answered.
    """
    ends = np.cumsum([p['seconds'] for p in schedule])
    where = [min(int(np.searchsorted(ends, p['t_s'], side='right')), len(schedule) - 1)
             for p in timeline]
    phases = []
    for index, phase in enumerate(schedule):
        points = [p for p, i in zip(timeline, where, strict=True) if i == index]
        latencies = [p['latency_ms'] for p in points if p['latency_ms'] is not None]
        summary: dict[str, Any] = {
            'phase': _phase_text(phase), 'samples': len(points),
            'ok': sum(p['status'] == 'ok' for p in points),
            'accuracy': float(np.mean([p['correct'] for p in points])) if points else None,
            'latency_p50_ms': float(np.percentile(latencies, 50)) if latencies else None,
            'latency_p95_ms': float(np.percentile(latencies, 95)) if latencies else None,
            'on_edge': float(np.mean([p['computed_on'] == 'edge' for p in points]))
            if points else None,
            'edge_energy_j': float(np.mean([p['edge_energy_j'] for p in points]))
            if points else None}
        if phase['down']:
            back = ends[index]
            split = [p['t_s'] - back for p in timeline
                     if p['t_s'] >= back and p['computed_on'] == 'both' and p['status'] == 'ok']
            summary['split_again_s'] = min(split) if split else None
        phases.append(summary)
    return phases


def _phase_text(phase: dict[str, Any]) -> str:
    """A scheduled phase as its --link-schedule words say it."""
    if phase['down']:
        return f'{phase["seconds"]:g} s down'
    loss = f' {phase["loss"]:.0%} loss' if phase['loss'] else ''
    return f'{phase["seconds"]:g} s {phase["bandwidth_mbit"]:g} Mbit/s {phase["delay_ms"]:g} ms' \
        + loss


def _mean_breakdown(samples: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Per direction, topic and kind: mean link bytes per sample."""
    out: dict[str, dict[str, dict[str, float]]] = {'up': {}, 'down': {}}
    for sample in samples:
        for way in ('up', 'down'):
            for topic, kinds in sample[way].items():
                for kind, size in kinds.items():
                    slot = out[way].setdefault(topic, {})
                    slot[kind] = slot.get(kind, 0.0) + size / len(samples)
    return out


def _savings(modes: dict[str, dict[str, Any]]) -> None:
    """Edge energy saving against each edge-only mode, with and without the radio."""
    for name in ('edge_only', 'edge_only_exit'):
        if name not in modes:
            continue
        base = modes[name]
        for mode in modes.values():
            mode[f'energy_saving_vs_{name}'] = {
                'compute_only': 1 - mode['edge_compute_energy_j'] / base['edge_compute_energy_j'],
                'with_radio': 1 - mode['edge_energy_j'] / base['edge_energy_j']}


def summarise(results: dict[str, dict[str, Any]], sweeps: dict[str, Any], bench: Run,
              link: LinkConfig, loopback_reason: str | None) -> dict[str, Any]:
    """The JSON: config, one object per mode, the sweeps."""
    options = bench.options
    params = read_params_file(bench.params_file)
    checkpoint = load_checkpoint(options.checkpoint or params['cloud_node'].get('checkpoint')
                                 or None)
    steps = checkpoint.config.num_timesteps
    energy = EnergyConfig.with_radio(options.radio)
    ops = edge_operations(options.input, max(options.samples, options.sweep_samples), checkpoint)
    edge_params = params['edge_node'] | bench.edge_overrides
    cascade_here = int(edge_params.get('cascade_timesteps', 1))

    def modes_of(runs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        out = {name: summarise_mode(MODE_BY_NAME[name], result, ops, steps, energy,
                                    cascade_here if MODE_BY_NAME[name].edge.get('placement')
                                    == 'cascade' else 0)
               for name, result in runs.items()}
        _savings(out)
        return out

    modes = modes_of(results)
    for mode in modes.values():
        if 'timeline' in mode:
            mode['phases'] = by_phase(mode['timeline'],
                                      [dataclasses.asdict(p) for p in link.schedule])
    if 'split_float' in modes:
        for mode in modes.values():
            up = mode['message_bytes_per_sample']['up']
            mode['wire_reduction_vs_split_float'] = wire_reduction(
                modes['split_float']['message_bytes_per_sample']['up'], up)
    two_hosts = loopback_reason is None
    return {
        'config': {
            'input': options.input, 'samples': options.samples, 'model_id': checkpoint.model_id,
            'model': checkpoint.path.stem, 'backbone': checkpoint.config.backbone,
            'num_timesteps': steps, 'params_file': shown_path(bench.params_file),
            'alpha': bench.alpha, 'encoding': edge_params.get('encoding'),
            'pacing': edge_params.get('pacing', 'adaptive'),
            'timestep_cost': edge_params.get('timestep_cost'),
            'link': {'two_hosts': two_hosts,
                     'bandwidth_mbit': link.bandwidth_mbit if two_hosts else None,
                     'delay_ms': link.delay_ms if two_hosts else None,
                     'queue_packets': link.queue_packets if two_hosts else None,
                     'schedule': [dataclasses.asdict(p) for p in link.schedule]
                     if two_hosts else [],
                     'loopback_reason': loopback_reason},
            'edge_cpu_share': link.edge_cpu if two_hosts else None,
            'radio_nj_per_bit': {'sent': energy.radio_nj_per_bit,
                                 'received': energy.radio_rx_nj_per_bit},
            'jpeg_quality': JPEG_QUALITY, 'sweep_samples': options.sweep_samples,
            'machine': f'{platform.machine()}, {platform.system()} {platform.release()}',
            'date': time.strftime('%Y-%m-%d %H:%M'),
        },
        'modes': modes,
        'sweeps': {
            'bandwidth': {bw: modes_of(runs) for bw, runs in sweeps['bandwidth'].items()},
            'grid': [{k: v for k, v in point.items() if not isinstance(v, dict)}
                     | modes_of({k: v for k, v in point.items() if isinstance(v, dict)})
                     for point in sweeps['grid']],
            'pacing': [{'pacing': point['pacing']} | modes_of({'neucodex': point['neucodex']})
                       for point in sweeps['pacing']],
            'skipped': sweeps['skipped'],
        },
    }
