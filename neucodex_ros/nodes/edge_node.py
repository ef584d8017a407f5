"""Edge node: camera frames or events → head + encoder, one timestep at a time → PackedSpikes.

Input follows the model: a model of 2 polarity channels takes `event_camera_msgs/EventPacket`
on `events` (as metavision_driver and libcaer_driver publish them), any other takes
sensor_msgs/Image on `image`. Every Image becomes one sample, fed as the same frame at every
timestep (direct encoding). Events are decoded (evt3, libcaer, libcaer_cmp, mono), cut into
windows (fixed duration on the event clock, or fixed count) and every window becomes one
sample of T frames, one per timestep; a packet that cannot be decoded is counted and logged,
and the stream goes on. A packet `seq` that goes back, or leaps far ahead, marks a new
stream (driver restart, bag replayed again; core/events.packets_missed): decoding starts
afresh.
`layers` says what the node runs: `split` (head + encoder; spikes out), `head` (a split
without bottleneck: the head's features out), or `all`: the whole network here, no cloud
(edge-only, with its own early exit at `alpha`; fed the raw input on a server, cloud-only).

A sample starts as soon as its input is in and the node is idle. Its timesteps are paced
(core/pacing.py): `pacing: adaptive` computes timestep 0 at once and each later one when the
cloud asks for it (an ExitSignal REASON_CONTINUE, requested when the edge will wait), or earlier
when the cost rule says the bet pays: the chance that the cloud needs it, from the continue
rates of recent samples, times the latency it saves (the measured round trip) against
`timestep_cost`; a verdict overdue by the retransmission timeout gets the last timestep
sent again. `pacing: clock` sends one timestep per `timestep_period` and asks for no
verdicts. Either way the cloud's final ExitSignal stops the sample at once.

`placement` says where each sample runs (core/placement.py): `split` (as above), `local`
(the whole network here, at `alpha`), or `auto`, the default: per sample, the place the
edge measures faster (or, with a `latency_budget`, cheaper in edge energy), and here while
no cloud takes samples. Every Prediction says where (`computed_on`).

Every sample the node starts ends in exactly one Prediction, published here on the robot:
the answer the cloud's ExitSignal carries, or, when none came within `deadline` seconds of
the sample's start (cloud down or restarting, link lost), with `placement: auto` the answer
of the whole network run here on the sample's input (it goes before every waiting frame),
and with `split` label -1 with status "cloud_unavailable". Either way the edge stops
sending the sample and recovers by itself once the cloud answers again. Answers that come
after the deadline, or twice, are counted and dropped.

Frames that arrive while a sample is in flight wait in a queue of `queue_size` frames; when
the queue is full the oldest waiting frame is dropped, so the edge always works on recent
frames. `queue_size: 0` drops every frame that arrives while a sample is in flight. The
queue, the deadlines and the one end of each sample are core/edge_samples.py, without ROS.

Samples are split only once a cloud said it takes them: the edge sends a hello
(PackedSpikes FLAG_HELLO, no spikes, every HELLO_PERIOD while none is answered) and the
cloud of its model answers REASON_READY; until then `split` waits and `auto` answers here
(the hellos are its probe). Seeing a subscriber is not enough: a reader that the edge sees
may not have matched the edge's writer yet, and what is sent meanwhile is lost even over
reliable QoS. The edge asks again whenever the set of spikes subscribers changes (a cloud
restarted) and after a sample missed its deadline. It asks as soon as it sees a
subscriber, so "takes samples" in its log says the split is ready before the first frame.

Besides the Prediction, a sample's answer goes out as a vision_msgs/Classification and, if
asked for, as a picture of its input with the answer drawn on it (core/picture.py). The node
is a lifecycle node (nodes/common.ManagedNode): configure loads the model, activate takes
input, deactivate takes none (the sample in flight still ends in its Prediction);
`autostart` does configure and activate at start. Its health goes to /diagnostics
(core/health.py: EDGE_RULES, and WARN while no cloud takes samples).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np
from builtin_interfaces.msg import Time
from event_camera_msgs.msg import EventPacket
from rclpy.event_handler import (
    PublisherEventCallbacks,
    QoSMessageLostInfo,
    QoSPublisherMatchedInfo,
    SubscriptionEventCallbacks,
)
from rclpy.serialization import serialize_message
from rclpy.timer import Timer
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from vision_msgs.msg import Classification, ObjectHypothesis

from neucodex_ros.core import codec, topics
from neucodex_ros.core.edge_samples import EdgeSamples, Unmatched
from neucodex_ros.core.energy import EnergyConfig, radio_energy_j
from neucodex_ros.core.errors import ConfigError, EventError, ImageError
from neucodex_ros.core.events import in_time_order, packets_missed
from neucodex_ros.core.events.codecs import EventDecoder, make_decoder
from neucodex_ros.core.events.frames import FIT_MODES, SPLIT_BY, FrameSpec, event_frames
from neucodex_ros.core.events.windows import WINDOW_MODES, EventWindower, Window
from neucodex_ros.core.exit_policy import EarlyExit, answer_problem
from neucodex_ros.core.health import EDGE_RULES, Health, Level, assess
from neucodex_ros.core.image import (
    IMAGE_FITS,
    MAX_PIXELS,
    ImageOptions,
    compressed_to_input,
    image_array,
    image_to_input,
)
from neucodex_ros.core.inference import EDGE_LAYERS, EdgeRunner, timestep_energy_j
from neucodex_ros.core.pacing import (
    PACINGS,
    AdaptivePacing,
    ClockPacing,
    ContinueRates,
    Pacing,
    RoundTrip,
    SampleTimesteps,
    Step,
)
from neucodex_ros.core.picture import annotated, answer_lines, camera_rgb, decoded_rgb, events_rgb
from neucodex_ros.core.placement import Place, Placement, Placer
from neucodex_ros.core.radio import DEFAULT_RADIO, RADIO_NJ_PER_BIT, radio
from neucodex_ros.msg import ExitSignal, PackedSpikes, Prediction
from neucodex_ros.nodes.common import (
    STATUS_NAMES,
    ManagedNode,
    declare,
    declare_common,
    load_model,
    model_fingerprint,
    spin,
)
from neucodex_ros.qos import OVERRIDES, stream_qos
from neucodex_ros.resources import large_data_profile


@dataclass
class Frame:
    """A converted camera frame waiting to become a sample."""

    stamp: Time
    frame_id: str
    pixels: np.ndarray  # model input: [C, H, W] (an image) or [T, C, H, W] (event frames)
    picture: np.ndarray | None = None  # uint8 RGB of the input, for annotated_topic


RETRY_PERIOD = 0.1  # seconds between looks for a cloud while frames wait for one
HELLO_PERIOD = 0.5  # seconds between hellos while none is answered
QUIET_INPUT_WARNING = 5.0  # seconds after the start without any input before saying so
UNMATCHED_COUNTERS = {Unmatched.LATE: 'answers_after_deadline',
                      Unmatched.REPEATED: 'answers_repeated', Unmatched.UNKNOWN: 'answers_unknown'}
#: `input`: auto is events for a model of 2 polarity channels, else image.
INPUT_KINDS = ('auto', 'image', 'compressed', 'events')


def arm(timer: Timer, seconds: float) -> None:
    """(Re)start a one-shot timer to fire in `seconds` (its callback cancels it)."""
    timer.timer_period_ns = max(int(seconds * 1e9), 1)
    timer.reset()


@dataclass
class Sample:
    """A sample started on this edge and not yet answered."""

    sample_id: int
    frame: Frame
    started: float  # time.monotonic() at its start
    timesteps: SampleTimesteps  # sent when, needed how far
    previous: np.ndarray | None = None  # spikes of the last timestep sent
    last_message: PackedSpikes | None = None  # ... as sent, for a resend
    early_exit: EarlyExit | None = None  # the whole network runs here (Place.EDGE)
    fell_back: bool = False  # split first, then run here at its deadline
    bytes_up: int = 0  # serialized messages sent for it
    bytes_down: int = 0  # ... and received

    @property
    def header(self) -> Header:
        """The capture stamp and frame every message of the sample carries."""
        return Header(stamp=self.frame.stamp, frame_id=self.frame.frame_id)

    @property
    def place(self) -> Place:
        """Where its answer is computed."""
        return Place.SPLIT if self.early_exit is None else Place.EDGE


class EdgeNode(ManagedNode):
    """Runs the head and the spike encoder on camera frames or event windows; streams spikes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('edge_node', 'edge', **kwargs)

    def configure(self) -> None:
        """Parameters, model, publishers, subscriptions and timers (lifecycle: configure)."""
        common = declare_common(self)
        source_id: str = declare(self, 'source_id', '', 'Name of this robot, unique among the '
                                 "robots of a cloud (it keeps state per source). '': the "
                                 "node's namespace (/robot1 → robot1), or robot0 at the root",
                                 read_only=True)
        self.source_id = source_id or self.get_namespace().strip('/').replace('/', '_') \
            or 'robot0'
        self.hardware_id = self.source_id
        self.role = f'{self.source_id} edge'
        num_timesteps: int = declare(self, 'num_timesteps', 0, 'T, timesteps per sample; '
                                     "0: the model's own T", low=0, high=1024, read_only=True)
        pacing: str = declare(self, 'pacing', 'adaptive', "When the next timestep of a sample "
                              "is computed: 'adaptive' (when the cloud asks for it, or earlier "
                              'when the bet pays: see timestep_cost) or \'clock\' (one per '
                              'timestep_period)', choices=PACINGS, read_only=True)
        cost: float = declare(self, 'timestep_cost', 0.05, 'Adaptive pacing: seconds of latency '
                              'one wasted edge timestep is worth. A timestep the cloud has not '
                              'asked for yet is computed only if P(needed) x (time until the '
                              'verdict) >= (1 - P(needed)) x timestep_cost; 0: stream every '
                              'timestep, 1e6: never ahead of the cloud', low=0.0, high=1e6,
                              read_only=True)
        period: float = declare(self, 'timestep_period', 0.02, 'Clock pacing: seconds between '
                                'timesteps of a sample', low=0.0005, high=10.0, read_only=True)
        self.alpha: float = declare(self, 'alpha', 1.0, 'Exit threshold of the early exit of '
                                    'the samples answered here (placement auto or local, '
                                    "layers 'all'): the cloud's alpha, for the same answers "
                                    '(1: all T)', low=0.0, high=1.0, read_only=True)
        self.queue_size: int = declare(self, 'queue_size', 2, 'Frames that may wait while a '
                                       'sample is in flight; when full the oldest is dropped; '
                                       '0: drop frames that arrive while busy', low=0,
                                       high=1000, read_only=True)
        self.layers: str = declare(self, 'layers', 'split', "What this node runs: 'split' "
                                   '(head + encoder, spikes to the cloud), '
                                   "'head' (no bottleneck: the head's features to the cloud), "
                                   "or 'all' (the whole network for all T here, Prediction "
                                   'out; no cloud)', choices=EDGE_LAYERS, read_only=True)
        placement: str = declare(self, 'placement', Placement.AUTO, 'Where each sample runs: '
                                 "'split' (always; a sample the cloud does not answer fails), "
                                 "'local' (the whole network here) or 'auto': per sample, the "
                                 'faster place as measured (core/placement.py); a sample the '
                                 'cloud does not answer by its deadline, and every sample while '
                                 'no cloud answers, runs here', choices=tuple(Placement),
                                 read_only=True)
        # The edge-only layers answer everything here, whatever the placement.
        self.placement = Placement.LOCAL if self.layers == 'all' else Placement(placement)
        budget: float = declare(self, 'latency_budget', 0.0, "placement 'auto': seconds. The "
                                'places expected to answer within it are good enough, and the '
                                'one of lower edge energy (compute + radio) wins; 0: the faster '
                                'place wins (energy breaks near-ties)', low=0.0, high=3600.0,
                                read_only=True)
        radio_setting: str = declare(self, 'radio', DEFAULT_RADIO, "placement 'auto': the "
                                     "edge radio's energy per bit, to weigh the split's bytes: "
                                     + ', '.join(RADIO_NJ_PER_BIT) + ', or nJ per bit',
                                     read_only=True)
        try:
            self.energy_config = EnergyConfig.with_radio(radio(radio_setting))
        except ValueError as err:
            raise ConfigError(f'radio must be one of {tuple(RADIO_NJ_PER_BIT)} or nJ per bit '
                              f'>= 0, got {radio_setting!r}') from err
        self.placer = Placer(latency_budget=budget)
        self.deadline: float = declare(self, 'deadline', 2.0, 'Seconds from a sample\'s '
                                       'start within which the cloud must answer; then '
                                       "placement 'auto' runs it here, 'split' reports it "
                                       'failed (status "cloud_unavailable")', low=0.001,
                                       high=3600.0, read_only=True)
        prediction_topic: str = declare(self, 'prediction_topic', 'prediction', 'Prediction '
                                        'out, one per sample', read_only=True)
        classification_topic: str = declare(
            self, 'classification_topic', 'classification', 'vision_msgs/Classification out, '
            "one per sample (no results if it failed), for any vision_msgs consumer; '': none",
            read_only=True)
        self.top_k: int = declare(self, 'classification_top_k', 0, 'Hypotheses per '
                                  'Classification, most likely first; 0: one per class',
                                  low=0, high=100000, read_only=True)
        annotated_topic: str = declare(self, 'annotated_topic', '', 'sensor_msgs/Image (rgb8) '
                                       'out, one per sample: the input (an event window: its '
                                       'events) with the answer drawn on it, for RViz or '
                                       "Foxglove; '': none (it costs a copy of every frame)",
                                       read_only=True)
        input_kind: str = declare(self, 'input', 'auto', "'image', 'compressed' (JPEG/PNG "
                                  "sensor_msgs/CompressedImage on image_topic + '/compressed'), "
                                  "'events', or 'auto': events when the model takes 2 "
                                  'polarity channels, else image', choices=INPUT_KINDS,
                                  read_only=True)
        topic: str = declare(self, 'image_topic', 'image', 'sensor_msgs/Image input',
                             read_only=True)
        events_topic: str = declare(self, 'events_topic', topics.EVENTS,
                                    'event_camera_msgs/EventPacket input', read_only=True)
        input_reliable: bool = declare(self, 'input_reliable', False, 'Subscribe to the input '
                                       '(images or events) reliably; best effort (default) '
                                       'also matches reliable publishers', read_only=True)
        self.max_image_pixels: int = declare(
            self, 'max_image_pixels', MAX_PIXELS, 'Frames larger than this (width × height; '
            'for compressed frames as their header says, before decoding) are rejected '
            '(counted): it bounds the memory and time one frame can cost', low=1,
            high=2**31 - 1, read_only=True)
        roi: list[int] = declare(self, 'roi', [0, 0, 0, 0], 'Region of interest x, y, '
                                 'width, height in frame or sensor pixels; zeros: all of it',
                                 read_only=True)
        image_fit: str = declare(self, 'image_fit', 'stretch', "Image input: a frame's aspect "
                                 "→ the model's: 'stretch', 'crop' (centre, aspect kept) or "
                                 "'pad' (whole frame, aspect kept, black bars)",
                                 choices=IMAGE_FITS, read_only=True)
        invert: bool = declare(self, 'invert', False, 'Image input: invert intensities, for '
                               'dark objects on a light background when the model learned '
                               'light on dark (the digits models)', read_only=True)
        self.image_options = ImageOptions(tuple(roi), image_fit, invert)  # type: ignore[arg-type]
        input_depth: int = declare(self, 'input_qos_depth', 20, 'DDS history of the input '
                                   'subscription. Messages leave it at once for the queue '
                                   'above; it only has to outlast a busy moment of this process',
                                   low=1, high=100000, read_only=True)
        self.encoding: str = declare(self, 'encoding', codec.AUTO, 'Spike payload codec: '
                                     f'{codec.AUTO} (the smallest per message) or one of '
                                     + ', '.join(codec.ENCODINGS) + '. Temporal codecs need '
                                     'reliable: true', choices=(codec.AUTO, *codec.ENCODINGS),
                                     read_only=True)
        # A temporal payload needs the sample's previous timestep at the cloud: only a
        # reliable link delivers every timestep (a best-effort one may lose one).
        self.codecs = tuple(name for name in codec.SPIKE_CODECS if common['reliable']
                            or not codec.is_temporal(name))
        if self.encoding != codec.AUTO and codec.is_temporal(self.encoding) \
                and not common['reliable']:
            raise ConfigError(f'encoding {self.encoding} codes against the previous timestep '
                              'and needs reliable: true')

        checkpoint = load_model(common)
        self.config = checkpoint.config
        self.model_id = checkpoint.model_id
        self.wire_model_id = model_fingerprint(checkpoint.model_id)
        self.num_timesteps = num_timesteps or self.config.num_timesteps
        self.class_names = checkpoint.class_names
        self.runner = EdgeRunner(checkpoint.model, self.layers)
        # One sample computes at a time, so the two runners can share the model's neurons.
        self.local_runner = self.runner if self.layers == 'all' else \
            EdgeRunner(checkpoint.model, 'all')
        self.timestep_energy: dict[str, float] | None = None  # J, counted on the first input
        # Ids increase across restarts, so a restarted edge never reuses a sample id.
        self.samples: EdgeSamples[Frame, Sample] = EdgeSamples(self.queue_size, self.deadline,
                                                               time.time_ns() // 1000)
        self.cloud_ready = False  # a cloud answered our hello (see the module docstring)
        self.hellos_from: int | None = None  # the first sample id of this round of hellos
        self.last_hello = -math.inf  # time.monotonic() of the last hello sent
        self.last_input = time.monotonic()  # of the last input message (or of the start)
        self.round_trip = RoundTrip()
        self.continue_rates = ContinueRates(self.num_timesteps)
        adaptive = pacing == 'adaptive'
        self.pacing: Pacing = AdaptivePacing(cost, self.round_trip, self.continue_rates) \
            if adaptive else ClockPacing(period)
        self.cloud_lost_at = time.monotonic()  # when no cloud took samples since

        qos = stream_qos(common['reliable'], common['qos_depth'])
        self.prediction_pub = self.create_publisher(Prediction, prediction_topic, qos,
                                                    qos_overriding_options=OVERRIDES)
        self.classification_pub = self.create_publisher(
            Classification, classification_topic, qos, qos_overriding_options=OVERRIDES) \
            if classification_topic else None
        self.annotated_pub = self.create_publisher(Image, annotated_topic, stream_qos(True, 5),
                                                   qos_overriding_options=OVERRIDES) \
            if annotated_topic else None
        if self.placement is Placement.LOCAL:
            self.spikes_pub = None
        else:
            self.spikes_pub = self.create_publisher(
                PackedSpikes, common['spikes_topic'], qos,
                event_callbacks=PublisherEventCallbacks(
                    matched=self.guarded(self.on_spikes_matched)),
                qos_overriding_options=OVERRIDES)
            self.exit_sub = self.create_subscription(ExitSignal, common['exit_topic'],
                                                     self.on_exit, qos,
                                                     qos_overriding_options=OVERRIDES)
        input_qos = stream_qos(input_reliable, input_depth)
        # Input the middleware lost on the way (a frame too big for the sender's transport
        # settings never arrives): counted and explained, not silent.
        lost = SubscriptionEventCallbacks(message_lost=self.guarded(self.on_input_lost))
        if input_kind == 'auto':
            input_kind = 'events' if self.config.in_channels == 2 else 'image'
        self.windower: EventWindower | None = None
        if input_kind == 'events':
            if self.config.in_channels != 2:
                raise ConfigError(f'events input needs a model of 2 polarity channels; this '
                                  f'one takes {self.config.in_channels}')
            self._declare_events(checkpoint.data)
            topic = events_topic
            self.input_sub = self.create_subscription(EventPacket, topic, self.on_events,
                                                      input_qos, event_callbacks=lost,
                                                      qos_overriding_options=OVERRIDES)
        elif input_kind == 'image':
            self.input_sub = self.create_subscription(Image, topic, self.on_image, input_qos,
                                                      event_callbacks=lost,
                                                      qos_overriding_options=OVERRIDES)
        else:  # compressed
            topic += '/compressed'
            self.input_sub = self.create_subscription(CompressedImage, topic, self.on_image,
                                                      input_qos, event_callbacks=lost,
                                                      qos_overriding_options=OVERRIDES)
        # The work runs in callbacks: `step` when there may be a timestep to compute (a frame
        # came, a verdict came, a timestep went out), `wake` when the pacing set a time.
        self.step_guard = self.create_guard_condition(self.step)
        self.wake_timer = self.create_timer(1.0, self.wake, autostart=False)
        # No periodic work while idle: a timer for the oldest pending sample's deadline, and
        # one to look again for a cloud while frames wait for one.
        self.deadline_timer = self.create_timer(self.deadline, self.on_deadline,
                                                autostart=False)
        self.retry_timer = self.create_timer(RETRY_PERIOD, self.wake, autostart=False)
        self.input_topic = f'{self.input_sub.topic_name} ({self.input_sub.msg_type.__name__})'
        self.quiet_timer = self.create_timer(QUIET_INPUT_WARNING, self.check_input)
        if self.placement is not Placement.LOCAL and not adaptive \
                and self.deadline <= self.num_timesteps * period:
            self.get_logger().warning(
                f'deadline {self.deadline:g} s is not longer than T x timestep_period = '
                f'{self.num_timesteps * period:g} s: samples the cloud does not stop early '
                'will miss it')
        paced = f'paced adaptively (timestep_cost {cost:g} s)' if adaptive else \
            f'one every {period * 1e3:g} ms'
        local = f'the whole network here, early exit at alpha {self.alpha:g}'
        sends = local if self.placement is Placement.LOCAL else \
            (f'{"head features" if self.layers == "head" else "spikes"} of shape '
             f'{self.runner.output_shape}, {paced}, codec {self.encoding}') + \
            ('' if self.placement is Placement.SPLIT else
             f'; placement auto: or {local}, whichever is faster'
             + (f' (or cheaper within {budget:g} s)' if budget else ''))
        self.get_logger().info(
            f'{self.source_id}: {input_kind} on {topic} → model {self.model_id} '
            f'({self.config.backbone}, T={self.num_timesteps}, layers {self.layers}), sends '
            + sends)

    def gauges(self) -> dict[str, int]:
        """The state beside the counters in the health report."""
        return {'pending_samples': len(self.samples.pending),
                'round_trip_us': round(self.round_trip.estimate * 1e6),
                'seconds_since_input': int(time.monotonic() - self.last_input),
                'cloud_ready': int(self.cloud_ready)} | {
            f'expected_{place.name.lower()}_ms': round(smoothed.tail * 1e3, 1)
            for place, smoothed in self.placer.latency.items() if smoothed.tail is not None}

    def health(self, growth: dict[str, int]) -> Health:
        """EDGE_RULES, and WARN while no cloud has taken samples for longer than the deadline."""
        conditions = []
        waiting = time.monotonic() - self.cloud_lost_at
        if self.placement is not Placement.LOCAL and not self.cloud_ready \
                and waiting >= self.deadline:
            conditions.append(Health(Level.WARN, f'no cloud has taken samples for {waiting:.0f} s'
                                     + (': they run here' if self.placement is Placement.AUTO
                                        else ': they wait')))
        where = 'here' if self.placement is Placement.LOCAL or not self.cloud_ready else \
            'split with a cloud'
        return assess(growth, EDGE_RULES, conditions, f'answers {where}')

    def activate(self) -> None:
        """Take input again; start the samples that waited."""
        self.cloud_lost_at = time.monotonic()
        self.step()

    def _declare_events(self, data: dict[str, Any]) -> None:
        """Parameters of the event input: windows, binning into frames, sensor area."""
        mode: str = declare(self, 'window_mode', 'duration', "Samples of 'duration' "
                            "(window_duration seconds of events, aligned to multiples of it on "
                            "the event clock) or 'count' (window_events events)",
                            choices=WINDOW_MODES, read_only=True)
        duration: float = declare(self, 'window_duration', 0.35, 'Seconds of events per '
                                  'sample (duration mode); N-MNIST-like saccades take 0.3 s',
                                  low=1e-4, high=60.0, read_only=True)
        count: int = declare(self, 'window_events', 4000, 'Events per sample (count mode)',
                             low=1, high=100_000_000, read_only=True)
        min_events: int = declare(self, 'min_events', 50, 'Windows with fewer events are '
                                  'dropped (counted), not classified', low=1,
                                  high=100_000_000, read_only=True)
        self.flush_after: float = declare(self, 'flush_after', 0.5, 'Wall-clock seconds '
                                          'without packets after which the open window is '
                                          'complete (the stream paused or ended)', low=0.01,
                                          high=3600.0, read_only=True)
        trained = FrameSpec.from_record(data, self.num_timesteps, self.config.input_size)
        split_by: str = declare(self, 'frames_by', trained.split_by, 'A window '
                                "into T frames of equal 'time' or equal 'count' of events "
                                "(default: as the model was trained)", choices=SPLIT_BY,
                                read_only=True)
        fit: str = declare(self, 'fit', trained.fit, 'Sensor area → model input: '
                           "'area' resize, 'pool' (sum k×k) or 'crop' (centre) (default: as "
                           'the model was trained)', choices=FIT_MODES, read_only=True)
        self.max_sensor_pixels: int = declare(
            self, 'max_sensor_pixels', 1280 * 1024, 'Packets claiming a larger sensor (width '
            '× height) are rejected (counted): frames are binned at sensor resolution, so '
            'this bounds the memory and time one packet can cost', low=1, high=2**31 - 1,
            read_only=True)
        self.windower = EventWindower(mode, round(duration * 1e6), count, min_events)
        self.frame_spec = replace(trained, split_by=split_by, fit=fit,
                                  roi=self.image_options.roi)
        self.decoders: dict[str, EventDecoder] = {}
        self.last_seq: int | None = None
        self.frame_id = ''
        # Restarted by every packet: fires once `flush_after` passed without one.
        self.flush_timer = self.create_timer(self.flush_after, self.flush, autostart=False)

    def check_input(self) -> None:
        """Once, a while after the start: say so if no input came at all."""
        self.quiet_timer.cancel()
        if self.counters['frames_received'] + self.counters['packets_received'] == 0:
            self.get_logger().warning(
                f'no input on {self.input_topic} in {QUIET_INPUT_WARNING:g} s since the start: '
                'is the camera publishing there? Set image_topic / events_topic (or remap) to '
                'its topic; ~/stats counts seconds_since_input')

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
            if isinstance(msg, CompressedImage):
                pixels = compressed_to_input(msg.data, self.config.in_channels,
                                             self.config.input_size, self.max_image_pixels,
                                             self.image_options)
            else:
                pixels = image_to_input(msg.data, msg.encoding, msg.height, msg.width,
                                        msg.step, self.config.in_channels,
                                        self.config.input_size, bool(msg.is_bigendian),
                                        self.max_image_pixels, self.image_options)
        except ImageError as err:
            self.counters['frames_rejected'] += 1
            self.get_logger().warning(f'image rejected: {err}', throttle_duration_sec=5.0)
            return
        self.enqueue(Frame(stamp=msg.header.stamp, frame_id=msg.header.frame_id,
                           pixels=pixels, picture=self._picture(msg)))

    def _picture(self, msg: Image | CompressedImage) -> np.ndarray | None:
        """The frame as uint8 RGB for annotated_topic (None if off); a valid frame by now."""
        if self.annotated_pub is None:
            return None
        if isinstance(msg, CompressedImage):
            return decoded_rgb(cv2.imdecode(np.frombuffer(msg.data, np.uint8),
                                            cv2.IMREAD_UNCHANGED))
        return camera_rgb(image_array(msg.data, msg.encoding, msg.height, msg.width, msg.step,
                                      bool(msg.is_bigendian), self.max_image_pixels),
                          msg.encoding)

    def on_events(self, msg: EventPacket) -> None:
        """Decode a packet and turn every window it completes into a queued sample."""
        self.counters['packets_received'] += 1
        self.last_input = time.monotonic()
        self.flush_timer.reset()
        missed = packets_missed(self.last_seq, msg.seq)
        if missed is not None:
            self.counters['packets_missed'] += missed
        else:  # a new stream: a new clock, so fresh decoders
            self.counters['stream_restarts'] += 1
            self.decoders.clear()
            for window in self.windower.flush():
                self._enqueue_window(window, self.frame_id)
        self.last_seq = msg.seq
        if msg.width * msg.height > self.max_sensor_pixels:
            self.counters['packets_rejected_sensor_too_large'] += 1
            self.get_logger().warning(
                f'event packet rejected: a {msg.width}x{msg.height} sensor is more than '
                f'max_sensor_pixels ({self.max_sensor_pixels}); raise it for such a camera',
                throttle_duration_sec=5.0)
            return
        try:
            decoder = self.decoders.get(msg.encoding)
            if decoder is None:
                decoder = self.decoders[msg.encoding] = make_decoder(msg.encoding)
            decoded = decoder.decode(msg.events, msg.width, msg.height, msg.time_base,
                                     msg.is_bigendian)
        except EventError as err:
            self.counters['packets_rejected'] += 1
            self.get_logger().warning(f'event packet rejected: {err}', throttle_duration_sec=5.0)
            return
        self.counters['events_received'] += len(decoded.events)
        self.counters['events_outside_sensor'] += decoded.outside
        for window in self.windower.push(decoded.events, msg.header.stamp,
                                         (msg.height, msg.width)):
            self._enqueue_window(window, msg.header.frame_id)
        self.frame_id = msg.header.frame_id

    def _enqueue_window(self, window: Window, frame_id: str) -> None:
        self.counters['windows'] += 1
        if not in_time_order(window.events):  # binned in time order all the same
            self.counters['windows_out_of_order'] += 1
        try:
            pixels = event_frames(window.events, window.sensor_size, self.frame_spec)
        except EventError as err:  # e.g. `fit: pool` and a sensor it does not divide
            self.counters['windows_rejected'] += 1
            self.get_logger().warning(f'window rejected: {err}', throttle_duration_sec=5.0)
            return
        self.enqueue(Frame(stamp=window.stamp, frame_id=frame_id, pixels=pixels,
                           picture=None if self.annotated_pub is None else events_rgb(pixels)))

    def enqueue(self, frame: Frame) -> None:
        """Queue a sample's input (the queue policy applies); start it if idle.

        An inactive node takes no input (counted): the frames waiting stay, for activate.
        """
        if not self.active:
            self.counters['inputs_while_inactive'] += 1
            return
        self.counters['frames_dropped'] += self.samples.offer(frame)
        if self.samples.current is None:
            self.step()

    def flush(self) -> None:
        """The event stream paused for flush_after: complete the open window."""
        self.flush_timer.cancel()
        for window in self.windower.flush():
            self._enqueue_window(window, self.frame_id)

    def on_deadline(self) -> None:
        """The samples past their deadline: run them here (auto), or report them failed."""
        now = time.monotonic()
        for sample in self.samples.overdue(now):
            if self.placement is Placement.AUTO:
                self._fall_back(sample, now)
            else:
                self._cloud_unavailable(sample)
        self._arm_deadline(now)

    def _arm_deadline(self, now: float) -> None:
        """Set the deadline timer for the oldest pending sample (samples start in order)."""
        self.deadline_timer.cancel()
        if (due := self.samples.next_deadline()) is not None:
            arm(self.deadline_timer, due - now)

    def wake(self) -> None:
        """A time the pacing set has come, or a look for a cloud is due."""
        self.wake_timer.cancel()
        self.retry_timer.cancel()
        self.step()

    def step(self) -> None:
        """Start a sample if idle; compute its next timestep if the pacing says now."""
        now = time.monotonic()
        if self.samples.current is None and (not self.active or not self._start(now)):
            return
        sample = self.samples.current
        if sample.early_exit is not None:
            self._decide_here(sample)
        elif (due := self._due(sample, now)) is not None:
            if due.resend:
                self._resend(sample)
            else:
                if sample.timesteps.next >= sample.timesteps.needed:
                    self.counters['timesteps_ahead'] += 1  # a bet
                self._send_next(sample)
            if self._due(sample, time.monotonic()) is not None:
                self.step_guard.trigger()  # once the callbacks waiting now have run

    def _due(self, sample: Sample, now: float) -> Step | None:
        """The sample's step if it is due now; if not, arrange to be called when it is."""
        self.wake_timer.cancel()
        step = self.pacing.next_step(sample.timesteps, now)
        if step is None:  # all T sent; the cloud decides from here
            self._finished_sending(sample)
            return None
        if step.at <= now:
            return step
        if not math.isinf(step.at):  # unless a verdict comes first
            arm(self.wake_timer, step.at - now)
        return None

    def _finished_sending(self, sample: Sample) -> None:
        """The sample needs nothing more from here: if it was the current one, on to the next."""
        if sample is not self.samples.current:
            return
        self.samples.done_sending(sample)
        self.wake_timer.cancel()
        if self.samples.waiting:
            self.step_guard.trigger()

    def _start(self, now: float) -> bool:
        """Make the oldest queued frame the current sample; False if there is none to start.

        A sample that fell back comes first and runs here; any other goes where the
        placement says (split waits for a cloud, auto runs here while there is none).
        """
        if self.placement is not Placement.LOCAL and not self.cloud_ready:
            self._ask_for_cloud(now)
            if self.placement is Placement.SPLIT:
                return False
        if self.samples.again:
            place = Place.EDGE
        elif not self.samples.waiting:
            return False
        else:
            place = self._place()
        sample = self.samples.start(now, lambda sample_id, frame, started: Sample(
            sample_id, frame, started, SampleTimesteps(self.num_timesteps)),
            track=place is Place.SPLIT)
        if self.timestep_energy is None and self.placement is Placement.AUTO:
            self.timestep_energy = timestep_energy_j(self.local_runner.model, sample.frame.pixels,
                                                     self.num_timesteps, self.energy_config)
        if place is Place.EDGE:
            sample.early_exit = EarlyExit(alpha=self.alpha, num_timesteps=self.num_timesteps)
            self.local_runner.start(sample.frame.pixels)
        else:
            if len(self.samples.pending) == 1:
                self._arm_deadline(now)
            self.runner.start(sample.frame.pixels)
        if not sample.fell_back:
            self.counters['samples_started'] += 1
            self.counters[f'placed_{place.name.lower()}'] += 1
        return True

    def _place(self) -> Place:
        """Where the next new sample runs: the placement, or auto's rule."""
        if self.placement is not Placement.AUTO:
            return Place.EDGE if self.placement is Placement.LOCAL else Place.SPLIT
        last = self.placer.last
        place = self.placer.choose(self.cloud_ready)
        if place is not last and self.cloud_ready:
            expected = ', '.join(f'{p.name.lower()} {s.tail * 1e3:.0f} ms'
                                 for p, s in self.placer.latency.items() if s.tail is not None)
            self.get_logger().info(f'placing samples {"here" if place is Place.EDGE else "split"}'
                                   + (f' (expected: {expected})' if expected else ''))
        return place

    def _wire_bytes(self, msg: PackedSpikes | ExitSignal) -> int:
        """A message's serialized size, for auto's radio energy (not counted otherwise)."""
        return len(serialize_message(msg)) if self.placement is Placement.AUTO else 0

    def _measured(self, sample: Sample, now: float, timesteps: int) -> None:
        """Tell auto's rule what the sample cost: its latency, and the edge's energy."""
        if self.placement is not Placement.AUTO or sample.fell_back:
            return  # (a sample that fell back says what split cost: recorded at its deadline)
        energy = self.timestep_energy
        joules = None
        if energy is not None:
            layers = 'all' if sample.place is Place.EDGE else self.layers
            joules = energy[layers] * timesteps + float(radio_energy_j(
                8 * sample.bytes_up, self.energy_config, 8 * sample.bytes_down))
        self.placer.measured(sample.place, now - sample.started, joules)

    def _ask_for_cloud(self, now: float) -> None:
        """Say hello to the clouds listening (if due), and look again in a while."""
        if self.spikes_pub.get_subscription_count() > 0 \
                and now - self.last_hello >= HELLO_PERIOD:
            if self.hellos_from is None:
                self.hellos_from = self.samples.next_id
                self.get_logger().info(f'asking for a cloud of model {self.model_id}')
            self.spikes_pub.publish(PackedSpikes(
                sample_id=self.samples.take_id(), model_id=self.wire_model_id,
                source_id=self.source_id, num_timesteps=self.num_timesteps,
                flags=PackedSpikes.FLAG_HELLO))
            self.last_hello = now
            self.counters['hellos_sent'] += 1
        if self.samples.waiting or self.spikes_pub.get_subscription_count() > 0:
            arm(self.retry_timer, RETRY_PERIOD)  # (else a subscriber's arrival wakes us)

    def _cloud_lost(self, why: str) -> None:
        """Start no sample before a cloud answers a hello again."""
        if self.cloud_ready:
            self.get_logger().info(f'{why}: asking for a cloud again before the next sample')
            self.cloud_lost_at = time.monotonic()
        self.cloud_ready = False
        self.hellos_from = None
        self.last_hello = -math.inf

    def on_spikes_matched(self, info: QoSPublisherMatchedInfo) -> None:
        """Spikes subscribers came or went: a cloud (re)started, or stopped."""
        if info.current_count_change:
            self._cloud_lost(f'spikes subscribers now {info.current_count}')
            if self.samples.current is None:
                self.step()  # ask at once, so that the first frame need not wait for it

    def _on_ready(self, msg: ExitSignal) -> None:
        """A cloud answered a hello of this round: samples may start."""
        if self.hellos_from is None \
                or not self.hellos_from <= msg.sample_id < self.samples.next_id:
            self.counters['ready_unknown'] += 1  # an old round's, or not ours
            return
        self.cloud_ready = True
        self.hellos_from = None
        self.placer.cloud_returned()
        self.get_logger().info(f'a cloud of model {self.model_id} takes samples')
        self.step()

    def _send_next(self, sample: Sample) -> None:
        """Compute, code and publish the sample's next timestep."""
        spikes = self.runner.step()
        self.counters['timesteps_computed'] += 1
        if self.encoding == codec.AUTO or (sample.previous is None
                                           and codec.is_temporal(self.encoding)):
            # (a temporal codec has nothing to code the first timestep against)
            encoding, payload = codec.encode_auto(spikes, sample.previous, self.codecs)
        else:
            encoding = self.encoding
            payload = codec.encode(spikes, encoding, sample.previous)
        sample.previous = spikes
        channels, height, width = spikes.shape
        timestep = self.runner.timestep - 1
        asks = self.pacing.asks_verdict(sample.timesteps)
        msg = PackedSpikes(
            stamp=sample.frame.stamp, sample_id=sample.sample_id, model_id=self.wire_model_id,
            source_id=self.source_id, timestep=timestep, num_timesteps=self.num_timesteps,
            channels=channels, height=height, width=width, encoding=codec.WIRE_IDS[encoding],
            flags=PackedSpikes.FLAG_VERDICT if asks else 0, data=payload)
        self.spikes_pub.publish(msg)
        sample.timesteps.sent(time.monotonic(), asks)
        sample.last_message = msg
        sample.bytes_up += self._wire_bytes(msg)
        self.counters['timesteps_sent'] += 1
        self.counters['bytes_sent'] += len(payload)
        self.counters[f'sent_{encoding}'] += 1

    def _resend(self, sample: Sample) -> None:
        """No verdict on the last timestep in time: send it again, marked as a resend."""
        msg = sample.last_message
        msg.flags |= PackedSpikes.FLAG_RESENT
        self.spikes_pub.publish(msg)
        sample.timesteps.resent_last(time.monotonic())
        sample.bytes_up += self._wire_bytes(msg)
        self.counters['timesteps_resent'] += 1

    def _decide_here(self, sample: Sample) -> None:
        """The whole network, timestep by timestep, until the local early exit decides."""
        while (decision := sample.early_exit.update(self.local_runner.step())) is None:
            self.counters['timesteps_computed'] += 1
        self.counters['timesteps_computed'] += 1
        self._measured(sample, time.monotonic(), decision.timesteps_used)
        self._publish(sample, decision.label, decision.confidence,
                      decision.probabilities.astype('float32').tolist(),
                      decision.timesteps_used, 0, 0, Prediction.STATUS_OK)
        self._finished_sending(sample)

    def on_exit(self, msg: ExitSignal) -> None:
        """A verdict of the cloud: go on with the sample, or publish its answer and stop it."""
        if msg.source_id != self.source_id:
            return
        now = time.monotonic()
        if msg.reason == ExitSignal.REASON_CONTINUE:
            self._on_continue(msg, now)
            return
        if msg.reason == ExitSignal.REASON_READY:
            self._on_ready(msg)
            return
        self.counters['exit_signals'] += 1
        problem = f'unknown status {msg.status}' if msg.status not in STATUS_NAMES else \
            answer_problem(msg.label, msg.confidence, msg.probabilities,
                           msg.status == ExitSignal.STATUS_OK, msg.timesteps_used,
                           msg.timesteps_lost, len(self.class_names), self.num_timesteps)
        if problem is not None:
            self.counters['answers_rejected'] += 1
            self.get_logger().warning(f'answer for sample {msg.sample_id} rejected: {problem} '
                                      f'cannot come from this model', throttle_duration_sec=5.0)
            return
        sample = self.samples.answer(msg.sample_id)
        self._arm_deadline(now)
        if isinstance(sample, Unmatched):
            self.counters[UNMATCHED_COUNTERS[sample]] += 1
            return
        timesteps = sample.timesteps
        if msg.status == ExitSignal.STATUS_OK and msg.timesteps_lost == 0 \
                and 1 <= msg.timesteps_used <= len(timesteps.sent_at):
            if (seconds := timesteps.round_trip(msg.timesteps_used, now)) is not None:
                self.round_trip.add(seconds)
            self.continue_rates.add(msg.timesteps_used,
                                    msg.reason == ExitSignal.REASON_CONFIDENT)
        if sample is self.samples.current:
            self.counters['timesteps_saved'] += self.num_timesteps - timesteps.next
            self._finished_sending(sample)
        sample.bytes_down += self._wire_bytes(msg)
        if msg.status == ExitSignal.STATUS_OK:
            self._measured(sample, now, len(timesteps.sent_at))
        self._publish(sample, msg.label, msg.confidence, list(msg.probabilities),
                      msg.timesteps_used, msg.timesteps_lost, msg.bytes_received,
                      STATUS_NAMES[msg.status])

    def _on_continue(self, msg: ExitSignal, now: float) -> None:
        """The cloud is not decided after msg.timesteps_used timesteps and needs the next."""
        sample = self.samples.pending.get(msg.sample_id)
        timesteps = sample.timesteps if sample is not None else None
        if timesteps is None or not 1 <= msg.timesteps_used <= len(timesteps.sent_at):
            self.counters['verdicts_unknown'] += 1  # late (answered meanwhile), or not ours
            return
        self.counters['verdicts_continue'] += 1
        sample.bytes_down += self._wire_bytes(msg)
        if msg.timesteps_lost == 0 and \
                (seconds := timesteps.round_trip(msg.timesteps_used, now)) is not None:
            self.round_trip.add(seconds)
        timesteps.continued(msg.timesteps_used)
        if sample is self.samples.current:
            self.step()

    def _fall_back(self, sample: Sample, now: float) -> None:
        """No answer by the deadline: run the sample here, from its input, before any other."""
        self._cloud_lost('a sample missed its deadline')
        self.placer.measured(Place.SPLIT, now - sample.started)  # what split cost, at least
        self.get_logger().warning(f'no answer from the cloud within {self.deadline:g} s for '
                                  f'sample {sample.sample_id}: answering it here',
                                  throttle_duration_sec=5.0)
        self.counters['samples_fallen_back'] += 1
        self.report_if_worse()
        sample.fell_back = True
        self.samples.fall_back(sample)
        self._finished_sending(sample)
        self.step_guard.trigger()

    def _cloud_unavailable(self, sample: Sample) -> None:
        """The fallback when the cloud did not answer in time: stop, report the failure."""
        self._cloud_lost('a sample missed its deadline')
        self._finished_sending(sample)
        self.get_logger().warning(f'no answer from the cloud within {self.deadline:g} s for '
                                  f'sample {sample.sample_id}: reported as cloud_unavailable',
                                  throttle_duration_sec=5.0)
        self._publish(sample, -1, 0.0, [], 0, 0, 0, Prediction.STATUS_CLOUD_UNAVAILABLE)
        self.report_if_worse()

    def _publish(self, sample: Sample, label: int, confidence: float,
                 probabilities: list[float], used: int, lost: int, bytes_received: int,
                 status: str) -> None:
        """The sample's one Prediction, and its Classification and picture if asked for."""
        prediction = Prediction(
            header=sample.header, source_id=self.source_id, sample_id=sample.sample_id,
            label=label, label_name=self.class_names[label] if label >= 0 else '',
            confidence=confidence, probabilities=probabilities, timesteps_used=used,
            num_timesteps=self.num_timesteps, timesteps_lost=lost,
            bytes_received=bytes_received, status=status,
            computed_on='' if label < 0 else Prediction.COMPUTED_ON_EDGE
            if sample.place is Place.EDGE else Prediction.COMPUTED_ON_SPLIT)
        self.prediction_pub.publish(prediction)
        if self.classification_pub is not None:
            ranked = sorted(enumerate(probabilities), key=lambda pair: -pair[1])
            self.classification_pub.publish(Classification(header=sample.header, results=[
                ObjectHypothesis(class_id=self.class_names[index], score=float(score))
                for index, score in ranked[:self.top_k or None]]))
        if self.annotated_pub is not None and sample.frame.picture is not None:
            where = 'on the robot' if sample.place is Place.EDGE else 'split: robot + cloud'
            picture = annotated(sample.frame.picture, answer_lines(
                prediction.label_name, confidence, used, self.num_timesteps, where, status))
            self.annotated_pub.publish(Image(
                header=sample.header, height=picture.shape[0], width=picture.shape[1],
                encoding='rgb8', step=picture.shape[1] * 3, data=picture.tobytes()))
        self.counters['samples_answered' if label >= 0 else 'samples_cloud_unavailable'
                      if status == Prediction.STATUS_CLOUD_UNAVAILABLE else 'samples_failed'] += 1


def main(args: list[str] | None = None) -> int:
    """Run the edge node until Ctrl-C."""
    return spin(EdgeNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
