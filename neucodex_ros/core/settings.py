"""Every parameter of the nodes as data, and the settings made of their values, without ROS.

One `Param` per parameter (name, default, description, range or choices, whether it may
change while the node runs), in one table per concern: COMMON (both sides of the split),
MANAGED (every lifecycle node), EDGE, EDGE_EVENTS (an edge on event input), CLOUD and
FAULT_RELAY. The
nodes declare from these tables (nodes/parameters.py builds the descriptors `ros2 param
describe` shows); the tests check the shipped parameters files and the README against them.
`EdgeSettings` and `CloudSettings` are the values a node configures with, checked once,
each one's cross-checks stated with it; a setting that cannot work is a ConfigError.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from neucodex_ros.core import codec, topics
from neucodex_ros.core.cloud_sessions import Limits
from neucodex_ros.core.edge_loop import LoopSettings
from neucodex_ros.core.energy import EnergyConfig
from neucodex_ros.core.errors import ConfigError
from neucodex_ros.core.events.frames import FIT_MODES, SPLIT_BY, FrameSpec
from neucodex_ros.core.events.stream import EventStream
from neucodex_ros.core.events.windows import WINDOW_MODES, EventWindower
from neucodex_ros.core.fleet import ANNOUNCE_PERIOD, MAX_SOURCE_ID
from neucodex_ros.core.image import IMAGE_FITS, MAX_PIXELS, ImageOptions
from neucodex_ros.core.inference import EDGE_LAYERS
from neucodex_ros.core.pacing import PACINGS
from neucodex_ros.core.placement import Placement
from neucodex_ros.core.radio import DEFAULT_RADIO, RADIO_NJ_PER_BIT, radio

#: `input`: auto is events for a model of 2 polarity channels, else image.
INPUT_KINDS = ('auto', 'image', 'compressed', 'events')

Value = bool | int | float | str | list[int]


@dataclass(frozen=True)
class Param:
    """One parameter: what `ros2 param describe` says of it, and what it accepts."""

    name: str
    default: Value
    description: str
    low: float | None = None  # a number's range, both or neither
    high: float | None = None
    choices: tuple[str, ...] | None = None
    dynamic: bool = False  # may change while the node runs (else read-only)

    def check(self, value: Any) -> Any:
        """The value if the parameter accepts it; else a ConfigError that says what it takes."""
        if self.choices is not None and value not in self.choices:
            raise ConfigError(f'{self.name} must be one of {self.choices}, got {value!r}')
        if self.low is not None and not self.low <= value <= self.high:
            raise ConfigError(f'{self.name} must be in [{self.low}, {self.high}], got {value!r}')
        return value


Table = tuple[Param, ...]

COMMON: Table = (
    Param('checkpoint', '', 'Model checkpoint (.pt) written by `neucodex-ros train`; empty: '
          'the shipped digits model'),
    Param('device', 'auto', "Torch device: 'cpu', 'cuda', 'cuda:1' or 'auto' (CUDA when "
          'present)'),
    Param('torch_threads', 1, 'Torch intra-op threads. 1 gives the lowest latency for one '
          'sample at a time: a thread pool waking up after idle costs milliseconds', 1, 256),
    Param('reliable', True, 'Reliable (true) or best-effort (false) QoS for spikes, exit '
          'signals and predictions'),
    Param('qos_depth', 64, 'History depth (messages) of the spikes, exit signal and '
          'prediction topics', 1, 10000),
    Param('spikes_topic', '/spikes', 'PackedSpikes, edge → cloud (absolute: robots in '
          'namespaces share a cloud)'),
    Param('exit_topic', '/exit_signal', 'ExitSignal, cloud → edge (every robot hears every '
          'answer, and takes its own)'),
)

MANAGED: Table = (
    Param('autostart', True, 'Configure and activate at start, without a lifecycle manager; '
          'false: wait for configure and activate on ~/change_state (as '
          'nav2_lifecycle_manager sends them)'),
    Param('stats_period', 1.0, 'Seconds between health reports on /diagnostics (and the '
          'counters on ~/stats), both diagnostic_msgs/DiagnosticArray; 0: none', 0.0, 3600.0),
)

EDGE: Table = (
    Param('source_id', '', "Name of this robot, unique among the robots of a cloud (it keeps "
          "state per source). '': the node's namespace (/robot1 → robot1), or robot0 at the "
          'root'),
    Param('num_timesteps', 0, "T, timesteps per sample; 0: the model's own T", 0, 1024),
    Param('pacing', 'adaptive', "When the next timestep of a sample is computed: 'adaptive' "
          "(when the cloud asks for it, or earlier when the bet pays: see timestep_cost) or "
          "'clock' (one per timestep_period)", choices=PACINGS),
    Param('timestep_cost', 0.05, 'Adaptive pacing: seconds of latency one wasted edge '
          'timestep is worth. A timestep the cloud has not asked for yet is computed only if '
          'P(needed) x (time until the verdict) >= (1 - P(needed)) x timestep_cost; 0: stream '
          'every timestep, 1e6: never ahead of the cloud', 0.0, 1e6),
    Param('timestep_period', 0.02, 'Clock pacing: seconds between timesteps of a sample',
          0.0005, 10.0),
    Param('alpha', 1.0, 'Exit threshold of the early exit of the samples answered here '
          "(placement auto or local, layers 'all'): the cloud's alpha, for the same answers "
          '(1: all T)', 0.0, 1.0),
    Param('queue_size', 2, 'Frames that may wait while a sample is in flight; when full the '
          'oldest is dropped; 0: drop frames that arrive while busy', 0, 1000),
    Param('layers', 'split', "What this node runs: 'split' (head + encoder, spikes to the "
          "cloud), 'head' (no bottleneck: the head's features to the cloud), or 'all' (the "
          'whole network for all T here, Prediction out; no cloud)', choices=EDGE_LAYERS),
    Param('placement', Placement.AUTO.value, "Where each sample runs: 'split' (always; a "
          "sample the cloud does not answer fails), 'local' (the whole network here), "
          "'auto': per sample, the faster place as measured (core/placement.py), or 'cascade': "
          'here first, the cloud finishing the samples not decided after cascade_timesteps; '
          'a sample the cloud does not answer by its deadline, and every sample while no '
          'cloud answers, runs here', choices=tuple(Placement)),
    Param('cascade_timesteps', 1, "placement 'cascade': timesteps the whole network runs here "
          '(early exit at alpha) before a sample not decided goes on in the cloud, from the '
          'spikes already made', 1, 256),
    Param('cascade_bundle', -1, "placement 'cascade': timesteps an escalating sample computes "
          'before its first message, which carries them with those run here; the rest are '
          'sent one by one; -1: all (one message: the least radio, measured fastest too)',
          -1, 256),
    Param('latency_budget', 0.0, "placement 'auto': seconds. The places expected to answer "
          'within it are good enough, and the one of lower edge energy (compute + radio) '
          'wins; 0: the faster place wins (energy breaks near-ties)', 0.0, 3600.0),
    Param('radio', DEFAULT_RADIO, "placement 'auto': the edge radio's energy per bit, to "
          f"weigh the split's bytes: {', '.join(RADIO_NJ_PER_BIT)}, or nJ per bit"),
    Param('deadline', 2.0, "Seconds from a sample's start within which the cloud must answer, "
          'at the latest; then placement \'auto\' runs it here, \'split\' reports it failed '
          '(status "cloud_unavailable"). A sample is overdue sooner: three measured round '
          'trips after the oldest timestep its cloud has not answered', 0.001, 3600.0),
    Param('deadline_min', 0.15, 'Seconds: the round-trip deadline is never shorter', 0.001,
          3600.0),
    Param('hedge', True, "placement 'split': a sample overdue before its deadline goes to the "
          'next cloud of the fleet too (the first answer wins, the other clouds are told to '
          'drop it); false: it waits for its own cloud'),
    Param('prediction_topic', 'prediction', 'Prediction out, one per sample'),
    Param('classification_topic', 'classification', 'vision_msgs/Classification out, one per '
          "sample (no results if it failed), for any vision_msgs consumer; '': none"),
    Param('classification_top_k', 0, 'Hypotheses per Classification, most likely first; 0: '
          'one per class', 0, 100000),
    Param('annotated_topic', '', 'sensor_msgs/Image (rgb8) out, one per sample: the input (an '
          'event window: its events) with the answer drawn on it, for RViz or Foxglove; '
          "'': none (it costs a copy of every frame)"),
    Param('input', 'auto', "'image', 'compressed' (JPEG/PNG sensor_msgs/CompressedImage on "
          "image_topic + '/compressed'), 'events', or 'auto': events when the model takes 2 "
          'polarity channels, else image', choices=INPUT_KINDS),
    Param('image_topic', 'image', 'sensor_msgs/Image input'),
    Param('events_topic', topics.EVENTS, 'event_camera_msgs/EventPacket input'),
    Param('input_reliable', False, 'Subscribe to the input (images or events) reliably; best '
          'effort (default) also matches reliable publishers'),
    Param('max_image_pixels', MAX_PIXELS, 'Frames larger than this (width × height; for '
          'compressed frames as their header says, before decoding) are rejected (counted): '
          'it bounds the memory and time one frame can cost', 1, 2**31 - 1),
    Param('roi', [0, 0, 0, 0], 'Region of interest x, y, width, height in frame or sensor '
          'pixels; zeros: all of it'),
    Param('image_fit', 'stretch', "Image input: a frame's aspect → the model's: 'stretch', "
          "'crop' (centre, aspect kept) or 'pad' (whole frame, aspect kept, black bars)",
          choices=IMAGE_FITS),
    Param('invert', False, 'Image input: invert intensities, for dark objects on a light '
          'background when the model learned light on dark (the digits models)'),
    Param('input_qos_depth', 20, 'DDS history of the input subscription. Messages leave it at '
          'once for the queue above; it only has to outlast a busy moment of this process',
          1, 100000),
    Param('encoding', codec.AUTO, f'Spike payload codec: {codec.AUTO} (the smallest per '
          f'message) or one of {", ".join(codec.ENCODINGS)}. Temporal codecs need reliable: '
          'true', choices=(codec.AUTO, *codec.ENCODINGS)),
)

EDGE_EVENTS: Table = (
    Param('window_mode', 'duration', "Samples of 'duration' (window_duration seconds of "
          'events, aligned to multiples of it on the event clock) or \'count\' (window_events '
          'events)', choices=WINDOW_MODES),
    Param('window_duration', 0.35, 'Seconds of events per sample (duration mode); '
          'N-MNIST-like saccades take 0.3 s', 1e-4, 60.0),
    Param('window_events', 4000, 'Events per sample (count mode)', 1, 100_000_000),
    Param('min_events', 50, 'Windows with fewer events are dropped (counted), not classified',
          1, 100_000_000),
    Param('flush_after', 0.5, 'Wall-clock seconds without packets after which the open window '
          'is complete (the stream paused or ended)', 0.01, 3600.0),
    # (their defaults are the model's: its checkpoint says how it was trained)
    Param('frames_by', 'time', "A window into T frames of equal 'time' or equal 'count' of "
          'events (default: as the model was trained)', choices=SPLIT_BY),
    Param('fit', 'pool', "Sensor area → model input: 'area' resize, 'pool' (sum k×k) or "
          "'crop' (centre) (default: as the model was trained)", choices=FIT_MODES),
    Param('max_sensor_pixels', 1280 * 1024, 'Packets claiming a larger sensor (width × '
          'height) are rejected (counted): frames are binned at sensor resolution, so this '
          'bounds the memory and time one packet can cost', 1, 2**31 - 1),
)

CLOUD: Table = (
    Param('alpha', 0.99, 'Exit threshold: a sample stops once the softmax of its mean logits '
          'reaches alpha (0: after one timestep; 1: always all T); may be changed while '
          'running', 0.0, 1.0, dynamic=True),
    Param('max_timesteps', 256, 'Largest T accepted from an edge', 1, 65535),
    Param('sample_timeout', 1.0, 'Seconds without a timestep before a sample is decided on '
          'the timesteps it has, or fails with status "timeout" if none (keep it below the '
          "edges' deadline)", 0.01, 3600.0),
    Param('reorder_wait', 0.05, 'Seconds a timestep that arrived early waits for the missing '
          'ones before them, which then count as lost', 0.0, 60.0),
    Param('max_in_flight', 16, 'Samples one source may have open; starting one more fails its '
          'oldest (status "evicted")', 1, 100000),
    Param('max_batch', 16, 'Most samples run through decoder and tail in one pass (a timestep '
          'each)', 1, 4096),
    Param('batch_wait_ms', 0.0, 'Milliseconds a decoded timestep may wait for others to fill '
          'its batch. 0: run what has arrived as soon as the sources were served once (under '
          'load the batches fill by themselves, and one robot waits for nothing)', 0.0,
          10000.0),
    Param('cloud_id', '', 'Name of this cloud among the clouds that share the robots; unique '
          'per process. Empty: host-pid'),
    Param('fleet_topic', '/clouds', 'CloudAnnounce topic on which the clouds of a fleet hear '
          'each other'),
    Param('dead_after', 1.0, 'Seconds without an announcement after which another cloud '
          'counts as gone and its robots move; a new cloud takes none before',
          4 * ANNOUNCE_PERIOD, 60.0),
    Param('max_sources', 1024, 'Robots this cloud serves at most; more are refused (counted: '
          'sources_refused) and left to the other clouds. It bounds what a flood of made-up '
          'robots costs, and the size of the announcements', 1, 1_000_000),
)

FAULT_RELAY: Table = (
    Param('seed', 0, 'Seed of the fault draws (one stream per direction)', 0, 2**31 - 1),
    Param('drop', 0.0, 'Probability a message is dropped', 0.0, 1.0),
    Param('duplicate', 0.0, 'Probability a message goes out twice', 0.0, 1.0),
    Param('reorder', 0.0, 'Probability a message is held reorder_delay longer, so later ones '
          'overtake it', 0.0, 1.0),
    Param('delay', 0.0, 'Seconds every message is held', 0.0, 60.0),
    Param('reorder_delay', 0.05, 'Extra seconds of a reordered message', 0.0, 60.0),
    Param('reliable', True, 'QoS of both sides of the relay: reliable or best effort'),
    Param('qos_depth', 64, 'History depth', 1, 10000),
    Param('stats_period', 1.0, 'Seconds between the counters on ~/stats; 0: none', 0.0, 3600.0),
    Param('spikes_in', 'edge/spikes', 'PackedSpikes from the edge'),
    Param('spikes_out', 'spikes', 'PackedSpikes to the cloud'),
    Param('exit_in', 'exit_signal', 'ExitSignal from the cloud'),
    Param('exit_out', 'edge/exit_signal', 'ExitSignal to the edge'),
)


def checked(table: Table, given: Mapping[str, Any]) -> dict[str, Any]:
    """Each parameter of `table`: its value in `given` (else its default), checked."""
    return {p.name: p.check(given.get(p.name, p.default)) for p in table}


@dataclass(frozen=True)
class Settings:
    """A node's checked values, read as attributes (`settings.queue_size`)."""

    values: Mapping[str, Any]

    def __post_init__(self) -> None:
        object.__setattr__(self, 'values', MappingProxyType(dict(self.values)))

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


class EdgeSettings(Settings):
    """The edge's values (COMMON + EDGE, and EDGE_EVENTS on event input), cross-checked.

    A temporal codec codes each timestep against the one before, which only a reliable link
    delivers every time; `layers: all` answers every sample here, whatever the placement.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.encoding != codec.AUTO and codec.is_temporal(self.encoding) \
                and not self.reliable:
            raise ConfigError(f'encoding {self.encoding} codes against the previous timestep '
                              'and needs reliable: true')
        try:
            energy = EnergyConfig.with_radio(radio(self.radio))
        except ValueError as err:
            raise ConfigError(f'radio must be one of {tuple(RADIO_NJ_PER_BIT)} or nJ per bit '
                              f'>= 0, got {self.radio!r}') from err
        object.__setattr__(self, 'energy', energy)
        if self.placement == Placement.CASCADE and self.layers == 'head':
            raise ConfigError('placement cascade sends the spikes the whole network made at the '
                              'split; layers head sends features instead: use layers split')

    @classmethod
    def of(cls, given: Mapping[str, Any], events: bool = False) -> EdgeSettings:
        """The settings from given values (the rest default)."""
        return cls(checked(COMMON + EDGE + (EDGE_EVENTS if events else ()), given))

    @property
    def where(self) -> Placement:
        """The placement in effect."""
        return Placement.LOCAL if self.layers == 'all' else Placement(self.placement)

    @property
    def codecs(self) -> tuple[str, ...]:
        """The codecs `encoding: auto` may choose among on this link."""
        return tuple(name for name in codec.SPIKE_CODECS
                     if self.reliable or not codec.is_temporal(name))

    @property
    def image_options(self) -> ImageOptions:
        """What image input does to a frame before the model."""
        return ImageOptions(tuple(self.roi), self.image_fit, self.invert)

    def source(self, namespace: str) -> str:
        """This robot's name: source_id, or its namespace (/a/b → a_b), or robot0."""
        name = self.source_id or namespace.strip('/').replace('/', '_') or 'robot0'
        if len(name) > MAX_SOURCE_ID:
            raise ConfigError(f'source_id {name[:20]!r}… is {len(name)} characters long; the '
                              f'clouds take at most {MAX_SOURCE_ID}: set a shorter source_id')
        return name

    def input_kind(self, in_channels: int) -> str:
        """The input in effect for a model of `in_channels`: events take 2 polarity channels."""
        kind = self.input if self.input != 'auto' else 'events' if in_channels == 2 else 'image'
        if kind == 'events' and in_channels != 2:
            raise ConfigError(f'events input needs a model of 2 polarity channels; this one '
                              f'takes {in_channels}')
        return kind

    def loop(self, num_timesteps: int, num_classes: int, model_id: str) -> LoopSettings:
        """What the edge's rules (core/edge_loop.py) need of these settings."""
        return LoopSettings(
            num_timesteps, num_classes, self.where, self.deadline, self.queue_size,
            self.pacing, self.timestep_cost, self.timestep_period, self.latency_budget,
            self.energy, 'split' if self.layers == 'all' else self.layers,
            self.cascade_timesteps, self.cascade_bundle, model_id, self.deadline_min,
            self.hedge)

    def event_stream(self, trained: FrameSpec, counters: Counter[str]) -> EventStream:
        """Event input (EDGE_EVENTS) binned as set, else as the model was `trained`."""
        return EventStream(
            EventWindower(self.window_mode, round(self.window_duration * 1e6),
                          self.window_events, self.min_events),
            replace(trained, split_by=self.frames_by, fit=self.fit, roi=self.image_options.roi),
            self.max_sensor_pixels, counters)

    def describe(self, num_timesteps: int, output_shape: tuple[int, ...]) -> tuple[str, str]:
        """What the edge does, in words; and a warning ('' if none) about the settings.

        With clock pacing, a deadline no longer than T timestep periods is missed by every
        sample the cloud does not stop early.
        """
        where, adaptive, period = self.where, self.pacing == 'adaptive', self.timestep_period
        warning = '' if where is Placement.LOCAL or adaptive \
            or self.deadline > num_timesteps * period else \
            (f'deadline {self.deadline:g} s is not longer than T x timestep_period = '
             f'{num_timesteps * period:g} s: samples the cloud does not stop early will miss it')
        paced = f'paced adaptively (timestep_cost {self.timestep_cost:g} s)' if adaptive \
            else f'one every {period * 1e3:g} ms'
        local = f'the whole network here, early exit at alpha {self.alpha:g}'
        budget = self.latency_budget
        sends = local if where is Placement.LOCAL else \
            (f'{"head features" if self.layers == "head" else "spikes"} of shape '
             f'{output_shape}, {paced}, codec {self.encoding}') + \
            ('' if where is Placement.SPLIT else
             f'; placement cascade: first {local} for up to {self.cascade_timesteps} '
             'timesteps, the cloud going on from their spikes if none decided'
             if where is Placement.CASCADE else
             f'; placement auto: or {local}, whichever is faster'
             + (f' (or cheaper within {budget:g} s)' if budget else ''))
        return sends, warning


class CloudSettings(Settings):
    """The cloud's values (COMMON + CLOUD)."""

    @classmethod
    def of(cls, given: Mapping[str, Any]) -> CloudSettings:
        """The settings from given values (the rest default)."""
        return cls(checked(COMMON + CLOUD, given))

    @property
    def limits(self) -> Limits:
        """What the cloud's rules bound (core/cloud_sessions.py)."""
        return Limits(self.max_timesteps, self.sample_timeout, self.reorder_wait,
                      self.max_in_flight, self.max_batch, self.batch_wait_ms / 1e3,
                      self.qos_depth)
