"""Several clouds serving the robots together: one owner per source, never two answers.

Every cloud of a model hears every robot's spikes (one topic); each source (robot) is served
by one of them, its owner, which every cloud computes the same way from what it hears:

1. Clouds announce themselves every ANNOUNCE_PERIOD: their id, their model and the sources
   they serve (their claims). A cloud is live while it was heard within `dead_after`
   seconds. A cloud that starts claims nothing for `dead_after`, by when it has heard every
   live cloud of its model.
2. The owner of a source is the live cloud of its model (itself included) with the highest
   hash of (cloud id, source id): rendezvous hashing. A cloud that leaves moves only its own
   sources, spread over the others; a cloud that joins takes about 1/n of everyone's.
3. A cloud claims a source it owns only once no other live cloud claims it, and releases a
   source it no longer owns once none of that source's samples is open (it takes no new
   one meanwhile). The views of two clouds differ for a moment when one joins or dies; the
   claims are what keeps them from serving one source both.
4. A claimed source's sample is taken only if its id (strictly increasing per source) is
   above every id of that source seen while it was not claimed (or, rule 6, was addressed
   to another cloud): a sample that started
   under the previous owner stays its own (answered by it, or by the edge's deadline and
   fallback if that cloud died), never answered a second time here. A robot never heard
   before is claimed by its owner at its first message: every cloud hears every robot, so
   no cloud can have served it yet.
5. A cloud not announced for `fence` (< dead_after, so before others may count it dead)
   was stalled and may have been taken over: it drops its claims and starts again (rule 1).
6. A robot addresses its samples to the cloud whose READY or latest answer it took (its
   fingerprint; 0: any). A sample addressed to another cloud is taken only if that cloud was
   heard and no longer claims the source (it released it, or died); one addressed to a cloud
   never heard is never taken. The views of rules 1–3 rest on having heard the other clouds,
   and discovery does not keep order: a cloud that just started may hear the robots a second
   or more before it hears any other cloud, think itself alone and claim them all. The
   address keeps such a cloud off samples that another cloud serves.
7. A robot whose cloud went quiet (core/edge_loop.py: a sample overdue by its measured
   round trips) does not wait `dead_after` for the fleet to hand it over. It hedges: the
   sample goes again marked Flag.HEDGE and addressed to the cloud it left, and is taken,
   whatever the claims, by the live cloud first in the order of rule 2 once that one is
   left out; its later samples go marked Flag.DIRECT to the cloud that answered, which
   takes them whatever the claims, and no other cloud does, until that cloud (or the
   robot's owner by then) answers its hello. Two clouds may so both answer a hedged
   sample; the robot takes the first answer and tells the others to drop it (Flag.CANCEL).

8. Bounded against a peer that floods the fleet with made-up robots: a cloud claims at
   most `max_sources` robots (more are refused, counted), and a robot heard only through
   hellos, with no sample taken, is forgotten (and released) HELLO_FORGET after its last
   hello, not FORGET_AFTER. An announcement so carries at most `max_sources` ids, each at
   most MAX_SOURCE_ID characters long (longer ones are rejected by the cloud on arrival).

Time is injected (`now`, seconds, monotonic); the cloud node is the adapter over this.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

ANNOUNCE_PERIOD = 0.2  # seconds between a cloud's announcements
FORGET_AFTER = 60.0  # seconds: a source not heard for this long is forgotten (released)
HELLO_FORGET = 5.0  # seconds: ... a source heard only through hellos (rule 8)
MAX_SOURCE_ID = 64  # characters of a source_id (rule 8)


def rendezvous_score(cloud_id: str, source_id: str) -> int:
    """The same number on every host and run (Python's hash() is salted per process)."""
    digest = hashlib.blake2b(f'{cloud_id}\0{source_id}'.encode(), digest_size=8).digest()
    return int.from_bytes(digest, 'big')


def cloud_fingerprint(cloud_id: str) -> int:
    """A cloud's id as PackedSpikes.cloud and ExitSignal.cloud carry it: 32 bits, never 0."""
    digest = hashlib.blake2b(cloud_id.encode(), digest_size=4).digest()
    return int.from_bytes(digest, 'big') or 1


def owner(source_id: str, clouds: Iterable[str]) -> str:
    """The cloud that owns a source among these (rule 2); ties cannot happen between ids."""
    return max(clouds, key=lambda cloud: (rendezvous_score(cloud, source_id), cloud))


@dataclass
class Peer:
    """Another cloud of the same model, as last heard."""

    claims: frozenset[str]
    heard: float


@dataclass
class Source:
    """A robot this cloud has heard."""

    heard: float
    seen_unclaimed: int = -1  # highest sample id seen while not claimed (rule 4)
    hello: int | None = None  # its latest hello seen while not claimed, to answer on claiming
    sampled: bool = False  # a sample of it was taken here (else heard through hellos only)


@dataclass
class Fleet:
    """One cloud's view of the fleet and the sources it serves (see the module docstring)."""

    cloud_id: str
    now: float
    dead_after: float = 1.0
    fence: float = 0.5
    peers: dict[str, Peer] = field(default_factory=dict)
    sources: dict[str, Source] = field(default_factory=dict)
    claims: set[str] = field(default_factory=set)
    releasing: set[str] = field(default_factory=set)  # no longer owned, samples still open
    max_sources: int = 1024  # robots this cloud claims at most (rule 8)
    refused: set[str] = field(default_factory=set)  # owned, not claimed: full (rule 8)

    def __post_init__(self) -> None:
        if not ANNOUNCE_PERIOD < self.fence < self.dead_after:
            raise ValueError(f'need {ANNOUNCE_PERIOD} s (the announce period) < fence < '
                             f'dead_after, got fence {self.fence}, dead_after {self.dead_after}')
        self.joined_at = self.now + self.dead_after
        self.announced = self.now
        self.fingerprint = cloud_fingerprint(self.cloud_id)

    def heard(self, cloud_id: str, claims: Iterable[str], now: float) -> None:
        """An announcement of another cloud of this model."""
        if cloud_id != self.cloud_id:
            self.peers[cloud_id] = Peer(frozenset(claims), now)

    def live(self, now: float) -> list[str]:
        """The clouds counted live (this one included)."""
        return [self.cloud_id] + [cloud for cloud, peer in self.peers.items()
                                  if now - peer.heard <= self.dead_after]

    def takes(self, source_id: str, sample_id: int, now: float, hello: bool = False,
              addressed: int = 0, direct: bool = False, hedge: bool = False) -> bool:
        """Whether this cloud serves a new sample (or hello) of this source (rules 3, 4, 6, 7).

        `addressed`: the fingerprint of the cloud the sample is for (0: any); `direct`: for
        that cloud alone; `hedge`: for the next cloud after it.
        """
        source = self.sources.get(source_id)
        if source is None:
            source = self.sources[source_id] = Source(now)
            if self._owns_unclaimed(source_id, now):  # a new robot: nobody can have served it
                self.claims.add(source_id)
        source.heard = now
        if hedge and not hello:
            others = [c for c in self.live(now) if cloud_fingerprint(c) != addressed]
            taken = bool(others) and owner(source_id, others) == self.cloud_id
        elif direct and not hello:
            taken = addressed == self.fingerprint
        elif source_id in self.claims and source_id not in self.releasing \
                and self._left_to_this(addressed, source_id, now):
            taken = sample_id > source.seen_unclaimed
        else:
            source.seen_unclaimed = max(source.seen_unclaimed, sample_id)
            if hello:
                source.hello = sample_id
            return False
        source.sampled |= taken and not hello
        return taken

    def _left_to_this(self, addressed: int, source_id: str, now: float) -> bool:
        """A sample addressed to this cloud, to any, or to a cloud heard to have let go (rule 6)."""
        if addressed in (0, self.fingerprint):
            return True
        to = next((cloud for cloud in self.peers if cloud_fingerprint(cloud) == addressed), None)
        return to is not None and (to not in self.live(now)
                                   or source_id not in self.peers[to].claims)

    def _owns_unclaimed(self, source_id: str, now: float) -> bool:
        """This cloud (joined, not full) owns the source and no other live cloud claims it."""
        live = self.live(now)
        owns = now >= self.joined_at and owner(source_id, live) == self.cloud_id and all(
            source_id not in self.peers[cloud].claims for cloud in live[1:])
        if owns and len(self.claims) >= self.max_sources:
            self.refused.add(source_id)
            return False
        return owns

    def stalled(self, now: float) -> bool:
        """Not announced for `fence`: if so, drop every claim and join again (rule 5)."""
        if now - self.announced <= self.fence:
            return False
        self.join(now)  # (one stall counts once; joining again keeps the claims empty)
        return True

    def join(self, now: float) -> None:
        """Start over as a cloud that just started (rule 1): no claims until `dead_after`."""
        self.claims.clear()
        self.releasing.clear()
        self.joined_at = now + self.dead_after
        self.announced = now

    def update(self, now: float, open_sources: set[str]) -> list[tuple[str, int | None]]:
        """Claim and release by the rules; the sources newly claimed, each with a hello to answer.

        `open_sources`: sources with samples open in this cloud.
        """
        for cloud in [c for c, peer in self.peers.items() if now - peer.heard > 2 * FORGET_AFTER]:
            del self.peers[cloud]
        for name in [s for s, source in self.sources.items() if now - source.heard
                     > (FORGET_AFTER if source.sampled else HELLO_FORGET)]:
            del self.sources[name]
            self.refused.discard(name)
        if now < self.joined_at:
            return []
        live = self.live(now)
        for name in list(self.claims):
            if name not in self.sources or owner(name, live) != self.cloud_id:
                self.releasing.add(name)
            if name in self.releasing and name not in open_sources:
                self.claims.discard(name)
                self.releasing.discard(name)
        claimed = []
        for name, source in self.sources.items():
            if name not in self.claims and self._owns_unclaimed(name, now):
                self.claims.add(name)
                claimed.append((name, source.hello))
                source.hello = None
        return claimed

