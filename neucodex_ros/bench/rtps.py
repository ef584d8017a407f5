"""What DDS puts on the link, byte by byte: IPv4/UDP packets dissected into RTPS submessages.

The benchmark's relay sees every IP packet that crosses the emulated link. This module says,
for each, which ROS topic and which kind of RTPS traffic its bytes belong to:

- kind: `data` (DATA, DATA_FRAG: the messages), `heartbeat` (HEARTBEAT, HEARTBEAT_FRAG: a
  reliable writer announcing what it sent), `acknack` (ACKNACK, NACK_FRAG: a reliable reader
  acknowledging or asking again), `gap`, `vendor` (vendor-specific submessages: Fast DDS
  built with statistics ends every RTPS message with a 60-byte one), or `other`;
- topic: the ROS topic name (`/spikes`), learnt from the endpoint announcements that
  discovery sends (SEDP: endpoint GUID → topic name); `discovery` for the built-in endpoints
  (participant and endpoint discovery, liveliness) and ROS's graph topic
  `ros_discovery_info`; `network` for IP packets that are not RTPS over UDP (IGMP, ICMP);
  `unknown` for endpoints not announced on this link (yet).

IP fragments (DDS sends datagrams of up to 64 KB, which the link's MTU cuts) are put back
together first; the datagram's parts, with every fragment's IP header, are returned with its
last fragment.

Each packet's bytes are split over its submessages: a submessage's own bytes, plus those of
the INFO_TS / INFO_DST / INFO_SRC submessages before it; the IP, UDP and RTPS headers go to
the packet's first counted submessage, and a vendor-specific or padding submessage goes to
the topic of the one before it. So the parts of a packet always sum to its size.
References: the OMG DDSI-RTPS 2.5 specification (submessage ids and layouts, entity kinds,
parameter ids).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

KINDS = ('data', 'heartbeat', 'acknack', 'gap', 'vendor', 'other')
DISCOVERY = 'discovery'
NETWORK = 'network'
UNKNOWN = 'unknown'

_DATA, _DATA_FRAG, _HEARTBEAT, _HEARTBEAT_FRAG = 0x15, 0x16, 0x07, 0x13
_ACKNACK, _NACK_FRAG, _GAP = 0x06, 0x12, 0x08
_INFO_TS, _INFO_SRC, _INFO_DST = 0x09, 0x0C, 0x0E
_KIND_OF = {_DATA: 'data', _DATA_FRAG: 'data', _HEARTBEAT: 'heartbeat',
            _HEARTBEAT_FRAG: 'heartbeat', _ACKNACK: 'acknack', _NACK_FRAG: 'acknack',
            _GAP: 'gap'}
_INFO = (_INFO_TS, _INFO_SRC, _INFO_DST)
# The SEDP writers of publications and subscriptions (entity ids of the spec, table 9.2).
_SEDP_WRITERS = (bytes.fromhex('000003c2'), bytes.fromhex('000004c2'))
_PID_SENTINEL, _PID_TOPIC_NAME, _PID_ENDPOINT_GUID = 0x0001, 0x0005, 0x005A
_UDP = 17


def is_builtin(entity_id: bytes) -> bool:
    """Whether an RTPS entity id is a built-in (discovery) endpoint: kind bits 11xxxxxx."""
    return len(entity_id) == 4 and entity_id[3] & 0xC0 == 0xC0


def ros_topic(dds_topic: str) -> str:
    """A DDS topic name as ROS names it (rt/spikes → /spikes); discovery for the graph topic."""
    if dds_topic == 'ros_discovery_info':
        return DISCOVERY
    for prefix in ('rt/', 'rq/', 'rr/'):
        if dds_topic.startswith(prefix):
            return '/' + dds_topic[len(prefix):]
    return dds_topic


@dataclass
class _Datagram:
    """The fragments of one IP datagram seen so far."""

    header: bytes  # the first fragment's IP header
    pieces: dict[int, bytes] = field(default_factory=dict)  # offset → payload
    length: int | None = None  # the payload's length, once the last fragment came
    link_bytes: int = 0  # the fragments' sizes, IP headers included


@dataclass
class Dissector:
    """Splits IP packets into (topic, kind, bytes) parts; learns topics from discovery."""

    topics: dict[bytes, str] = field(default_factory=dict)  # endpoint GUID (16 bytes) → topic
    max_open: int = 64  # datagrams being reassembled at once (the oldest is given up)
    _open: dict[bytes, _Datagram] = field(default_factory=dict, repr=False)

    def parts(self, packet: bytes) -> list[tuple[str, str, int]]:
        """The (topic, kind, bytes) parts of one IPv4 packet.

        They sum to len(packet), but for fragments: none until the datagram is complete,
        then the whole datagram's, with every fragment's size.
        """
        if len(packet) >= 20 and packet[0] >> 4 == 4:
            flags_offset = struct.unpack_from('>H', packet, 6)[0]
            if flags_offset & 0x3FFF:  # more fragments, or not the first
                return self._fragment(packet, flags_offset)
        return self._datagram(packet)

    def _fragment(self, packet: bytes, flags_offset: int) -> list[tuple[str, str, int]]:
        header_length = (packet[0] & 0x0F) * 4
        key = packet[12:20] + packet[4:6] + packet[9:10]  # addresses, id, protocol
        datagram = self._open.setdefault(key, _Datagram(packet[:header_length]))
        offset = (flags_offset & 0x1FFF) * 8
        if offset == 0:
            datagram.header = packet[:header_length]
        datagram.pieces[offset] = packet[header_length:]
        datagram.link_bytes += len(packet)
        if not flags_offset & 0x2000:
            datagram.length = offset + len(packet) - header_length
        while len(self._open) > self.max_open:
            self._open.pop(next(iter(self._open)))
        payload = b''
        for start in sorted(datagram.pieces):
            if start != len(payload):
                return []  # a gap: not complete yet
            payload += datagram.pieces[start]
        if datagram.length is None or len(payload) != datagram.length:
            return []
        del self._open[key]
        whole = datagram.header + payload
        parts = self._datagram(whole)
        topic, kind, size = parts[0]
        parts[0] = (topic, kind, size + datagram.link_bytes - len(whole))
        return parts

    def _datagram(self, packet: bytes) -> list[tuple[str, str, int]]:
        """The parts of a whole IP datagram (see parts)."""
        rtps = _udp_payload(packet)
        if rtps is None:
            return [(NETWORK, 'other', len(packet))]
        if len(rtps) < 20 or rtps[:4] != b'RTPS':
            return [(UNKNOWN, 'other', len(packet))]
        source = rtps[8:20]
        parts: list[tuple[str, str, int]] = []
        pending = len(packet) - len(rtps) + 20  # IP + UDP + RTPS headers
        offset = 20
        while offset + 4 <= len(rtps):
            sub_id, flags = rtps[offset], rtps[offset + 1]
            length = struct.unpack_from('<H' if flags & 1 else '>H', rtps, offset + 2)[0]
            end = len(rtps) if length == 0 and sub_id not in (_INFO_TS, 0x01) \
                else min(offset + 4 + length, len(rtps))
            body = rtps[offset + 4:end]
            pending += end - offset
            if sub_id == _INFO_SRC and len(body) >= 20:
                source = body[8:20]
            if sub_id in _KIND_OF:
                parts.append((self._topic_of(sub_id, flags, source, body), _KIND_OF[sub_id],
                              pending))
                pending = 0
            elif sub_id not in _INFO and parts:  # vendor-specific, padding: with the last one
                parts.append((parts[-1][0], 'vendor' if sub_id >= 0x80 else 'other', pending))
                pending = 0
            offset = end
        pending += len(rtps) - offset  # a truncated last submessage
        if pending:
            if parts:
                topic, kind, size = parts[-1]
                parts[-1] = (topic, kind, size + pending)
            else:
                parts.append((UNKNOWN, 'other', pending))
        return parts

    def _topic_of(self, sub_id: int, flags: int, source: bytes, body: bytes) -> str:
        """The topic a submessage belongs to (learning it first from a discovery DATA)."""
        if sub_id in (_DATA, _DATA_FRAG):
            reader, writer = body[4:8], body[8:12]
        elif sub_id in (_HEARTBEAT, _HEARTBEAT_FRAG, _GAP, _ACKNACK, _NACK_FRAG):
            reader, writer = body[0:4], body[4:8]
        else:
            return UNKNOWN
        if is_builtin(writer) or is_builtin(reader):
            if sub_id == _DATA and writer in _SEDP_WRITERS:
                self._learn(flags, body)
            return DISCOVERY
        # A reader's messages (ACKNACK) are named by the reader's GUID, the rest by the writer's.
        endpoint = reader if sub_id in (_ACKNACK, _NACK_FRAG) else writer
        return self.topics.get(source + endpoint, UNKNOWN)

    def _learn(self, flags: int, body: bytes) -> None:
        """Read an endpoint announcement (SEDP DATA): its GUID and topic name."""
        try:
            offset = 4 + struct.unpack_from('<H' if flags & 1 else '>H', body, 2)[0]
            if flags & 0x02:  # inline QoS first: skip its parameter list
                offset = _skip_parameters(body, offset, bool(flags & 1))
            if not flags & 0x04 or offset + 4 > len(body):
                return  # no serialized data
            little = body[offset + 1] in (0x01, 0x03)  # CDR_LE / PL_CDR_LE
            values = _parameters(body, offset + 4, little)
        except (struct.error, IndexError, ValueError):
            return
        guid, name = values.get(_PID_ENDPOINT_GUID), values.get(_PID_TOPIC_NAME)
        if guid is None or name is None or len(guid) != 16 or len(name) < 5:
            return
        length = struct.unpack_from('<I' if little else '>I', name)[0]
        topic = name[4:4 + length].rstrip(b'\0').decode('utf-8', 'replace')
        self.topics[bytes(guid)] = ros_topic(topic)


def _udp_payload(packet: bytes) -> bytes | None:
    """The UDP payload of an IPv4 packet, or None if it is not UDP over IPv4."""
    if len(packet) < 20 or packet[0] >> 4 != 4 or packet[9] != _UDP:
        return None
    start = (packet[0] & 0x0F) * 4 + 8
    return packet[start:] if len(packet) >= start else None


def _parameters(body: bytes, offset: int, little: bool) -> dict[int, bytes]:
    """A parameter list (id, length, value)* up to PID_SENTINEL."""
    values: dict[int, bytes] = {}
    while offset + 4 <= len(body):
        pid, length = struct.unpack_from('<HH' if little else '>HH', body, offset)
        if pid == _PID_SENTINEL:
            break
        values.setdefault(pid & 0x3FFF, body[offset + 4:offset + 4 + length])
        offset += 4 + length
    return values


def _skip_parameters(body: bytes, offset: int, little: bool) -> int:
    """The offset after a parameter list that starts at `offset`."""
    while offset + 4 <= len(body):
        pid, length = struct.unpack_from('<HH' if little else '>HH', body, offset)
        offset += 4 + length
        if pid == _PID_SENTINEL:
            return offset
    raise ValueError('parameter list without sentinel')
