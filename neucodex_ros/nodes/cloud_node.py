"""Cloud node: PackedSpikes → decoder + tail → early exit → ExitSignal with the answer.

What a sample's messages mean and when it ends is core/cloud_sessions.py; this node takes
the messages, runs the batches the rules form through decoder and tail (CloudRunner), and
publishes the replies. Any number of clouds of a model serve the robots together, one cloud
per robot, chosen by rendezvous hashing over the clouds that announce themselves on
`fleet_topic` (core/fleet.py has the rule and the handover): announcements go out from
their own thread, so that a long batch does not make this cloud look gone.

A lifecycle node (nodes/managed.ManagedNode): configure loads the model, activate joins the
fleet, deactivate leaves it (the other clouds take its robots; its open samples are still
finished here); `autostart` does configure and activate at start.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

from rclpy.subscription import MessageInfo

from neucodex_ros.core.cloud_sessions import CloudSessions
from neucodex_ros.core.fleet import ANNOUNCE_PERIOD, Fleet
from neucodex_ros.core.health import CLOUD_RULES, Health, assess
from neucodex_ros.core.inference import CloudRunner
from neucodex_ros.core.protocol import Log, Verdict
from neucodex_ros.core.settings import CLOUD, COMMON, CloudSettings
from neucodex_ros.msg import CloudAnnounce, ExitSignal, PackedSpikes
from neucodex_ros.nodes.managed import ManagedNode
from neucodex_ros.nodes.parameters import declare, load_model
from neucodex_ros.nodes.spin import spin
from neucodex_ros.nodes.wire import model_fingerprint, saturated_uint32, take_waiting
from neucodex_ros.qos import OVERRIDES, stream_qos, tool_qos


class CloudNode(ManagedNode):
    """Finishes the network on the edge's spikes and decides each sample as early as it can."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('cloud_node', 'cloud', **kwargs)

    def configure(self) -> None:
        """Parameters, model, publishers, subscriptions and timers (lifecycle: configure)."""
        settings = CloudSettings(declare(self, COMMON + CLOUD))
        checkpoint = load_model(settings)
        self.model_id = checkpoint.model_id
        self.wire_model_id = model_fingerprint(checkpoint.model_id)
        self.fleet = Fleet(settings.cloud_id or f'{socket.gethostname()}-{os.getpid()}',
                           time.monotonic(), settings.dead_after, settings.dead_after / 2,
                           max_sources=settings.max_sources)
        self.hardware_id = self.fleet.cloud_id
        model = checkpoint.model
        # Spikes from the encoder; or the head's features from an edge without bottleneck
        # (layers: head), for which the cloud runs the encoder too.
        self.sessions = CloudSessions(
            {model.head_shape: CloudRunner(model, True), model.split_shape: CloudRunner(model)},
            model.split_shape, self.wire_model_id, self.model_id, self.fleet,
            lambda: float(self.get_parameter('alpha').value), settings.limits, self.counters)

        qos = stream_qos(settings.reliable, settings.qos_depth)
        self.spikes_sub = self.create_subscription(PackedSpikes, settings.spikes_topic,
                                                   self.receive, qos,
                                                   qos_overriding_options=OVERRIDES)
        self.serve_guard = self.create_guard_condition(self.serve)
        self.exit_pub = self.create_publisher(ExitSignal, settings.exit_topic, qos,
                                              qos_overriding_options=OVERRIDES)
        self.fleet_pub = self.create_publisher(CloudAnnounce, settings.fleet_topic, tool_qos())
        self.fleet_sub = self.create_subscription(CloudAnnounce, settings.fleet_topic,
                                                  self.on_announce, tool_qos())
        self.claims_announced: list[str] = []
        self.announce_now = threading.Event()
        self.announcer: threading.Thread | None = None  # while active
        self.fleet_timer = self.create_timer(ANNOUNCE_PERIOD, self.update_fleet)
        self.batch_timer = self.create_timer(1.0, self.run_batches, autostart=False)
        wait = settings.reorder_wait
        periods = [1.0, settings.sample_timeout / 2] + [wait / 2] * (wait > 0)
        self.housekeeping_timer = self.create_timer(max(min(periods), 0.005), self.housekeeping)
        self.get_logger().info(
            f'model {self.model_id} ({checkpoint.config.backbone}, '
            f'{len(checkpoint.class_names)} classes), expects spikes of shape '
            f'{model.split_shape}, alpha {self.get_parameter("alpha").value}, cloud id '
            f'{self.fleet.cloud_id}')

    def activate(self) -> None:
        """Join the fleet (core/fleet.py: as a cloud that just started) and announce."""
        self.sessions.active = True
        self.fleet.join(time.monotonic())
        self.claims_announced = []
        self.announcer = threading.Thread(target=self._announce, name='announce', daemon=True)
        self.announcer.start()

    def deactivate(self) -> None:
        """Stop announcing, so that the other clouds take the robots; finish the open samples.

        Their timesteps are still served (or they end at sample_timeout); nothing new is
        taken (counted as ignored_while_inactive).
        """
        self.sessions.active = False
        self._stop_announcing()
        self.fleet.claims.clear()

    def release(self) -> None:
        """The announcer stops before its publisher goes."""
        self._stop_announcing()

    def _stop_announcing(self) -> None:
        if getattr(self, 'announcer', None) is not None:  # (configure may have failed before)
            self.announce_now.set()
            self.announcer.join()
            self.announcer = None

    def gauges(self) -> dict[str, int]:
        """The state beside the counters in the health report."""
        return {'open_samples': len(self.sessions.open),
                'sources_served': len(self.fleet.claims),
                'sources_refused': len(self.fleet.refused)}

    def health(self, growth: dict[str, int]) -> Health:
        """CLOUD_RULES over the last period."""
        return assess(growth, CLOUD_RULES, (), f'serves {len(self.fleet.claims)} robots, '
                      f'{len(self.sessions.open)} open samples')

    def _announce(self) -> None:
        """Announce this cloud and its claims every ANNOUNCE_PERIOD, or at once on a change."""
        while self.active and self.context.ok():
            try:
                self.fleet_pub.publish(CloudAnnounce(cloud_id=self.fleet.cloud_id,
                                                     model_id=self.wire_model_id,
                                                     sources=self.claims_announced))
            except Exception:  # shutting down: the publisher is gone
                return
            self.fleet.announced = time.monotonic()
            self.announce_now.wait(ANNOUNCE_PERIOD)
            self.announce_now.clear()

    def on_announce(self, msg: CloudAnnounce) -> None:
        """Another cloud is live and serves msg.sources."""
        if msg.model_id == self.wire_model_id:
            self.fleet.heard(msg.cloud_id, msg.sources, time.monotonic())

    def update_fleet(self) -> None:
        """Claim the robots this cloud owns now, release the others (core/fleet.py)."""
        for announcement, _ in take_waiting(self.fleet_sub):  # (heard now, not after a batch)
            self.on_announce(announcement)
        now = time.monotonic()
        if not self.active or self._stalled(now):
            return
        before = set(self.claims_announced)  # (a new robot is claimed at its first message)
        for source, hello in self.fleet.update(now, {key[0] for key in self.sessions.open}):
            if hello is not None:  # its edge is waiting for a cloud: say this one takes it
                self._send([self.sessions.hello_taken(source, hello)])
        if self.fleet.claims != before:
            gained, lost = sorted(self.fleet.claims - before), sorted(before - self.fleet.claims)
            line = (f'serves {len(self.fleet.claims)} robots of {len(self.fleet.live(now))} '
                    f'clouds' + (f'; took {names(gained)}' if gained else '')
                    + (f'; handed over {names(lost)}' if lost else ''))
            if len(gained) + len(lost) > SHOWN:  # (a flood: a line a second at most)
                self.get_logger().info(line, throttle_duration_sec=1.0)
            else:
                self.get_logger().info(line)
            self.counters['robots_taken'] += len(gained)
            self.counters['robots_handed_over'] += len(lost)
            self.claims_announced = sorted(self.fleet.claims)
            self.announce_now.set()

    def _stalled(self, now: float) -> bool:
        """This cloud went unheard long enough to be taken over: drop everything, rejoin."""
        if not self.active or not self.fleet.stalled(now):
            return False
        dropped = self.sessions.drop_all()
        self.counters['stalls'] += 1
        self.counters['samples_dropped_in_stall'] += dropped
        self.get_logger().warning(f'not announced for over {self.fleet.fence:.2f} s: another '
                                  f'cloud may have taken its robots; dropped {dropped} open '
                                  'samples, joining again')
        self.claims_announced = []
        self.announce_now.set()
        return True

    def receive(self, msg: PackedSpikes, info: MessageInfo) -> None:
        """Into its robot's inbox, with its writer's GID; serve() takes the others waiting."""
        self.sessions.receive(msg, bytes(info['publisher_gid']['data']))
        self.serve_guard.trigger()

    def serve(self) -> None:
        """One message of every robot with messages waiting; again after the other callbacks."""
        for message, writer in take_waiting(self.spikes_sub):
            self.sessions.receive(message, writer)
        if self._stalled(time.monotonic()):
            return
        try:
            self._send(self.sessions.serve(time.monotonic()))
        finally:  # (even if a message raised: the others still get served)
            self._run_when_due()
            if self.sessions.inbox:
                self.serve_guard.trigger()

    def _run_when_due(self) -> None:
        """Run the waiting timesteps now, or when the batch has waited batch_wait."""
        now = time.monotonic()
        if (at := self.sessions.when_to_run(now)) is None:
            return
        if at <= now:
            self.run_batches()
        elif self.batch_timer.is_canceled():
            self.batch_timer.timer_period_ns = max(int((at - now) * 1e9), 1)
            self.batch_timer.reset()

    def run_batches(self) -> None:
        """Every decoded timestep through decoder and tail, a batch per round."""
        self.batch_timer.cancel()
        while self.sessions.due and not self._stalled(time.monotonic()):
            for batch in self.sessions.batches():
                decisions = batch.runner.step_batch([s.state for s in batch.samples],
                                                    [step.spikes for step in batch.steps])
                self._send(self.sessions.ran(batch, decisions))

    def housekeeping(self) -> None:
        """Samples gone quiet, timesteps that waited for lost ones (the rules'), then a batch."""
        self._send(self.sessions.housekeeping(time.monotonic()))
        self.run_batches()

    def _send(self, replies: list[Verdict | Log]) -> None:
        """Publish the replies as ExitSignals, log the lines."""
        for reply in replies:
            if isinstance(reply, Log):
                if reply.warning:
                    self.get_logger().warning(reply.text, throttle_duration_sec=5.0)
                else:
                    self.get_logger().info(reply.text)
                continue
            self.exit_pub.publish(ExitSignal(
                sample_id=reply.sample_id, cloud=reply.cloud, source_id=reply.source_id,
                bytes_received=saturated_uint32(reply.bytes_received),
                confidence=reply.confidence, label=reply.label,
                timesteps_used=reply.timesteps_used, timesteps_lost=reply.timesteps_lost,
                reason=reply.reason, status=reply.status, probabilities=reply.probabilities))


SHOWN = 5  # robots named in a log line


def names(sources: list[str]) -> str:
    """The first SHOWN names, and how many more (a flood of robots makes one short line)."""
    more = len(sources) - SHOWN
    return ', '.join(sources[:SHOWN]) + (f' and {more} more' if more > 0 else '')


def main(args: list[str] | None = None) -> int:
    """Run the cloud node until Ctrl-C."""
    return spin(CloudNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
