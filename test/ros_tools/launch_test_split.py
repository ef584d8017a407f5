"""split.launch.py tested with launch_testing, as a robot stack using our nodes tests its own.

Run: `launch_test test/ros_tools/launch_test_split.py` (in a colcon package of yours:
`add_launch_test()` in CMakeLists.txt, then `colcon test`); test_launch_testing_e2e.py runs
this file so. The launch brings up both nodes; the tests below run while they are up; the
post-shutdown test checks how they stopped.
"""

import os
import time
import unittest

import launch
import launch_testing
import launch_testing.actions
import launch_testing.asserts
import pytest
import rclpy
from ament_index_python.packages import get_package_share_directory
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from vision_msgs.msg import Classification

from neucodex_ros.core.datasets.digits import held_out_digits
from neucodex_ros.msg import Prediction


@pytest.mark.launch_test
def generate_test_description():
    """The split as `ros2 launch neucodex_ros split.launch.py` starts it."""
    split = os.path.join(get_package_share_directory('neucodex_ros'), 'launch',
                         'split.launch.py')
    return launch.LaunchDescription([
        IncludeLaunchDescription(PythonLaunchDescriptionSource(split)),
        launch_testing.actions.ReadyToTest(),
    ])


class TestTheSplitAnswersACamera(unittest.TestCase):
    """While the nodes run."""

    @classmethod
    def setUpClass(cls):
        rclpy.init()
        cls.node = rclpy.create_node('camera')

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.shutdown()

    def test_the_edge_finds_the_cloud(self, proc_output):
        proc_output.assertWaitFor('a cloud of model', timeout=120, stream='stderr')

    def test_a_digit_gets_a_prediction_and_a_classification(self):
        predictions, classifications = [], []
        self.node.create_subscription(Prediction, 'prediction', predictions.append,
                                      qos_profile_sensor_data)
        self.node.create_subscription(Classification, 'classification',
                                      classifications.append, qos_profile_sensor_data)
        camera = self.node.create_publisher(Image, 'image', 10)
        images, labels = held_out_digits(10)
        deadline = time.monotonic() + 120
        sent = 0
        while not (predictions and classifications):  # a camera goes on sending frames
            self.assertLess(time.monotonic(), deadline, 'no answer in 120 s')
            frame = Image(height=28, width=28, encoding='mono8', step=28,
                          data=images[sent % 10].tobytes())
            frame.header.stamp = self.node.get_clock().now().to_msg()
            camera.publish(frame)
            sent += 1
            end = time.monotonic() + 2.0
            while not (predictions and classifications) and time.monotonic() < end:
                rclpy.spin_once(self.node, timeout_sec=0.1)
        prediction = predictions[0]
        self.assertEqual(prediction.status, Prediction.STATUS_OK)
        self.assertIn(prediction.label, labels.tolist())
        self.assertEqual(classifications[0].results[0].class_id, prediction.label_name)


@launch_testing.post_shutdown_test()
class TestTheNodesStopCleanly(unittest.TestCase):
    """After the launch is stopped (SIGINT to every node)."""

    def test_every_node_exits_with_0(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)

    def test_each_says_what_it_did(self, proc_output):
        for summary in ('cloud summary', 'edge summary'):
            self.assertTrue(any(summary in text.text.decode() for text in proc_output),
                            summary)
