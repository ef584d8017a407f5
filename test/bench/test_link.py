"""The bench's link accounting: RTPS packets split by topic and kind, summed per sample."""

from __future__ import annotations

import struct

import pytest

from neucodex_ros.bench.link import Phase, parse_schedule, per_window, phase_at
from neucodex_ros.bench.rtps import DISCOVERY, NETWORK, UNKNOWN, Dissector, ros_topic

EDGE_PREFIX = bytes.fromhex('010f00000000000000000001')
CLOUD_PREFIX = bytes.fromhex('010f00000000000000000002')
SPIKES_WRITER = bytes.fromhex('00001503')  # a user writer (entity kind 0x03)
EXIT_READER = bytes.fromhex('00001604')  # a user reader (entity kind 0x04)
SEDP_PUBLICATIONS = bytes.fromhex('000003c2'), bytes.fromhex('000003c7')  # writer, reader


def ip_udp(payload: bytes, *, ident: int = 1, flags_offset: int = 0,
           udp: bool = True) -> bytes:
    """An IPv4 packet (20-byte header) around a UDP datagram, or raw payload if not udp."""
    body = (struct.pack('>HHHH', 7400, 7410, 8 + len(payload), 0) + payload) if udp \
        else payload
    return struct.pack('>BBHHHBBH4s4s', 0x45, 0, 20 + len(body), ident, flags_offset, 64,
                       17 if udp else 2, 0, bytes(4), bytes(4)) + body


def rtps(prefix: bytes, *submessages: bytes) -> bytes:
    return b'RTPS' + bytes([2, 2, 1, 15]) + prefix + b''.join(submessages)


def sub(sub_id: int, body: bytes, flags: int = 0x01) -> bytes:
    return struct.pack('<BBH', sub_id, flags, len(body)) + body


def info_ts() -> bytes:
    return sub(0x09, bytes(8))


def data(reader: bytes, writer: bytes, payload: bytes, flags: int = 0x05) -> bytes:
    return sub(0x15, struct.pack('<HH', 0, 16) + reader + writer + struct.pack('<iI', 0, 1)
               + payload, flags)


def parameter(pid: int, value: bytes) -> bytes:
    value += bytes(-len(value) % 4)
    return struct.pack('<HH', pid, len(value)) + value


def announcement(prefix: bytes, writer: bytes, topic: str) -> bytes:
    """An SEDP publication DATA: PL_CDR_LE, topic name and endpoint GUID."""
    name = topic.encode() + b'\0'
    payload = b'\x00\x03\x00\x00' + parameter(0x0005, struct.pack('<I', len(name)) + name) \
        + parameter(0x005A, prefix + writer) + struct.pack('<HH', 0x0001, 0)
    return rtps(prefix, info_ts(), data(SEDP_PUBLICATIONS[1], SEDP_PUBLICATIONS[0], payload))


def test_ros_topic_names() -> None:
    assert ros_topic('rt/spikes') == '/spikes'
    assert ros_topic('rq/cloud_node/get_parametersRequest') == '/cloud_node/get_parametersRequest'
    assert ros_topic('ros_discovery_info') == DISCOVERY


def test_topics_are_learnt_from_discovery_and_parts_sum_to_the_packet() -> None:
    dissector = Dissector()
    sedp = ip_udp(announcement(EDGE_PREFIX, SPIKES_WRITER, 'rt/spikes'))
    assert dissector.parts(sedp) == [(DISCOVERY, 'data', len(sedp))]
    spikes = data(bytes(4), SPIKES_WRITER, bytes(60))
    stats = sub(0x80, bytes(56))  # Fast DDS' statistics submessage
    heartbeat = sub(0x07, bytes(4) + SPIKES_WRITER + bytes(20))
    packet = ip_udp(rtps(EDGE_PREFIX, info_ts(), spikes, heartbeat, stats))
    parts = dissector.parts(packet)
    assert parts == [('/spikes', 'data', 28 + 20 + len(info_ts()) + len(spikes)),
                     ('/spikes', 'heartbeat', len(heartbeat)), ('/spikes', 'vendor', len(stats))]
    assert sum(size for _, _, size in parts) == len(packet)


def test_acknowledgements_are_named_by_their_reader() -> None:
    dissector = Dissector()
    dissector.parts(ip_udp(announcement(EDGE_PREFIX, EXIT_READER, 'rt/exit_signal')))
    acknack = sub(0x06, EXIT_READER + bytes(4) + bytes(20))
    packet = ip_udp(rtps(EDGE_PREFIX, sub(0x0E, CLOUD_PREFIX), acknack))
    assert dissector.parts(packet) == [('/exit_signal', 'acknack', len(packet))]


def test_unannounced_endpoints_and_other_packets() -> None:
    dissector = Dissector()
    packet = ip_udp(rtps(CLOUD_PREFIX, info_ts(), data(bytes(4), SPIKES_WRITER, bytes(8))))
    assert dissector.parts(packet) == [(UNKNOWN, 'data', len(packet))]
    igmp = ip_udp(bytes(8), udp=False)
    assert dissector.parts(igmp) == [(NETWORK, 'other', len(igmp))]
    not_rtps = ip_udp(b'hello, world')
    assert dissector.parts(not_rtps) == [(UNKNOWN, 'other', len(not_rtps))]


@pytest.mark.parametrize('cut', [0, 3, 27, 29, 47, 55])
def test_truncated_packets_never_raise(cut: int) -> None:
    dissector = Dissector()
    dissector.parts(ip_udp(announcement(EDGE_PREFIX, SPIKES_WRITER, 'rt/spikes')))
    packet = ip_udp(rtps(EDGE_PREFIX, info_ts(), data(bytes(4), SPIKES_WRITER, bytes(60))))
    parts = dissector.parts(packet[:len(packet) - cut])
    assert sum(size for _, _, size in parts) == len(packet) - cut


def test_ip_fragments_are_counted_with_their_datagram() -> None:
    """A long DDS message cut by a 1500-byte MTU is counted once, with every fragment's header.

    A discovery announcement split so is still learnt.
    """
    dissector = Dissector()
    long_name = 'rt/' + 'x' * 2000
    whole = ip_udp(announcement(EDGE_PREFIX, SPIKES_WRITER, long_name), ident=9)
    datagram = whole[20:]
    first = ip_udp(datagram[:1480], ident=9, flags_offset=0x2000, udp=False)
    second = ip_udp(datagram[1480:], ident=9, flags_offset=1480 // 8, udp=False)
    first = first[:9] + bytes([17]) + first[10:]  # fragments carry the UDP protocol number
    second = second[:9] + bytes([17]) + second[10:]
    assert dissector.parts(first) == []  # not complete yet
    assert dissector.parts(second) == [(DISCOVERY, 'data', len(first) + len(second))]
    assert dissector.topics[EDGE_PREFIX + SPIKES_WRITER] == '/' + 'x' * 2000


def test_per_window_sums_each_sample_and_keeps_discovery_apart() -> None:
    records = [(0.5, 'up', '/spikes', 'data', 100),  # before the first sample
               (1.0, 'up', '/spikes', 'data', 200), (1.1, 'down', '/exit_signal', 'data', 150),
               (1.2, 'up', DISCOVERY, 'data', 400), (1.3, 'down', NETWORK, 'other', 40),
               (2.0, 'up', '/spikes', 'data', 210), (2.0, 'up', '/spikes', 'vendor', 60),
               (2.5, 'up', '/spikes', 'dropped', 270)]
    link = per_window(records, [[1.0, 2.0], [2.0, 3.0]])
    assert link['samples'] == [
        {'up': {'/spikes': {'data': 200}}, 'down': {'/exit_signal': {'data': 150}}},
        {'up': {'/spikes': {'data': 210, 'vendor': 60}}, 'down': {}}]
    assert link['discovery_bytes_per_s'] == {'up': 200.0, 'down': 20.0}
    assert link['dropped_bytes'] == 270


def test_a_link_schedule_is_read_and_followed() -> None:
    phases = parse_schedule('30s, 10s down, 30s 1mbit 150ms 2%, 5s', 10.0, 20.0)
    assert phases == (Phase(30, 10.0, 20.0), Phase(10, 10.0, 20.0, down=True),
                      Phase(30, 1.0, 150.0, loss=0.02), Phase(5, 10.0, 20.0))
    assert [phase_at(phases, t) for t in (0, 29.9, 30, 45, 70, 1e6)] == [
        phases[0], phases[0], phases[1], phases[2], phases[3], phases[3]]
    for bad in ('10mbit', '30s fast', '30 s'):
        with pytest.raises(ValueError):
            parse_schedule(bad, 10.0, 20.0)
