"""One benchmark mode seen from the robot: play the samples one at a time and measure.

`python -m neucodex_ros.bench.camera SPEC.json OUT.json`, on the edge host (inside its
namespace in a two-host run). `python -m neucodex_ros.bench.camera --verdicts OUT.json
HEARD` runs beside the cloud node and records the size of every ExitSignal it sends until
stopped (SIGINT/SIGTERM), touching HEARD at the first: were the camera to subscribe to them
on the edge host, DDS would send each across the link a second time. The camera sends probe
samples until HEARD exists, since the recorder missing the first samples' signals would
count their answers as free. Publishes each held-out sample (a digit image, as a raw Image
or a JPEG CompressedImage, or its simulated DVS recording as evt3 EventPackets), waits for
its Prediction, lets late messages arrive, and records per sample: the answer, the timesteps
used and sent, the serialized bytes that crossed the link each way, the latency from the
capture stamp to the Prediction's arrival, and the sample's time window (monotonic clock,
which the link relay's records share); and the edge process's CPU time over the samples.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process so far (0 without a pid)."""
    if not pid:
        return 0.0
    fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def play(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the samples of one mode; per-sample records and the edge's CPU time."""
    from neucodex_ros.client import Observed, Playlist, session
    from neucodex_ros.core import topics

    events = spec['input'] == 'events'
    playlist = Playlist.held_out(spec['samples'], events, spec['period_us'],
                                 spec.get('first', 0))
    records: list[dict[str, Any]] = []

    def after(observed: Observed) -> None:  # once its late spikes and exit signals are in
        records.append(record(observed, spec['on_server'])
                       | {'window': [observed.sent, time.monotonic()]})

    # (a cascade answers a blank probe on the edge: a Prediction is all it shows; then the
    # samples wait until the edge has a cloud, as they would for a split)
    cascade = spec.get('cascade', False)
    with session('neucodex_bench', timeout=spec['timeout'], split=spec['split'] and not cascade,
                 probe=lambda client: playlist.publish(client, 0),
                 events_topic=topics.EVENTS if events else None,
                 jpeg_quality=spec.get('jpeg_quality'), watch_exits=False) as running:
        client = running.client
        deadline = time.monotonic() + spec['timeout']
        # (with placement auto the probes after the first run on the edge: no verdict to hear;
        # the recorder has matched by the time the samples run, or misses a first one)
        while spec['split'] and spec['always_split'] and not Path(spec['heard_file']).exists():
            if time.monotonic() > deadline:
                raise TimeoutError('the verdict recorder heard no ExitSignal')
            client.wait_ready(spec['timeout'], probe=lambda: playlist.publish(client, 0))
        if cascade:
            wait_for_a_cloud(client, spec['timeout'])
        if spec.get('ready_file'):  # the bench now holds the edge node to its CPU share
            Path(spec['ready_file']).touch()
            client.spin_until(lambda: Path(spec['go_file']).exists(), spec['timeout'],
                              'the CPU limit')
        if spec.get('warmup'):  # not recorded: under the CPU limit, before the samples
            client.play(lambda i: playlist.publish(client, i % len(playlist.labels)),
                        spec['warmup'], rate=None, timeout=spec['timeout'],
                        settle=spec['settle'])
        cpu_start = cpu_seconds(spec.get('edge_pid'))
        client.play(lambda i: playlist.publish(client, i, int(playlist.labels[i])),
                    len(playlist.labels), rate=None, timeout=spec['timeout'],
                    settle=spec['settle'], after=after, every=spec.get('every', 0.0))
        cpu = cpu_seconds(spec.get('edge_pid')) - cpu_start
    return {'records': records, 'edge_cpu_s': cpu}


def wait_for_a_cloud(client: Any, timeout: float) -> None:
    """Until the edge node's ~/stats say a cloud takes its samples (the gauge cloud_ready)."""
    from diagnostic_msgs.msg import DiagnosticArray

    ready = []
    client.create_subscription(DiagnosticArray, '/edge_node/stats', lambda msg: ready.append(
        any(v.key == 'cloud_ready' and v.value == '1' for v in msg.status[0].values)), 10)
    client.spin_until(lambda: any(ready), timeout, 'a cloud to take the edge\'s samples')


def verdicts(out: Path, heard: Path) -> None:
    """Record (source_id, sample_id, serialized bytes) of every ExitSignal until stopped."""
    import rclpy
    from rclpy.serialization import deserialize_message

    from neucodex_ros.msg import ExitSignal
    from neucodex_ros.qos import tool_qos

    seen: list[tuple[str, int, int]] = []

    def on_exit(raw: bytes) -> None:
        msg = deserialize_message(raw, ExitSignal)
        if not seen:
            heard.touch()
        seen.append((msg.source_id, msg.sample_id, len(raw)))

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    rclpy.init()
    node = rclpy.create_node('neucodex_bench_verdicts')
    node.create_subscription(ExitSignal, 'exit_signal', on_exit, tool_qos(), raw=True)
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    finally:
        out.write_text(json.dumps(seen))
        node.destroy_node()
        rclpy.try_shutdown()


def record(observed: Any, on_server: bool) -> dict[str, Any]:
    """What one sample did; `on_server`: the node reading the input runs on the server."""
    from neucodex_ros.core.codec import ENCODINGS, split_bundle
    from neucodex_ros.core.scoring import UNANSWERED
    from neucodex_ros.msg import PackedSpikes

    answer = observed.prediction
    carried = [(m.timestep + n, encoding) for m in observed.spikes  # (a bundle: several)
               for n, (encoding, _) in enumerate(
                   split_bundle(m.data, 1 << 16) if m.flags & PackedSpikes.FLAG_BUNDLE
                   else [(ENCODINGS[m.encoding], b'')])]
    return {
        'label': observed.label,
        'predicted': None if answer is None else int(answer.label),
        'status': UNANSWERED if answer is None else answer.status,
        'timesteps_used': None if answer is None else int(answer.timesteps_used),
        # computed once each, sent once more for every resend
        'timesteps_sent': len({timestep for timestep, _ in carried}),
        'resends': sum(bool(m.flags & PackedSpikes.FLAG_RESENT) for m in observed.spikes),
        'payload_bytes': sum(len(m.data) for m in observed.spikes),
        'sample_id': None if answer is None else int(answer.sample_id),
        'bytes_up': observed.spike_wire_bytes + (observed.input_wire_bytes if on_server
                                                 else 0),
        # a split's answer crosses in ExitSignals (added from the verdict recorder: the edge
        # publishes the Prediction), that of a network run on the server in its Prediction
        'bytes_down': observed.prediction_wire_bytes if on_server else 0,
        'latency_ms': None if answer is None else (observed.answered - observed.sent) * 1e3,
        'codecs': [encoding for _, encoding in carried],
        'computed_on': None if answer is None else answer.computed_on or None,
    }


if __name__ == '__main__':
    if sys.argv[1] == '--verdicts':
        verdicts(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        started = time.monotonic()
        result = play(json.loads(Path(sys.argv[1]).read_text()))
        result['seconds'] = time.monotonic() - started
        Path(sys.argv[2]).write_text(json.dumps(result))
