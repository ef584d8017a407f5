"""Edge node: camera frames or events → head + encoder, one timestep at a time → PackedSpikes.

A thin adapter: what to do and when is core/edge_loop.py (the handshake with a cloud,
pacing, placement, deadlines and fallback, answers); an event camera's packets become
samples in core/events/stream.py; the parameters are core/settings.py (EDGE). The node
converts messages to the loop's events, runs the model (EdgeRunner) when the loop says,
and publishes: PackedSpikes to the cloud, and each sample's one Prediction on the robot,
with a vision_msgs/Classification and, if asked for, its input with the answer drawn on it.

Input follows the model: a model of 2 polarity channels takes `event_camera_msgs/EventPacket`
on `events` (as metavision_driver and libcaer_driver publish them), any other takes
sensor_msgs/Image (or CompressedImage) on `image`, fed as the same frame at every timestep.
`layers` says what the node runs: `split` (head + encoder; spikes out), `head` (the head's
features out) or `all` (the whole network here, no cloud). A lifecycle node
(nodes/managed.ManagedNode); health on /diagnostics (EDGE_RULES).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from event_camera_msgs.msg import EventPacket
from rclpy.event_handler import (
    PublisherEventCallbacks,
    QoSMessageLostInfo,
    QoSPublisherMatchedInfo,
    SubscriptionEventCallbacks,
)
from rclpy.serialization import serialize_message
from rclpy.subscription import MessageInfo
from rclpy.timer import Timer
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from neucodex_ros.core import codec
from neucodex_ros.core.edge_loop import (
    Action,
    Cancel,
    EdgeLoop,
    Escalate,
    Hedge,
    Outcome,
    Publish,
    ReportWorse,
    Resend,
    RunHere,
    Sample,
    SayHello,
    SendTimestep,
    StartSplit,
    Wake,
)
from neucodex_ros.core.errors import ImageError
from neucodex_ros.core.events.frames import FrameSpec
from neucodex_ros.core.events.stream import EventSample, EventStream
from neucodex_ros.core.exit_policy import EarlyExit
from neucodex_ros.core.health import Health
from neucodex_ros.core.inference import EdgeRunner, timestep_energy_j
from neucodex_ros.core.placement import ComputedOn, Placement
from neucodex_ros.core.protocol import Log, Verdict
from neucodex_ros.core.settings import COMMON, EDGE, EDGE_EVENTS, EdgeSettings
from neucodex_ros.msg import ExitSignal, PackedSpikes
from neucodex_ros.nodes.inputs import Frame, image_frame, window_frame
from neucodex_ros.nodes.managed import ManagedNode
from neucodex_ros.nodes.outputs import Outputs
from neucodex_ros.nodes.parameters import declare, load_model
from neucodex_ros.nodes.spin import spin
from neucodex_ros.nodes.wire import model_fingerprint
from neucodex_ros.qos import OVERRIDES, stream_qos
from neucodex_ros.resources import large_data_profile

QUIET_INPUT_WARNING = 5.0  # seconds after the start without any input before saying so


def arm(timer: Timer, seconds: float) -> None:
    """(Re)start a one-shot timer to fire in `seconds` (its callback cancels it)."""
    timer.timer_period_ns = max(int(seconds * 1e9), 1)
    timer.reset()


class EdgeNode(ManagedNode):
    """Runs the head and the spike encoder on camera frames or event windows; streams spikes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('edge_node', 'edge', **kwargs)

    def configure(self) -> None:
        """Parameters, model, publishers, subscriptions and timers (lifecycle: configure)."""
        values = declare(self, COMMON + EDGE)
        settings = EdgeSettings(values)
        checkpoint = load_model(settings)
        self.config, self.class_names = checkpoint.config, checkpoint.class_names
        self.model_id, self.wire_model_id = checkpoint.model_id, model_fingerprint(
            checkpoint.model_id)
        self.num_timesteps = settings.num_timesteps or self.config.num_timesteps
        kind = settings.input_kind(self.config.in_channels)
        self.events: EventStream | None = None
        if kind == 'events':
            trained = FrameSpec.from_record(checkpoint.data, self.num_timesteps,
                                            self.config.input_size)
            settings = EdgeSettings(values | declare(self, EDGE_EVENTS, {
                'frames_by': trained.split_by, 'fit': trained.fit}))
            self.events = settings.event_stream(trained, self.counters)
            # Restarted by every packet: fires once `flush_after` passed without one.
            self.flush_timer = self.create_timer(settings.flush_after, self.flush,
                                                 autostart=False)
        self.settings = settings
        self.source_id = self.hardware_id = settings.source(self.get_namespace())
        self.role = f'{self.source_id} edge'
        self.runner = EdgeRunner(checkpoint.model, settings.layers)
        # The whole network here (auto, cascade, a fallback); its samples' neurons are theirs.
        self.local_runner = self.runner if settings.layers == 'all' else \
            EdgeRunner(checkpoint.model, 'all')
        self.local_exit = EarlyExit(alpha=settings.alpha, num_timesteps=self.num_timesteps)
        self.last_input = time.monotonic()  # of the last input message (or of the start)
        # Ids increase across restarts, so a restarted edge never reuses a sample id.
        self.loop: EdgeLoop[Frame] = EdgeLoop(
            settings.loop(self.num_timesteps, len(self.class_names), self.model_id),
            time.monotonic(), time.time_ns() // 1000, self.counters, lambda frame:
            timestep_energy_j(self.local_runner.model, frame.pixels, self.num_timesteps,
                              settings.energy))
        self.previous: np.ndarray | None = None  # spikes of the last timestep sent
        self.last_sent: PackedSpikes | None = None  # ... as sent, for a resend
        self._make_entities(kind)
        self._log_start(kind)

    def _make_entities(self, kind: str) -> None:
        """Publishers, subscriptions and the loop's timer."""
        settings = self.settings
        qos = stream_qos(settings.reliable, settings.qos_depth)
        self.outputs = Outputs(self, settings, self.class_names, self.num_timesteps,
                               self.source_id)
        self.spikes_pub = None
        if settings.where is not Placement.LOCAL:
            self.spikes_pub = self.create_publisher(
                PackedSpikes, settings.spikes_topic, qos, event_callbacks=PublisherEventCallbacks(
                    matched=self.guarded(self.on_spikes_matched)),
                qos_overriding_options=OVERRIDES)
            self.exit_sub = self.create_subscription(ExitSignal, settings.exit_topic,
                                                     self.on_exit, qos,
                                                     qos_overriding_options=OVERRIDES)
        # Input the middleware lost on the way (a frame too big for the sender's transport
        # settings never arrives): counted and explained, not silent.
        lost = SubscriptionEventCallbacks(message_lost=self.guarded(self.on_input_lost))
        msg_type, topic, callback = {
            'events': (EventPacket, settings.events_topic, self.on_events),
            'image': (Image, settings.image_topic, self.on_image),
            'compressed': (CompressedImage, settings.image_topic + '/compressed', self.on_image),
        }[kind]
        self.input_sub = self.create_subscription(
            msg_type, topic, callback, stream_qos(settings.input_reliable,
                                                  settings.input_qos_depth),
            event_callbacks=lost, qos_overriding_options=OVERRIDES)
        # The loop's one timer, and a guard for "at once, after the waiting callbacks".
        self.loop_timer = self.create_timer(1.0, self.on_timer, autostart=False)
        self.step_guard = self.create_guard_condition(self.on_timer)
        self.quiet_timer = self.create_timer(QUIET_INPUT_WARNING, self.check_input)

    def _log_start(self, kind: str) -> None:
        """What the node does, in one line (and what in its settings cannot work well)."""
        sends, warning = self.settings.describe(self.num_timesteps, self.runner.output_shape)
        if warning:
            self.get_logger().warning(warning)
        self.get_logger().info(
            f'{self.source_id}: {kind} on {self.input_sub.topic_name} → model {self.model_id} '
            f'({self.config.backbone}, T={self.num_timesteps}, layers {self.settings.layers}), '
            'sends ' + sends)

    def gauges(self) -> dict[str, int | float]:
        """The state beside the counters in the health report."""
        return self.loop.gauges() | {
            'seconds_since_input': int(time.monotonic() - self.last_input)}

    def health(self, growth: dict[str, int]) -> Health:
        """The loop's rule (EDGE_RULES, and WARN while no cloud takes samples)."""
        return self.loop.health(growth, time.monotonic())

    def activate(self) -> None:
        """Take input again; start the samples that waited."""
        self._do(self.loop.activate(time.monotonic()))

    def deactivate(self) -> None:
        """Take no input; the sample in flight still ends in its Prediction."""
        self.loop.deactivate()

    def check_input(self) -> None:
        """Once, a while after the start: say so if no input came at all."""
        self.quiet_timer.cancel()
        if self.counters['frames_received'] + self.counters['packets_received'] == 0:
            self.get_logger().warning(
                f'no input on {self.input_sub.topic_name} '
                f'({self.input_sub.msg_type.__name__}) in {QUIET_INPUT_WARNING:g} s since the '
                'start: is the camera publishing there? Set image_topic / events_topic (or '
                'remap) to its topic; ~/stats counts seconds_since_input')

    def on_input_lost(self, info: QoSMessageLostInfo) -> None:
        """The middleware reports input messages lost in transport."""
        self.counters['input_lost'] += info.total_count_change
        self.get_logger().warning(
            f'{info.total_count} input messages lost in transport so far. Camera-sized frames '
            'need the sending process (the camera driver) started with '
            f'FASTDDS_DEFAULT_PROFILES_FILE={large_data_profile()} (README: "Camera-sized '
            'frames"); a reliable camera can also be read with input_reliable: true',
            throttle_duration_sec=10.0)

    def on_image(self, msg: Image | CompressedImage) -> None:
        """Convert a frame to model input and queue it (the queue policy applies)."""
        self.counters['frames_received'] += 1
        self.last_input = time.monotonic()
        try:
            frame = image_frame(msg, self.settings, self.config, self.outputs.wants_pictures)
        except ImageError as err:
            self.counters['frames_rejected'] += 1
            self.get_logger().warning(f'image rejected: {err}', throttle_duration_sec=5.0)
            return
        self.enqueue(frame)

    def on_events(self, msg: EventPacket) -> None:
        """Decode a packet; every window it completes becomes a queued sample."""
        self.last_input = time.monotonic()
        self.flush_timer.reset()
        self._enqueue_windows(*self.events.packet(
            msg.seq, msg.encoding, msg.events, msg.width, msg.height, msg.time_base,
            msg.is_bigendian, msg.header.stamp, msg.header.frame_id))

    def flush(self) -> None:
        """The event stream paused for flush_after: complete the open window."""
        self.flush_timer.cancel()
        self._enqueue_windows(*self.events.flush())

    def _enqueue_windows(self, samples: list[EventSample], logs: list[Log]) -> None:
        self._do(logs)
        for sample in samples:
            self.enqueue(window_frame(sample, self.outputs.wants_pictures))

    def enqueue(self, frame: Frame) -> None:
        """A sample's input, for the loop (an inactive node takes none: counted)."""
        self._do(self.loop.input(frame, time.monotonic()))

    def on_timer(self) -> None:
        """The loop's time came (its Wake): deadlines, a look for a cloud, the next timestep."""
        self.loop_timer.cancel()
        self._do(self.loop.timer(time.monotonic()))

    def on_spikes_matched(self, info: QoSPublisherMatchedInfo) -> None:
        """Spikes subscribers came or went: a cloud (re)started, or stopped."""
        if info.current_count_change:
            self._do(self.loop.subscribers_changed(info.current_count, time.monotonic()))

    def on_exit(self, msg: ExitSignal, info: MessageInfo) -> None:
        """A cloud's verdict on a sample of this robot, for the loop, with its writer's GID."""
        if msg.source_id != self.source_id:
            return
        self._do(self.loop.verdict(Verdict(
            msg.source_id, msg.sample_id, msg.reason, msg.status, msg.label, msg.confidence,
            msg.probabilities, msg.timesteps_used, msg.timesteps_lost, msg.bytes_received,
            msg.cloud),
            time.monotonic(), self._wire_bytes(msg), bytes(info['publisher_gid']['data'])))

    def _do(self, actions: list[Action]) -> None:
        """Carry out what the loop decided, in order (core/edge_loop.py)."""
        for action in actions:
            match action:
                case Wake(at=at):
                    self.loop_timer.cancel()
                    if at is not None and at <= time.monotonic():
                        self.step_guard.trigger()  # once the callbacks waiting now have run
                    elif at is not None:
                        arm(self.loop_timer, at - time.monotonic())
                case SayHello(sample_id=sample_id):
                    self.spikes_pub.publish(PackedSpikes(
                        sample_id=sample_id, model_id=self.wire_model_id,
                        source_id=self.source_id, num_timesteps=self.num_timesteps,
                        flags=PackedSpikes.FLAG_HELLO))
                case StartSplit(sample=sample):
                    self.runner.start(sample.input.pixels)
                    self.previous = self.last_sent = None
                case SendTimestep(sample=sample, asks_verdict=asks, count=count):
                    wire_bytes = self._send_next(sample, asks, count)
                    self._do(self.loop.sent(sample, time.monotonic(), wire_bytes))
                case Resend(sample=sample):
                    self.last_sent.flags |= PackedSpikes.FLAG_RESENT
                    self.spikes_pub.publish(self.last_sent)
                    self._do(self.loop.sent(sample, time.monotonic(),
                                            self._wire_bytes(self.last_sent)))
                case Hedge(sample=sample, asks_verdict=asks):
                    self.loop.hedge_sent(sample, self._hedge(sample, asks))
                case Cancel(sample=sample, cloud=cloud):
                    self.spikes_pub.publish(PackedSpikes(
                        sample_id=sample.sample_id, model_id=self.wire_model_id, cloud=cloud,
                        source_id=self.source_id, num_timesteps=self.num_timesteps,
                        flags=PackedSpikes.FLAG_CANCEL))
                case RunHere(sample=sample, timesteps=timesteps):
                    self._do(self._run_here(sample, timesteps))
                case Escalate():
                    self.previous = self.last_sent = None
                case Publish(sample=sample, answer=answer):
                    frame = sample.input
                    self.outputs.publish(Header(stamp=frame.stamp, frame_id=frame.frame_id),
                                         sample.sample_id, answer, sample.place is ComputedOn.EDGE,
                                         frame.picture)
                case Log(text=text, warning=True):
                    self.get_logger().warning(text, throttle_duration_sec=5.0)
                case Log(text=text):
                    self.get_logger().info(text)
                case ReportWorse():
                    self.report_if_worse()

    def _wire_bytes(self, msg: PackedSpikes | ExitSignal) -> int:
        """A message's serialized size, if the loop weighs the radio (auto's energy)."""
        return len(serialize_message(msg)) if self.loop.counts_bytes else 0

    def _send_next(self, sample: Sample[Frame], asks: bool, count: int) -> int:
        """Compute (unless run here already), code and publish the sample's next timesteps.

        `count` of them, in one message (a bundle if more than one). Its serialized size.
        """
        first = sample.timesteps.next
        spikes = [self.runner.step() if not sample.here else
                  self.local_runner.spikes[timestep] if timestep < sample.here else
                  self.local_runner.step_split()  # (escalated: the whole network ran here)
                  for timestep in range(first, first + count)]
        sample.spikes.extend(spikes)  # (for a hedge)
        return self._publish_spikes(sample, first, spikes, self.previous, asks)

    def _hedge(self, sample: Sample[Frame], asks: bool) -> int:
        """Every timestep sent of the sample, in one message, for the next cloud; its size."""
        self.counters['timesteps_hedged'] += len(sample.spikes)
        return self._publish_spikes(sample, 0, sample.spikes, None, asks,
                                    resend=sample is self.loop.samples.current)

    def _publish_spikes(self, sample: Sample[Frame], first: int, spikes: list[np.ndarray],
                        previous: np.ndarray | None, asks: bool, resend: bool = True) -> int:
        """Code timesteps first… of the sample (a bundle if more than one) and publish them.

        Addressed as the sample is (core/fleet.py, rule 7); kept for a Resend if `resend`.
        Its serialized size.
        """
        parts = codec.encode_timesteps(spikes, previous, self.settings.encoding,
                                       self.settings.codecs)
        for encoding, payload in parts:
            self.counters['bytes_sent'] += len(payload)
            self.counters[f'sent_{encoding}'] += 1
        channels, height, width = spikes[0].shape
        msg = PackedSpikes(
            stamp=sample.input.stamp, sample_id=sample.sample_id, model_id=self.wire_model_id,
            cloud=sample.cloud, source_id=self.source_id, timestep=first,
            num_timesteps=self.num_timesteps, channels=channels, height=height, width=width,
            encoding=codec.WIRE_IDS[parts[0][0]],
            flags=(PackedSpikes.FLAG_VERDICT if asks else 0)
            | (PackedSpikes.FLAG_BUNDLE if len(parts) > 1 else 0)
            | (PackedSpikes.FLAG_DIRECT if sample.direct else 0)
            | (PackedSpikes.FLAG_HEDGE if sample.hedge else 0),
            data=codec.join_bundle(parts) if len(parts) > 1 else parts[0][1])
        self.spikes_pub.publish(msg)
        if resend:
            self.previous, self.last_sent = spikes[-1], msg
        return self._wire_bytes(msg)

    def _run_here(self, sample: Sample[Frame], timesteps: int) -> list[Action]:
        """The whole network from where the sample stopped here, with the early exit.

        Until it decides, or `timesteps` more ran (a cascade's try).
        """
        if not sample.here:
            self.local_runner.start(sample.input.pixels)
            self.local_exit = EarlyExit(alpha=self.settings.alpha,
                                        num_timesteps=self.num_timesteps)
        for _ in range(timesteps):
            if (decision := self.local_exit.update(self.local_runner.step())) is not None:
                return self.loop.decided_here(sample, Outcome(
                    decision.label, decision.confidence,
                    decision.probabilities.astype('float32').tolist(),
                    decision.timesteps_used), time.monotonic())
        return self.loop.undecided_here(sample, timesteps, time.monotonic())


def main(args: list[str] | None = None) -> int:
    """Run the edge node until Ctrl-C."""
    return spin(EdgeNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
