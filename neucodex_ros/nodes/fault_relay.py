"""Fault relay: stands between edge and cloud and drops, duplicates, reorders and delays.

For testing a split against a bad link (core.faults has the seeded rules). The edge is
pointed at `edge/spikes` and `edge/exit_signal`; the relay forwards the spikes to `spikes`
and the cloud's ExitSignals back, each message through the rules, with the link's QoS.
Messages stay serialized: the relay never decodes them.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from typing import Any

from neucodex_ros.core.faults import FaultRules
from neucodex_ros.core.settings import FAULT_RELAY
from neucodex_ros.msg import ExitSignal, PackedSpikes
from neucodex_ros.nodes.managed import GuardedNode
from neucodex_ros.nodes.parameters import declare
from neucodex_ros.nodes.spin import spin
from neucodex_ros.qos import stream_qos


class FaultRelay(GuardedNode):
    """Forwards PackedSpikes edge → cloud and ExitSignal cloud → edge through FaultRules."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('fault_relay', 'fault relay', **kwargs)
        values = declare(self, FAULT_RELAY)
        seed = values['seed']
        rules = FaultRules(**{name: values[name] for name in
                              ('drop', 'duplicate', 'reorder', 'delay', 'reorder_delay')})
        routes = [(PackedSpikes, values['spikes_in'], values['spikes_out']),
                  (ExitSignal, values['exit_in'], values['exit_out'])]
        self.rules = rules
        self.held: list[tuple[float, int, Any, bytes]] = []  # (due, order, publisher, message)
        self.report_every(values['stats_period'])
        qos = stream_qos(values['reliable'], values['qos_depth'])
        self._order = itertools.count()
        self.subscribers = []
        for index, (msg_type, topic_in, topic_out) in enumerate(routes):
            publisher = self.create_publisher(msg_type, topic_out, qos)
            rng = random.Random(seed * 2 + index)
            name = msg_type.__name__
            self.subscribers.append(self.create_subscription(
                msg_type, topic_in,
                lambda raw, p=publisher, r=rng, n=name: self.on_message(raw, p, r, n),
                qos, raw=True))
        if rules.delay > 0 or rules.reorder > 0:  # else every copy goes out at once
            self.timer = self.create_timer(0.002, self.release)
        self.get_logger().info(f'relaying {routes[0][1]} → {routes[0][2]} and {routes[1][1]} '
                               f'→ {routes[1][2]} with {rules}, seed {seed}')

    def gauges(self) -> dict[str, int | float]:
        """Messages held now, beside the counters on ~/stats."""
        return {'held': len(self.held)}

    def on_message(self, raw: bytes, publisher: Any, rng: random.Random, name: str) -> None:
        """Apply the rules to one message: drop it, or hold its copies until due."""
        delays = self.rules.plan(rng)
        self.counters[f'{name}_in'] += 1
        if len(delays) != 1:
            self.counters[f'{name}_{"dropped" if not delays else "duplicated"}'] += 1
        now = time.monotonic()
        for delay in delays:
            heapq.heappush(self.held, (now + delay, next(self._order), publisher, raw))
        self.release()

    def release(self) -> None:
        """Send every held message that is due, earliest first."""
        now = time.monotonic()
        while self.held and self.held[0][0] <= now:
            _, _, publisher, raw = heapq.heappop(self.held)
            publisher.publish(raw)
            self.counters['messages_out'] += 1


def main(args: list[str] | None = None) -> int:
    """Run the fault relay until Ctrl-C."""
    return spin(FaultRelay, args)


if __name__ == '__main__':
    raise SystemExit(main())
