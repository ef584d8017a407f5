"""A client of a running split: plays camera and watches what comes back.

Publishes frames as sensor_msgs/Image, or samples of events as event_camera_msgs/EventPacket
(evt3, like metavision_driver), and matches the PackedSpikes and the Prediction of every
sample to it by the capture stamp (each sample gets a unique one), and its ExitSignals by
the (source_id, sample_id) that its spikes carried. The demo, the benchmarks, the scripts and
the tests drive the nodes through it: `session` starts them and waits until they answer,
`SplitClient.play` plays samples at a rate (or one at a time) and collects the answers.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import rclpy
from event_camera_msgs.msg import EventPacket
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CompressedImage, Image

from neucodex_ros.core.datasets.digits import DvsRecordings, held_out_digits, held_out_indices
from neucodex_ros.core.events import split_at_multiples
from neucodex_ros.core.events.codecs import encode_evt3
from neucodex_ros.msg import ExitSignal, PackedSpikes, Prediction
from neucodex_ros.processes import running
from neucodex_ros.qos import stream_qos, tool_qos

StampKey = tuple[int, int]


@dataclass
class Observed:
    """Everything seen for one published frame."""

    label: int | None
    sent: float  # time.monotonic() at publishing
    prediction: Prediction | None = None
    answered: float | None = None  # time.monotonic() when the Prediction arrived
    predictions: int = 0  # how many arrived; exactly one is right
    spikes: list[PackedSpikes] = field(default_factory=list)
    spike_wire_bytes: int = 0  # serialized PackedSpikes, headers included
    exits: list[ExitSignal] = field(default_factory=list)
    input_wire_bytes: int = 0  # the serialized input message(s) published
    exit_wire_bytes: int = 0  # serialized ExitSignals seen
    prediction_wire_bytes: int = 0  # serialized Predictions seen

    def answered_at_all(self) -> bool:
        """Whether its Prediction arrived."""
        return self.prediction is not None

    def answered_with_spikes(self) -> bool:
        """Whether its Prediction and the spikes it was made from arrived.

        Nothing orders a Prediction against its spikes (different writers send them), so a
        count of the spikes sent waits for both.
        """
        return self.prediction is not None and len(self.spikes) >= self.prediction.timesteps_used


class SplitClient(Node):
    """Publishes frames on image topics; records spikes, exit signals and predictions."""

    def __init__(self, name: str = 'neucodex_client', image_topics: Sequence[str] = ('image',),
                 reliable: bool = True, depth: int = 64, events_topic: str | None = None,
                 jpeg_quality: int | None = None, watch_exits: bool = True,
                 image_qos: QoSProfile | int = 10,
                 prediction_topics: Sequence[str] = ('prediction',), **kwargs: Any) -> None:
        """`jpeg_quality`: publish frames as JPEG CompressedImage on `<topic>/compressed`.

        `prediction_topics`: where the edges publish their Predictions (robots in
        namespaces: one each).

        `image_qos`: of the frame publishers, as a camera driver would choose it (the
        default, a depth of 10, is reliable).

        `watch_exits: False` leaves the ExitSignals alone: on a benchmark's edge host a
        subscription to them would make the cloud send each one across the link twice.
        """
        super().__init__(name, **kwargs)
        link = stream_qos(reliable, depth)
        self.jpeg_quality = jpeg_quality
        self.image_pubs = [self.create_publisher(Image, topic, image_qos)
                           for topic in image_topics] if jpeg_quality is None else [
            self.create_publisher(CompressedImage, f'{topic}/compressed', image_qos)
            for topic in image_topics]
        if events_topic:  # then samples are events, on this topic alone
            self.image_pubs = [self.create_publisher(EventPacket, events_topic, tool_qos())]
        self._seq = 0
        self._slot = 0
        self.answer_topics = len(prediction_topics)
        self.watchers = [
            *(self.create_subscription(Prediction, topic, self._on_prediction, link, raw=True)
              for topic in prediction_topics),
            self.create_subscription(PackedSpikes, '/spikes', self._on_spikes, link, raw=True)]
        if watch_exits:
            self.watchers.append(self.create_subscription(ExitSignal, '/exit_signal',
                                                          self._on_exit, link, raw=True))
        self.observed: dict[StampKey, Observed] = {}
        self.by_sample: dict[tuple[str, int], Observed] = {}  # from the spikes seen
        # ExitSignals that came before any spikes of their sample (topics are not ordered)
        self._early_exits: dict[tuple[str, int], list[tuple[int, ExitSignal]]] = {}
        self._spinner = SingleThreadedExecutor(context=self.context)
        self._spinner.add_node(self)
        self._last_stamp = 0

    def publish_frame(self, pixels: np.ndarray, label: int | None = None,
                      topic: int = 0) -> Observed:
        """Publish an [H, W] mono8 or [H, W, 3] rgb8 frame with a fresh capture stamp.

        Returns its record.
        """
        height, width = pixels.shape[:2]
        channels = 1 if pixels.ndim == 2 else pixels.shape[2]
        stamp = max(time.time_ns(), self._last_stamp + 1)
        self._last_stamp = stamp
        pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
        if self.jpeg_quality is None:
            msg = Image(height=height, width=width, encoding='mono8' if channels == 1
                        else 'rgb8', step=width * channels, data=pixels.tobytes())
        else:  # as image_transport's compressed transport sends it
            coded = pixels if channels == 1 else cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
            _, jpeg = cv2.imencode('.jpg', coded, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
            kind = 'mono8; jpeg compressed mono8' if channels == 1 else \
                'rgb8; jpeg compressed bgr8'
            msg = CompressedImage(format=kind, data=jpeg.tobytes())
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 10**9)
        msg.header.frame_id = 'neucodex_client'
        observed = self.observed[divmod(stamp, 10**9)] = Observed(label, time.monotonic())
        observed.input_wire_bytes = len(serialize_message(msg))
        self.image_pubs[topic].publish(msg)
        return observed

    def publish_events(self, events: np.ndarray, sensor_size: tuple[int, int],
                       period_us: int, label: int | None = None,
                       packet_us: int = 10_000) -> Observed:
        """Publish one sample of events as evt3 EventPackets; return its record.

        Samples go onto consecutive slots of `period_us` on the event clock (an edge with
        window_duration = period cuts them back out), in packets of `packet_us`, all stamped
        with the sample's fresh capture stamp.
        """
        self._slot += 1
        shifted = events.copy()
        if len(shifted):
            shifted['t'] += self._slot * period_us - shifted['t'][0]
        stamp = max(time.time_ns(), self._last_stamp + 1)
        self._last_stamp = stamp
        observed = self.observed[divmod(stamp, 10**9)] = Observed(label, time.monotonic())
        for packet in split_at_multiples(shifted, packet_us):
            msg = EventPacket(encoding='evt3', height=sensor_size[0], width=sensor_size[1],
                              seq=self._seq, events=encode_evt3(packet))
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 10**9)
            msg.header.frame_id = 'neucodex_client'
            self._seq += 1
            observed.input_wire_bytes += len(serialize_message(msg))
            self.image_pubs[0].publish(msg)
        return observed

    def spin_until(self, condition: Callable[[], bool], timeout: float, what: str,
                   alive: Callable[[], bool] = lambda: True) -> None:
        """Process callbacks until condition() holds; TimeoutError after `timeout` seconds.

        `alive` is checked as well, so that a crashed node process fails fast.
        """
        deadline = time.monotonic() + timeout
        while not condition():
            if not alive():
                raise RuntimeError(f'a node process exited while waiting for {what}')
            if time.monotonic() > deadline:
                raise TimeoutError(f'timed out after {timeout:.1f} s waiting for {what}')
            self._spinner.spin_once(timeout_sec=0.005)

    def pause(self, seconds: float, alive: Callable[[], bool] = lambda: True) -> None:
        """Keep processing callbacks for `seconds` (none if not positive)."""
        end = time.monotonic() + seconds
        self.spin_until(lambda: time.monotonic() >= end, max(seconds, 0.0) + 1.0, 'a pause',
                        alive)

    def wait_ready(self, timeout: float = 60.0, alive: Callable[[], bool] = lambda: True,
                   frame_shape: tuple[int, int] = (28, 28),
                   probe: Callable[[], Observed] | None = None, split: bool = True) -> None:
        """Return once a sample makes the whole round trip on every input topic.

        Discovery is not enough: a volatile message published before the remote writer has
        matched our reader is lost. So probe samples (blank frames, or what `probe` publishes)
        go out until each comes back as a Prediction with status ok (which the edge gives only
        after the cloud answered its hello), with its spikes seen too (unless not `split`: one
        node runs the whole network); the probes are then forgotten.
        """
        watchers = self.watchers if split else self.watchers[:self.answer_topics]
        self.spin_until(lambda: all(p.get_subscription_count() > 0 for p in self.image_pubs)
                        and all(w.get_publisher_count() > 0 for w in watchers), timeout,
                        'the edge and cloud nodes to appear', alive)
        deadline = time.monotonic() + timeout
        for topic in range(len(self.image_pubs)):
            self._probe(probe or (lambda t=topic: self.publish_frame(
                np.zeros(frame_shape, np.uint8), topic=t)), deadline, alive, split)
        self.pause(0.2)  # answers to the other probes
        self.observed.clear()
        self.by_sample.clear()
        self._early_exits.clear()

    def play(self, publish: Callable[[int], Observed], count: int, *, rate: float | None,
             timeout: float, alive: Callable[[], bool] = lambda: True, settle: float = 0.0,
             answered: Callable[[Observed], bool] = Observed.answered_at_all,
             progress: Callable[[list[Observed]], None] | None = None,
             after: Callable[[Observed], None] | None = None,
             every: float = 0.0) -> list[Observed]:
        """Publish samples 0 … count-1 with `publish` and collect what comes back.

        At `rate` samples per second on a fixed schedule, whatever the answers, then up to
        `timeout` for the answers still due; or, with `rate` None, one at a time: each waits
        for its answer (up to `timeout`), then `settle` seconds for late messages, then
        `after` sees it, and the next goes no sooner than `every` seconds after the start of
        the one before. A sample never answered keeps `prediction` None. `progress` sees the
        answered samples, in the order sent, as they grow.
        """
        sent: list[Observed] = []
        done = 0  # sent[:done] are answered

        def all_answered() -> bool:
            nonlocal done
            before = done
            while done < len(sent) and answered(sent[done]):
                done += 1
            if progress is not None and done > before:
                progress(sent[:done])
            return done == len(sent)

        start = time.monotonic()
        for index in range(count):
            observed = publish(index)
            sent.append(observed)
            if rate is not None:
                self.pause(start + (index + 1) / rate - time.monotonic(), alive)
            else:
                try:
                    self.spin_until(lambda o=observed: answered(o), timeout, 'an answer', alive)
                except TimeoutError:
                    pass  # unanswered
                self.pause(settle, alive)
                if after is not None:
                    after(observed)
                self.pause(start + (index + 1) * every - time.monotonic(), alive)
            all_answered()
        if rate is not None:
            try:
                self.spin_until(all_answered, timeout, 'the last answers', alive)
            except TimeoutError:
                pass  # unanswered: the caller counts them
        return sent

    def _probe(self, publish: Callable[[], Observed], deadline: float,
               alive: Callable[[], bool], split: bool) -> None:
        """Send probe samples until one makes the round trip."""
        probes: list[Observed] = []

        def round_trip() -> bool:  # an answer from the cloud, not the edge's fallback
            return any(p.prediction is not None and p.prediction.status == Prediction.STATUS_OK
                       and (p.spikes or not split) for p in probes)

        while not round_trip():
            if time.monotonic() > deadline:
                raise TimeoutError('no probe frame made the round trip through the nodes')
            probes.append(publish())
            try:
                self.spin_until(round_trip, 2.0, 'a probe round trip', alive)
            except TimeoutError:
                pass  # lost before the links were up: send another

    def _find(self, stamp: Any) -> Observed | None:
        return self.observed.get((stamp.sec, stamp.nanosec))

    def _on_prediction(self, raw: bytes) -> None:
        msg = deserialize_message(raw, Prediction)
        if (observed := self._find(msg.header.stamp)) is not None:
            observed.prediction_wire_bytes += len(raw)
            observed.predictions += 1
            if observed.prediction is None:
                observed.prediction = msg
                observed.answered = time.monotonic()

    def _on_spikes(self, raw: bytes) -> None:
        msg = deserialize_message(raw, PackedSpikes)
        if (observed := self._find(msg.stamp)) is not None:
            observed.spikes.append(msg)
            observed.spike_wire_bytes += len(raw)
            key = (msg.source_id, msg.sample_id)
            self.by_sample[key] = observed
            for size, exit_signal in self._early_exits.pop(key, []):
                self._add_exit(observed, size, exit_signal)

    def _on_exit(self, raw: bytes) -> None:
        msg = deserialize_message(raw, ExitSignal)
        key = (msg.source_id, msg.sample_id)
        if (observed := self.by_sample.get(key)) is not None:
            self._add_exit(observed, len(raw), msg)
        elif len(self._early_exits) < 10_000:
            self._early_exits.setdefault(key, []).append((len(raw), msg))

    @staticmethod
    def _add_exit(observed: Observed, size: int, msg: ExitSignal) -> None:
        observed.exit_wire_bytes += size
        observed.exits.append(msg)


@dataclass
class Playlist:
    """Held-out digits as a camera plays them: frames, or their simulated DVS recordings.

    The one source of samples for the demo and the benchmark camera; `events_period_us` is
    the event time each recording is laid out in (the edge's window_duration).
    """

    images: np.ndarray
    labels: np.ndarray
    recordings: DvsRecordings | None = None
    events_period_us: int = 350_000

    @classmethod
    def held_out(cls, count: int, events: bool, events_period_us: int = 350_000,
                 first: int = 0) -> Playlist:
        """Held-out digits first … first + count − 1 (held_out_digits), as frames or events."""
        images, labels = held_out_digits(first + count)
        recordings = DvsRecordings(held_out_indices(first + count)[first:]) if events else None
        return cls(images[first:], labels[first:], recordings, events_period_us)

    def publish(self, client: SplitClient, index: int, label: int | None = None) -> Observed:
        """Publish sample `index` through the client; its record."""
        if self.recordings is None:
            return client.publish_frame(self.images[index], label)
        return client.publish_events(self.recordings[index], self.recordings.sensor_size,
                                     self.events_period_us, label)

    def raw_bytes(self) -> float:
        """What one input weighs raw: the evt3 events of the recordings played, or the frame."""
        return self.recordings.mean_evt3_bytes() if self.recordings else float(
            self.images[0].nbytes)


@dataclass
class Session:
    """A client of node processes that have answered it (see `session`)."""

    client: SplitClient
    processes: list[subprocess.Popen[bytes]]

    def alive(self) -> bool:
        """Whether every node process this session started still runs."""
        return all(process.poll() is None for process in self.processes)


@contextmanager
def session(name: str, commands: Sequence[Sequence[str]] = (), timeout: float = 60.0,
            probe: Callable[[SplitClient], Observed] | None = None, split: bool = True,
            **options: Any) -> Iterator[Session]:
    """Node processes and a client that they have answered.

    rclpy, the processes `commands` (none: they run elsewhere) and a SplitClient (`options`),
    yielded once a sample has made the round trip (`SplitClient.wait_ready`). On leaving, the
    client goes, then the processes get Ctrl-C.
    """
    with rclpy.init(), running(commands) as processes:
        client = SplitClient(name, **options)
        current = Session(client, processes)
        try:
            client.wait_ready(timeout, current.alive, split=split,
                              probe=None if probe is None else (lambda: probe(client)))
            yield current
        finally:
            client.destroy_node()
