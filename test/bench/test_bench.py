"""`neucodex-ros bench`: every mode through real node processes, and the emulated link."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from neucodex_ros.bench.link import LinkConfig, TwoHosts, why_unavailable
from neucodex_ros.bench.modes import Mode

pytestmark = pytest.mark.ros

MODE_KEYS = {'accuracy', 'mean_timesteps', 'mean_timesteps_computed_on_edge',
             'payload_bytes_per_sample', 'message_bytes_per_sample', 'link_bytes_per_sample',
             'link_breakdown', 'edge_energy_j', 'edge_compute_energy_j', 'edge_radio_energy_j',
             'latency_p50_ms', 'latency_p95_ms', 'edge_cpu_ms_per_sample',
             'energy_saving_vs_edge_only', 'energy_saving_vs_edge_only_exit'}


def messages(mode: dict) -> float:
    return mode['message_bytes_per_sample']['up'] + mode['message_bytes_per_sample']['down']


def test_short_loopback_bench(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, '-m', 'neucodex_ros.cli', 'bench', '--loopback',
                             '--samples', '6', '--rounds', '2', '--pacing-sweep', 'clock,1e6',
                             '--sweep-samples', '3', '--out', str(tmp_path)],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / 'bench.json').read_text())
    modes = report['modes']
    assert set(modes) == {'edge_only', 'edge_only_exit', 'cloud_only', 'split_float',
                          'spikebottlenet', 'neucodex', 'neucodex_auto', 'neucodex_cascade'}
    for name, mode in modes.items():
        assert MODE_KEYS <= set(mode), name
        assert mode['unanswered'] == 0 and mode['failed'] == 0, name
        assert mode['link_bytes_per_sample'] is None, 'one host: no link to count'
        if name not in ('neucodex_auto', 'neucodex_cascade'):
            assert mode['computed_on'] == {'edge' if name in ('edge_only', 'edge_only_exit',
                                                              'cloud_only') else 'both': 6}, name
    auto = modes['neucodex_auto']  # where the edge measured it faster (the probes tried both)
    assert set(auto['computed_on']) <= {'edge', 'both'}
    assert sum(auto['computed_on'].values()) == 6
    assert auto['predicted'] == modes['neucodex']['predicted'], 'the same α both places'
    cascade = modes['neucodex_cascade']  # here, or finished by the cloud from its spikes
    assert set(cascade['computed_on']) <= {'edge', 'both'}
    assert cascade['predicted'] == modes['edge_only_exit']['predicted'], 'the same early exit'
    link = report['config']['link']
    assert {'two_hosts', 'bandwidth_mbit', 'delay_ms'} <= set(link) and not link['two_hosts']
    assert 'edge_cpu_share' in report['config']
    assert messages(modes['neucodex']) < messages(modes['spikebottlenet']) \
        < messages(modes['split_float'])
    assert messages(modes['edge_only']) == messages(modes['edge_only_exit']) == 0
    assert modes['edge_only']['edge_radio_energy_j'] == 0
    # The same model on the same inputs, lossless transport: the same answers ...
    assert modes['edge_only']['predicted'] == modes['split_float']['predicted'] \
        == modes['spikebottlenet']['predicted']
    # ... and the same early exit, whether it runs on the robot or in the cloud
    assert modes['edge_only_exit']['predicted'] == modes['neucodex']['predicted']
    assert modes['edge_only_exit']['mean_timesteps'] == modes['neucodex']['mean_timesteps'] \
        <= modes['spikebottlenet']['mean_timesteps'] == 4
    assert modes['edge_only_exit']['mean_timesteps_computed_on_edge'] == \
        modes['edge_only_exit']['mean_timesteps']
    assert modes['neucodex']['mean_timesteps_computed_on_edge'] >= \
        modes['neucodex']['mean_timesteps']
    pacing = {point['pacing']: point['neucodex'] for point in report['sweeps']['pacing']}
    assert set(pacing) == {'clock', '1e6'}
    # stop-and-wait computes exactly the timesteps the cloud used
    assert pacing['1e6']['mean_timesteps_computed_on_edge'] == pacing['1e6']['mean_timesteps']
    text = (tmp_path / 'bench.md').read_text()
    assert text.count('\n| edge_only_exit |') == 2 and 'Pacing (3 samples each' in text
    assert (tmp_path / 'bytes_vs_accuracy.png').stat().st_size > 1000


@pytest.mark.skipif(why_unavailable() is not None, reason=str(why_unavailable()))
def test_two_hosts_bench_counts_every_byte_on_the_link(tmp_path: Path) -> None:
    """Over the emulated link, the relay sees the messages plus the headers DDS adds."""
    result = subprocess.run([sys.executable, '-m', 'neucodex_ros.cli', 'bench', '--samples', '4',
                             '--modes', 'edge_only_exit,neucodex', '--out', str(tmp_path)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / 'bench.json').read_text())
    assert report['config']['link']['two_hosts']
    split, local = report['modes']['neucodex'], report['modes']['edge_only_exit']
    assert local['link_bytes_per_sample'] == {'up': 0.0, 'down': 0.0}
    for way in ('up', 'down'):
        assert split['link_bytes_per_sample'][way] > split['message_bytes_per_sample'][way] > 0
    up, down = split['link_breakdown']['up'], split['link_breakdown']['down']
    # nothing else per sample: the spikes and the verdicts, and their readers' replies to the
    # writers' heartbeats (acknowledgements) the other way
    assert set(up) <= {'/spikes', '/exit_signal'} and set(down) <= {'/exit_signal', '/spikes'}
    assert 'data' not in up.get('/exit_signal', {}) and 'data' not in down.get('/spikes', {})
    assert up['/spikes']['data'] > split['message_bytes_per_sample']['up']
    assert split['discovery_bytes_whole_run']['up'] > 0  # counted apart, never per sample
    assert split['edge_radio_energy_j'] > 0 and split['edge_compute_energy_j'] > 0


@pytest.mark.skipif(why_unavailable() is not None, reason=str(why_unavailable()))
def test_a_scheduled_outage_fails_samples_and_the_split_recovers(tmp_path: Path) -> None:
    """--link-schedule: 1 s up, then 3 s down, then up again.

    The split reports what it cannot send (cloud_unavailable), then answers again; placement
    auto answers every sample (with this small model mostly on the edge, which is faster;
    test_restarts_e2e follows auto's samples to the cloud and back). The timeline, the
    phases and the plot show it.
    """
    result = subprocess.run([sys.executable, '-m', 'neucodex_ros.cli', 'bench', '--samples',
                             '14', '--modes', 'neucodex,neucodex_auto', '--link-schedule',
                             '1s, 3s down, 60s', '--out', str(tmp_path)],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / 'bench.json').read_text())
    assert [p['down'] for p in report['config']['link']['schedule']] == [False, True, False]
    split = report['modes']['neucodex']
    timeline = split['timeline']
    assert len(timeline) == 14 and all(p['t_s'] >= 0 for p in timeline)
    failed = [p for p in timeline if p['status'] != 'ok']
    assert failed and all(p['status'] == 'cloud_unavailable' and p['t_s'] < 4.0 for p in failed)
    assert timeline[-1]['t_s'] > 4.0 and timeline[-1]['status'] == 'ok'  # after the outage
    assert split['link_dropped_bytes'] > 0
    auto = report['modes']['neucodex_auto']
    assert auto['unanswered'] == auto['failed'] == 0, auto['timeline']  # every one answered
    assert auto['computed_on']['edge'] >= 1 and sum(auto['computed_on'].values()) == 14
    phases = auto['phases']
    assert [p['phase'] for p in phases] == ['1 s 10 Mbit/s 20 ms', '3 s down',
                                            '60 s 10 Mbit/s 20 ms']
    assert sum(p['samples'] for p in phases) == 14 and phases[1]['samples'] >= 1
    assert phases[1]['on_edge'] > 0 and 'split_again_s' in phases[1]
    # a frame of the outage that the cloud answered waited at the edge for the link's return
    assert all(p['t_s'] + p['latency_ms'] / 1e3 > 4.0 for p in auto['timeline']
               if 1.0 <= p['t_s'] < 4.0 and p['computed_on'] == 'both')
    assert (tmp_path / 'latency_over_time.png').stat().st_size > 1000
    assert 'the link scheduled: 1 s 10 Mbit/s 20 ms, 3 s down' in (tmp_path / 'bench.md'
                                                                  ).read_text()


@pytest.mark.skipif(why_unavailable() is not None, reason=str(why_unavailable()))
def test_two_hosts_link_delays_and_limits(tmp_path: Path) -> None:
    """UDP across the emulated link, the edge's CPU cgroup, DDS over UDP only.

    A round trip takes at least twice the one-way delay plus the serialization time.
    """
    echo = tmp_path / 'echo.py'
    echo.write_text('''
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
if sys.argv[1] == 'server':
    s.bind(('0.0.0.0', 9999))
    while True:
        data, peer = s.recvfrom(65536)
        s.sendto(data, peer)
s.settimeout(5)
for size in (64, 8000):
    start = time.monotonic()
    s.sendto(bytes(size), (sys.argv[2], 9999))
    s.recvfrom(65536)
    print(size, time.monotonic() - start)
''')
    from neucodex_ros.bench.link import CLOUD_IP

    with TwoHosts(LinkConfig(bandwidth_mbit=2.0, delay_ms=30.0, edge_cpu=0.5)) as hosts:
        server = subprocess.Popen(hosts.command([sys.executable, str(echo), 'server'], 'cloud'))
        try:
            out = subprocess.run(hosts.command([sys.executable, str(echo), 'client', CLOUD_IP],
                                               'edge'), capture_output=True, text=True,
                                 timeout=30, check=True).stdout
            cgroup = subprocess.run(hosts.command(['cat', '/proc/self/cgroup'], 'edge'),
                                    capture_output=True, text=True, check=True).stdout
            unlimited = subprocess.run(hosts.command(['cat', '/proc/self/cgroup'], 'edge',
                                                     limited=False),
                                       capture_output=True, text=True, check=True).stdout
            assert hosts.cpu_limit is not None
            limit_file, limit = hosts.cpu_limit
            before = limit_file.read_text()
            limit_file.write_text(limit)  # as the bench camera does once the nodes are up
            after = limit_file.read_text()
            transports = subprocess.run(
                hosts.command(['sh', '-c', 'echo $FASTDDS_BUILTIN_TRANSPORTS'], 'cloud'),
                capture_output=True, text=True, check=True).stdout.strip()
        finally:
            server.kill()
            server.wait()
    rtt = {int(size): float(seconds) for size, seconds in (line.split() for line in
                                                             out.splitlines())}
    assert rtt[64] >= 0.060
    assert rtt[8000] >= 0.060 + 2 * 8000 * 8 / 2e6  # serialized both ways at 2 Mbit/s
    assert hosts.cgroup is not None and hosts.cgroup.name in cgroup
    assert hosts.cgroup.name not in unlimited
    assert limit.split()[0] not in before.split()  # unlimited while the nodes start
    assert after.split()[0] == '50000'  # half of each 100 ms period
    assert transports == 'UDPv4'  # no shared memory past the link


def test_rounds_give_every_mode_the_next_samples_in_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    """7 samples in 3 rounds: 0–1, 2–3, 4–6, each mode in turn; the parts joined in order."""
    from neucodex_ros.bench import suite
    from neucodex_ros.bench.modes import MODE_BY_NAME, Run
    from neucodex_ros.commands import bench

    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    parsed = []
    monkeypatch.setattr(suite, 'run_suite', lambda options: parsed.append(options) or 0)
    bench.run(parser.parse_args(['--samples', '7', '--rounds', '3', '--out', 'x']))
    calls = []

    def run_mode(bench: Run, mode: Mode, link: object, samples: int, first: int = 0) -> dict:
        calls.append((mode.name, first, samples))
        return {'records': [{'sample': first + n} for n in range(samples)],
                'edge_cpu_s': 1.0, 'link': None}

    monkeypatch.setattr(suite, 'run_mode', run_mode)
    results = suite.interleaved(Run(parsed[0], Path('p.yaml'), 0.9, {}),
                                [MODE_BY_NAME['neucodex'], MODE_BY_NAME['edge_only_exit']],
                                None, parsed[0].samples, parsed[0].rounds)
    assert calls == [('neucodex', 0, 2), ('edge_only_exit', 0, 2), ('neucodex', 2, 2),
                     ('edge_only_exit', 2, 2), ('neucodex', 4, 3), ('edge_only_exit', 4, 3)]
    assert [r['sample'] for r in results['neucodex']['records']] == list(range(7))
    assert results['edge_only_exit']['edge_cpu_s'] == 3.0


def test_two_rounds_links_join_their_samples_and_bytes() -> None:
    from neucodex_ros.bench.suite import joined_links

    def link(samples: int, rate: float, total: int) -> dict:
        return {'samples': [{'up': {}, 'down': {}}] * samples,
                'discovery_bytes_per_s': {'up': rate, 'down': rate},
                'discovery_bytes': {'up': total, 'down': total}, 'dropped_bytes': total}

    joined = joined_links(link(2, 10.0, 100), link(3, 30.0, 50))
    assert len(joined['samples']) == 5 and joined['discovery_bytes_per_s']['up'] == 20.0
    assert joined['discovery_bytes'] == {'up': 150, 'down': 150}
    assert joined['dropped_bytes'] == 150


def test_a_grid_point_runs_its_modes_interleaved(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    """edge_only_exit and neucodex always, auto and cascade if asked; in rounds, in turn."""
    from neucodex_ros.bench import suite
    from neucodex_ros.bench.modes import Run
    from neucodex_ros.commands import bench

    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    calls, swept = [], {}

    def run_mode(bench: Run, mode: Mode, link: LinkConfig | None, samples: int,
                 first: int = 0) -> dict:
        calls.append((mode.name, None if link is None else (link.edge_cpu, link.delay_ms),
                      first, samples))
        return {'records': [{'sample': first + n} for n in range(samples)],
                'edge_cpu_s': 1.0, 'link': None}

    monkeypatch.setattr(suite, 'why_unavailable', lambda: None)
    monkeypatch.setattr(suite, 'run_mode', run_mode)
    monkeypatch.setattr(suite, 'summarise', lambda results, sweeps, *_: swept.update(sweeps)
                        or {})
    monkeypatch.setattr(suite, 'markdown', lambda report: '')
    monkeypatch.setattr(suite, 'plot', lambda report, out: [])
    assert bench.run(parser.parse_args(
        ['--samples', '2', '--modes', 'neucodex_cascade', '--grid-cpu', '0.1',
         '--grid-delay', '5', '--sweep-samples', '4', '--rounds', '2',
         '--out', str(tmp_path)])) == 0
    grid = [call for call in calls if call[1] == (0.1, 5.0)]
    assert grid == [(name, (0.1, 5.0), first, 2) for first in (0, 2)
                    for name in ('edge_only_exit', 'neucodex', 'neucodex_cascade')]
    [point] = swept['grid']
    assert set(point) == {'edge_cpu', 'delay_ms', 'edge_only_exit', 'neucodex',
                          'neucodex_cascade'}
    assert len(point['neucodex']['records']) == 4
