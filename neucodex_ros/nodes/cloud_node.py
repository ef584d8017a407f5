"""Cloud node (smoke stage): receives spike tensors and decides each sample after T timesteps."""

from __future__ import annotations

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from neucodex_ros.msg import ExitSignal, PackedSpikes, Prediction
from neucodex_ros.nodes.common import CONTROL_QOS, SPIKES_QOS


class CloudNode(Node):
    """Counts the timesteps of each sample; at T answers with an ExitSignal and a Prediction."""

    def __init__(self) -> None:
        super().__init__('cloud_node')
        self.spikes_sub = self.create_subscription(PackedSpikes, 'spikes', self.on_spikes,
                                                   SPIKES_QOS)
        self.exit_pub = self.create_publisher(ExitSignal, 'exit_signal', CONTROL_QOS)
        self.prediction_pub = self.create_publisher(Prediction, 'prediction', CONTROL_QOS)
        self.received: dict[tuple[str, int], int] = {}

    def on_spikes(self, msg: PackedSpikes) -> None:
        """Account one timestep; decide the sample when its last timestep arrives."""
        key = (msg.source_id, msg.sample_id)
        self.received[key] = self.received.get(key, 0) + len(msg.data)
        if msg.timestep + 1 < msg.num_timesteps:
            return
        exit_signal = ExitSignal(header=msg.header, source_id=msg.source_id,
                                 sample_id=msg.sample_id, timesteps_used=msg.num_timesteps,
                                 reason=ExitSignal.REASON_REACHED_T)
        self.exit_pub.publish(exit_signal)
        self.prediction_pub.publish(Prediction(
            header=msg.header, source_id=msg.source_id, sample_id=msg.sample_id, label=-1,
            timesteps_used=msg.num_timesteps, num_timesteps=msg.num_timesteps,
            bytes_received=self.received.pop(key), status='no_model'))


def main(args: list[str] | None = None) -> None:
    """Run the cloud node until Ctrl-C."""
    try:
        with rclpy.init(args=args):
            rclpy.spin(CloudNode())
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


if __name__ == '__main__':
    main()
