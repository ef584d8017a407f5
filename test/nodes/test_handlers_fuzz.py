"""Fuzzing the nodes' message handlers: real nodes in this process, random messages.

Every callback a network message reaches (the cloud's spikes; the edge's images, compressed
images, event packets and exit signals) is fed hypothesis' messages, valid and not, from
several sources and samples at once, with the housekeeping timers run in between. The node
must count and carry on: a handler that raises would end a node under rclpy.spin.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import numpy as np
import pytest
import rclpy
from event_camera_msgs.msg import EventPacket
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rclpy.context import Context
from rclpy.parameter import Parameter
from sensor_msgs.msg import CompressedImage, Image

from neucodex_ros.core import codec
from neucodex_ros.core.checkpoint import load_checkpoint
from neucodex_ros.msg import ExitSignal, PackedSpikes
from neucodex_ros.nodes.cloud_node import CloudNode
from neucodex_ros.nodes.edge_node import EdgeNode
from neucodex_ros.nodes.wire import model_fingerprint

pytestmark = pytest.mark.ros

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.function_scoped_fixture])
MODEL_ID = model_fingerprint(load_checkpoint().model_id)
CHECKED: Counter[str] = Counter()  # how often the invariants were checked on a live state
SHAPE = (4, 7, 7)


WRITER = {'publisher_gid': {'data': [7] * 24}}  # one writer: the cloud's, as DDS tells it


@pytest.fixture(scope='module')
def context() -> Iterator[Context]:
    context = Context()
    rclpy.init(context=context)
    yield context
    rclpy.try_shutdown(context=context)


@pytest.fixture(scope='module')
def cloud(context: Context) -> Iterator[CloudNode]:
    node = CloudNode(context=context, parameter_overrides=[
        Parameter('max_in_flight', value=3), Parameter('reorder_wait', value=0.0),
        Parameter('sample_timeout', value=0.01), Parameter('stats_period', value=0.0),
        Parameter('dead_after', value=0.8)])
    time.sleep(0.9)  # a cloud takes robots once it has listened for other clouds (dead_after)
    yield node
    node.destroy_node()


def deliver(cloud: CloudNode, msg: PackedSpikes) -> None:
    """As the executor does: the subscription's callback, then the serving it triggers."""
    cloud.receive(msg, WRITER)
    cloud.serve()


def spikes_messages(base: int) -> st.SearchStrategy[PackedSpikes]:
    """PackedSpikes of a few samples from `base`, mostly plausible, some not at all."""
    @st.composite
    def build(draw: st.DrawFn) -> PackedSpikes:
        shape = draw(st.sampled_from([SHAPE] * 8 + [(1, 7, 7), (0, 0, 0), (65535, 1, 1)]))
        encoding = draw(st.sampled_from([*codec.ENCODINGS, 6, 255]))
        if draw(st.integers(0, 3)) and isinstance(encoding, str) and 0 < np.prod(shape) < 1000:
            spikes = draw(st.integers(0, 2**32 - 1).map(
                lambda s: np.random.default_rng(s).random(shape) < 0.2))
            previous = np.zeros(shape, bool) if codec.is_temporal(encoding) else None
            data = codec.encode(spikes, encoding, previous)
        else:
            data = draw(st.binary(max_size=64))
        return PackedSpikes(
            source_id=draw(st.sampled_from(['a', 'b', ''])),
            sample_id=base + draw(st.integers(0, 4)),
            timestep=draw(st.integers(0, 4)),
            num_timesteps=draw(st.sampled_from([4] * 8 + [0, 1, 7, 65535])),
            channels=shape[0], height=shape[1], width=shape[2],
            encoding=codec.WIRE_IDS.get(encoding, encoding),  # type: ignore[arg-type]
            flags=draw(st.integers(0, 255)),
            model_id=draw(st.sampled_from([MODEL_ID] * 8 + [0, 12345])), data=data)
    return build()


@FUZZ
@given(data=st.data(), base=st.integers(0, 2**60))
def test_cloud_spikes_handler(cloud: CloudNode, data: st.DataObject, base: int) -> None:
    messages = data.draw(st.lists(spikes_messages(base), min_size=1, max_size=12))
    for msg in messages:
        deliver(cloud, msg)
        assert sum(key[0] == msg.source_id for key in cloud.sessions.open) <= 3  # max_in_flight
        for sample in cloud.sessions.open.values():  # (before housekeeping ends them)
            assert sample.state.early_exit.timesteps + sample.lost <= sample.num_timesteps
            CHECKED['open samples'] += 1
    cloud.housekeeping()


@pytest.fixture(scope='module')
def edge(context: Context) -> Iterator[EdgeNode]:
    node = EdgeNode(context=context, parameter_overrides=[
        Parameter('deadline', value=0.001), Parameter('stats_period', value=0.0),
        Parameter('queue_size', value=3)])
    yield node
    node.destroy_node()


def cloud_answered_hello(edge: EdgeNode) -> None:
    """As when a cloud answered the edge's hello (no cloud here; a missed deadline forgets it)."""
    edge.loop.cloud_ready = True


@FUZZ
@given(encoding=st.sampled_from(['mono8', 'rgb8', 'mono16', '32FC1', 'yuv422', '']),
       height=st.integers(0, 40), width=st.integers(0, 40), step=st.integers(0, 130),
       data=st.binary(max_size=1700), compressed=st.binary(max_size=200),
       exits=st.lists(st.tuples(st.integers(0, 2**64 - 1), st.integers(-3, 20),
                                st.lists(st.floats(allow_nan=True), max_size=12),
                                st.integers(0, 5), st.integers(0, 5), st.integers(0, 6)),
                        max_size=4))
def test_edge_image_and_exit_handlers(edge: EdgeNode, encoding: str, height: int, width: int,
                                      step: int, data: bytes, compressed: bytes,
                                      exits: list) -> None:
    edge.on_image(Image(encoding=encoding, height=height, width=width, step=step, data=data))
    edge.on_image(Image(encoding='mono8', height=height, width=width, step=width,  # valid
                        data=(data * (height * width))[:height * width]))
    edge.on_image(CompressedImage(format='jpeg', data=compressed))
    edge.on_timer()
    cloud_answered_hello(edge)
    edge.on_timer()
    samples = edge.loop.samples
    current = samples.current.sample_id if samples.current is not None else 0
    for sample_id, label, probabilities, status, reason, used in exits:
        for source in ('robot0', 'other'):
            edge.on_exit(ExitSignal(source_id=source, sample_id=sample_id, label=label,
                                    probabilities=probabilities, status=status, reason=reason,
                                    timesteps_used=used), WRITER)
        edge.on_exit(ExitSignal(source_id='robot0', sample_id=current, label=label,
                                status=status, reason=reason, timesteps_used=used), WRITER)
    edge.on_timer()
    cloud_answered_hello(edge)
    edge.on_timer()
    assert len(edge.loop.samples.waiting) <= 3


@pytest.fixture(scope='module')
def event_edge(context: Context) -> Iterator[EdgeNode]:
    node = EdgeNode(context=context, parameter_overrides=[
        Parameter('checkpoint', value='nmnist_events'), Parameter('stats_period', value=0.0),
        Parameter('window_mode', value='count'), Parameter('window_events', value=20),
        Parameter('min_events', value=1)])
    yield node
    node.destroy_node()


@FUZZ
@given(packets=st.lists(st.tuples(st.sampled_from(['evt3', 'libcaer', 'libcaer_cmp', 'mono',
                                                   'evt2', '']),
                                  st.binary(max_size=200), st.integers(0, 700),
                                  st.integers(0, 500), st.integers(0, 10)),
                        min_size=1, max_size=5))
def test_edge_event_handler(event_edge: EdgeNode, packets: list) -> None:
    for encoding, data, width, height, seq in packets:
        event_edge.on_events(EventPacket(encoding=encoding, events=data, width=width,
                                         height=height, seq=seq))
    event_edge.flush()
    cloud_answered_hello(event_edge)
    event_edge.on_timer()
    assert len(event_edge.loop.samples.waiting) <= 2


def test_the_fuzzing_reached_decisions_and_rejections(cloud: CloudNode, edge: EdgeNode,
                                                      event_edge: EdgeNode) -> None:
    """Not only the first checks were hit (the fuzzing runs here again, so alone too)."""
    test_cloud_spikes_handler(cloud)
    test_edge_image_and_exit_handlers(edge)
    test_edge_event_handler(event_edge)
    assert CHECKED['open samples'] > 0, 'the invariant never saw an open sample'
    print(cloud.counters.line(), edge.counters.line(), event_edge.counters.line(), sep='\n')
    assert cloud.counters['samples_decided'] > 0
    assert {'rejected_model_mismatch', 'rejected_bad_shape', 'rejected_bad_num_timesteps',
            'rejected_bad_timestep', 'rejected_unknown_encoding', 'rejected_bad_payload',
            'repeated_timesteps'} <= set(cloud.counters)
    assert edge.counters['frames_rejected'] > 0 and edge.counters['samples_started'] > 0
    assert event_edge.counters['packets_rejected'] > 0



def test_a_seq_leap_is_a_new_stream_not_missed_packets(event_edge: EdgeNode) -> None:
    missed, restarts = (event_edge.counters['packets_missed'],
                        event_edge.counters['stream_restarts'])
    for seq in (1, 2, 2**64 - 1):
        event_edge.on_events(EventPacket(encoding='evt3', events=b'', width=34, height=34,
                                         seq=seq))
    assert event_edge.counters['packets_missed'] - missed <= 1  # (1 after an earlier seq)
    assert event_edge.counters['stream_restarts'] - restarts >= 1


def test_bytes_received_beyond_uint32_saturate(cloud: CloudNode) -> None:
    """A sample's byte count outgrowing ExitSignal.bytes_received does not end the handler."""
    spikes = np.random.default_rng(0).random(SHAPE) < 0.2

    def timestep(t: int) -> PackedSpikes:
        return PackedSpikes(source_id='big', sample_id=2**62, timestep=t, num_timesteps=4,
                            channels=SHAPE[0], height=SHAPE[1], width=SHAPE[2],
                            encoding=codec.WIRE_IDS['bitpack'], flags=PackedSpikes.FLAG_VERDICT,
                            model_id=MODEL_ID, data=codec.encode(spikes, 'bitpack', None))

    sent: list[ExitSignal] = []
    publish, cloud.exit_pub.publish = cloud.exit_pub.publish, sent.append
    alpha = cloud.get_parameter('alpha').value
    cloud.set_parameters([Parameter('alpha', value=1.0)])  # undecided until T
    try:
        deliver(cloud, timestep(0))
        cloud.sessions.open[('big', 2**62)].bytes_received = 2**32 + 5
        deliver(cloud, timestep(1))
    finally:
        cloud.exit_pub.publish = publish
        cloud.set_parameters([Parameter('alpha', value=alpha)])
    sent = [m for m in sent if m.source_id == 'big']  # (not hellos the edge fixture sent)
    assert [m.reason for m in sent] == [ExitSignal.REASON_CONTINUE] * 2
    assert sent[-1].bytes_received == 2**32 - 1


def test_event_time_going_back_is_binned_in_order_and_counted(event_edge: EdgeNode) -> None:
    """evt3 TIME_LOW decreasing inside one packet (issue 15): counted, never raised."""
    n = 30  # more than window_events: a window completes inside the packet
    words = [0x8 << 12]  # TIME_HIGH 0; then per event TIME_LOW (falling), ADDR_Y, ADDR_X
    for i in range(n):
        words += [0x6 << 12 | (3000 - 100 * i), i % 34, 0x2 << 12 | (i % 2) << 11 | i % 34]
    before = event_edge.counters['windows_out_of_order']
    event_edge.on_events(EventPacket(encoding='evt3', events=np.array(words, '<u2').tobytes(),
                                     width=34, height=34, seq=10**9))
    event_edge.flush()
    assert event_edge.counters['windows_out_of_order'] > before


def test_a_huge_claimed_sensor_is_rejected_before_any_work(event_edge: EdgeNode) -> None:
    """A packet claiming a 65535x65535 sensor (issue 15) is rejected and counted."""
    words = [0x8 << 12] + [w for i in range(30) for w in (0x6 << 12 | i, i, 0x2 << 12 | i)]
    before = event_edge.counters['packets_rejected_sensor_too_large']
    windows = event_edge.counters['windows']
    event_edge.on_events(EventPacket(encoding='evt3', events=np.array(words, '<u2').tobytes(),
                                     width=65535, height=65535, seq=2 * 10**9))
    event_edge.flush()
    assert event_edge.counters['packets_rejected_sensor_too_large'] == before + 1
    assert event_edge.counters['windows'] == windows


def test_forged_answers_are_rejected_and_counted(edge: EdgeNode) -> None:
    """Answers no cloud of this model sends (issue 15): never published as a Prediction."""
    forged = [dict(label=-1, status=ExitSignal.STATUS_OK, timesteps_used=1),
              dict(label=3, confidence=float('nan'), timesteps_used=1),
              dict(label=3, confidence=0.9, probabilities=[0.5] * 2_000_000, timesteps_used=1),
              dict(label=3, confidence=0.9, timesteps_used=edge.num_timesteps + 1)]
    before = edge.counters['answers_rejected']
    for fields in forged:
        edge.on_exit(ExitSignal(source_id=edge.source_id, sample_id=7,
                                reason=ExitSignal.REASON_CONFIDENT, **fields), WRITER)
    assert edge.counters['answers_rejected'] == before + len(forged)
