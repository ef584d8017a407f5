"""Edge node: camera frames → head + encoder, one timestep at a time → PackedSpikes.

Every Image becomes one sample, fed as the same frame at every timestep (direct encoding).
The node computes and sends one timestep per `timestep_period`; an ExitSignal for the sample
stops it at once, so the edge never computes or sends a timestep the cloud did not need once
the signal is in (a period longer than the round trip to the cloud saves the most).

Frames that arrive while a sample is in flight wait in a queue of `queue_size` frames; when
the queue is full the oldest waiting frame is dropped, so the edge always works on recent
frames. `queue_size: 0` drops every frame that arrives while a sample is in flight. Samples
start only while a cloud subscribes to the spikes topic; until then frames queue the same way.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from neucodex_ros.core import codec
from neucodex_ros.core.errors import ConfigError, ImageError
from neucodex_ros.core.image import image_to_input
from neucodex_ros.core.inference import EdgeRunner
from neucodex_ros.msg import ExitSignal, PackedSpikes
from neucodex_ros.nodes.common import Counters, declare, declare_common, link_qos, load_model, spin


@dataclass
class Frame:
    """A converted camera frame waiting to become a sample."""

    stamp: Time
    frame_id: str
    pixels: np.ndarray  # model input [C, H, W]


@dataclass
class Sample:
    """The sample being computed and sent."""

    sample_id: int
    frame: Frame


class EdgeNode(Node):
    """Runs the head and the spike encoder on camera frames and streams the spikes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('edge_node', **kwargs)
        common = declare_common(self)
        self.source_id: str = declare(self, 'source_id', 'robot0', 'Name of this robot; the '
                                      'cloud keeps separate state per source', read_only=True)
        num_timesteps: int = declare(self, 'num_timesteps', 0, 'T, timesteps per sample; '
                                     "0: the model's own T", low=0, high=1024, read_only=True)
        period: float = declare(self, 'timestep_period', 0.02, 'Seconds between timesteps '
                                'of a sample (the edge timestep clock); longer than the round '
                                'trip to the cloud, an ExitSignal stops the very next timestep',
                                low=0.0005, high=10.0, read_only=True)
        self.queue_size: int = declare(self, 'queue_size', 2, 'Frames that may wait while a '
                                       'sample is in flight; when full the oldest is dropped; '
                                       '0: drop frames that arrive while busy', low=0,
                                       high=1000, read_only=True)
        image_topic: str = declare(self, 'image_topic', 'image', 'sensor_msgs/Image input',
                                   read_only=True)
        image_reliable: bool = declare(self, 'image_reliable', False, 'Subscribe to images '
                                       'reliably; best effort (default) also matches reliable '
                                       'publishers', read_only=True)
        image_depth: int = declare(self, 'image_qos_depth', 20, 'DDS history of the image '
                                   'subscription. Frames leave it at once for the queue above; '
                                   'it only has to outlast a busy moment of this process',
                                   low=1, high=1000, read_only=True)
        self.encoding: str = declare(self, 'encoding', codec.BITPACK, 'Spike payload codec: '
                                     + ', '.join(codec.ENCODINGS), read_only=True)
        if self.encoding not in codec.ENCODINGS:
            raise ConfigError(f'encoding must be one of {codec.ENCODINGS}, got {self.encoding!r}')

        checkpoint = load_model(common)
        self.config = checkpoint.config
        self.model_id = checkpoint.model_id
        self.num_timesteps = num_timesteps or self.config.num_timesteps
        self.runner = EdgeRunner(checkpoint.model)
        self.queue: deque[Frame] = deque()
        self.current: Sample | None = None
        # Increasing across restarts, so a restarted edge never reuses a sample id.
        self.next_sample_id = time.time_ns() // 1000
        self.counters = Counters()

        qos = link_qos(common['reliable'], common['qos_depth'])
        self.spikes_pub = self.create_publisher(PackedSpikes, common['spikes_topic'], qos)
        self.exit_sub = self.create_subscription(ExitSignal, common['exit_topic'],
                                                 self.on_exit, qos)
        image_qos = QoSProfile(depth=image_depth, history=HistoryPolicy.KEEP_LAST,
                               reliability=ReliabilityPolicy.RELIABLE if image_reliable
                               else ReliabilityPolicy.BEST_EFFORT)
        self.image_sub = self.create_subscription(Image, image_topic, self.on_image, image_qos)
        self.timer = self.create_timer(period, self.tick)
        self.get_logger().info(
            f'{self.source_id}: model {self.model_id} ({self.config.backbone}, T='
            f'{self.num_timesteps}), sends {self.encoding} spikes of shape '
            f'{self.runner.model.split_shape} every {period * 1e3:g} ms')

    def on_image(self, msg: Image) -> None:
        """Convert a frame to model input and queue it (the queue policy applies)."""
        self.counters['frames_received'] += 1
        try:
            pixels = image_to_input(msg.data, msg.encoding, msg.height, msg.width, msg.step,
                                    self.config.in_channels, self.config.input_size,
                                    bool(msg.is_bigendian))
        except ImageError as err:
            self.counters['frames_rejected'] += 1
            self.get_logger().warning(f'image rejected: {err}', throttle_duration_sec=5.0)
            return
        frame = Frame(stamp=msg.header.stamp, frame_id=msg.header.frame_id, pixels=pixels)
        busy = self.current is not None or bool(self.queue)
        if busy and self.queue_size == 0:
            self.counters['frames_dropped'] += 1
            return
        self.queue.append(frame)
        if len(self.queue) > max(self.queue_size, 1):
            self.queue.popleft()
            self.counters['frames_dropped'] += 1

    def tick(self) -> None:
        """One beat of the timestep clock: start a sample if idle, then send one timestep."""
        if self.current is None:
            if not self.queue or self.spikes_pub.get_subscription_count() == 0:
                return
            self.current = Sample(sample_id=self.next_sample_id, frame=self.queue.popleft())
            self.next_sample_id += 1
            self.runner.start(self.current.frame.pixels)
            self.counters['samples_started'] += 1
        sample = self.current
        spikes = self.runner.step()
        channels, height, width = spikes.shape
        msg = PackedSpikes(source_id=self.source_id, sample_id=sample.sample_id,
                           timestep=self.runner.timestep - 1,
                           num_timesteps=self.num_timesteps, channels=channels,
                           height=height, width=width, encoding=self.encoding,
                           model_id=self.model_id, data=codec.encode(spikes, self.encoding))
        msg.header.stamp = sample.frame.stamp
        msg.header.frame_id = sample.frame.frame_id
        self.spikes_pub.publish(msg)
        self.counters['timesteps_sent'] += 1
        self.counters['bytes_sent'] += len(msg.data)
        if self.runner.timestep >= self.num_timesteps:
            self.current = None  # all T sent; the cloud decides from here

    def on_exit(self, msg: ExitSignal) -> None:
        """Stop computing and sending the sample the cloud has decided."""
        if msg.source_id != self.source_id:
            return
        self.counters['exit_signals'] += 1
        if self.current is not None and msg.sample_id == self.current.sample_id:
            self.counters['timesteps_saved'] += self.num_timesteps - self.runner.timestep
            self.current = None

    def summary(self) -> str:
        """One line of counters, logged at shutdown."""
        return f'{self.source_id} edge summary: {self.counters.line()}'


def main(args: list[str] | None = None) -> int:
    """Run the edge node until Ctrl-C."""
    return spin(EdgeNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
