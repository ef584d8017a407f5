"""Edge node (smoke stage): sends synthetic spike tensors, one PackedSpikes per timestep.

It stops a sample as soon as the cloud's ExitSignal for it arrives, then starts the next.
"""

from __future__ import annotations

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from neucodex_ros.msg import ExitSignal, PackedSpikes, Prediction
from neucodex_ros.nodes.common import CONTROL_QOS, SPIKES_QOS, declare


class EdgeNode(Node):
    """Publishes one synthetic sample at a time and stops it on the cloud's ExitSignal."""

    def __init__(self) -> None:
        super().__init__('edge_node')
        self.source_id: str = declare(self, 'source_id', 'robot0', 'Name of this robot')
        self.num_timesteps: int = declare(self, 'num_timesteps', 4, 'Timesteps T per sample',
                                          low=1, high=64)
        self.shape = tuple(declare(self, name, size, f'Spike tensor {name}', low=1, high=512)
                           for name, size in (('channels', 8), ('height', 8), ('width', 8)))
        period: float = declare(self, 'timestep_period', 0.01, 'Seconds between timesteps',
                                low=0.0, high=10.0)
        self.spikes_pub = self.create_publisher(PackedSpikes, 'spikes', SPIKES_QOS)
        self.exit_sub = self.create_subscription(ExitSignal, 'exit_signal', self.on_exit,
                                                 CONTROL_QOS)
        self.prediction_sub = self.create_subscription(Prediction, 'prediction',
                                                       self.on_prediction, CONTROL_QOS)
        self.timer = self.create_timer(period, self.step)
        self.rng = np.random.default_rng(0)
        self.sample_id = 0
        self.timestep = 0
        self.stopped = False

    def step(self) -> None:
        """Send the next timestep of the current sample, or start a new sample."""
        if self.spikes_pub.get_subscription_count() == 0:
            return
        if self.stopped:
            self.sample_id += 1
            self.timestep = 0
            self.stopped = False
        if self.timestep >= self.num_timesteps:
            return  # wait for the cloud's decision
        spikes = self.rng.random(self.shape) < 0.1
        msg = PackedSpikes(source_id=self.source_id, sample_id=self.sample_id,
                           timestep=self.timestep, num_timesteps=self.num_timesteps,
                           channels=self.shape[0], height=self.shape[1], width=self.shape[2],
                           encoding='bitpack', model_id='smoke',
                           data=np.packbits(spikes).tobytes())
        msg.header.stamp = self.get_clock().now().to_msg()
        self.spikes_pub.publish(msg)
        self.timestep += 1

    def on_exit(self, msg: ExitSignal) -> None:
        """Stop the current sample when the cloud has decided."""
        if msg.source_id == self.source_id and msg.sample_id == self.sample_id:
            self.stopped = True

    def on_prediction(self, msg: Prediction) -> None:
        """Log the cloud's outcome for one of our samples."""
        if msg.source_id == self.source_id:
            self.get_logger().info(
                f'sample {msg.sample_id}: label={msg.label} status={msg.status} '
                f'timesteps={msg.timesteps_used}/{msg.num_timesteps} '
                f'bytes={msg.bytes_received}')


def main(args: list[str] | None = None) -> None:
    """Run the edge node until Ctrl-C."""
    try:
        with rclpy.init(args=args):
            rclpy.spin(EdgeNode())
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


if __name__ == '__main__':
    main()
