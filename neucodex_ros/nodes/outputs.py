"""What a robot's stack reads of each sample: its Prediction, a Classification, a picture.

Every sample the edge starts ends in exactly one Prediction (its answer, or why there is
none); beside it, for any vision_msgs consumer, a vision_msgs/Classification (no results if
it failed) and, if asked for, the sample's input with the answer drawn on it (core/overlay.py)
for RViz or Foxglove.
"""

from __future__ import annotations

import numpy as np
from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import Classification, ObjectHypothesis

from neucodex_ros.core.edge_loop import Outcome
from neucodex_ros.core.overlay import annotated, answer_lines
from neucodex_ros.core.settings import EdgeSettings
from neucodex_ros.msg import Prediction
from neucodex_ros.qos import OVERRIDES, stream_qos


class Outputs:
    """The edge's publishers of answers, as the settings ask for them."""

    def __init__(self, node: Node, settings: EdgeSettings, class_names: tuple[str, ...],
                 num_timesteps: int, source_id: str) -> None:
        qos: QoSProfile = stream_qos(settings.reliable, settings.qos_depth)
        self.class_names, self.num_timesteps = class_names, num_timesteps
        self.source_id, self.top_k = source_id, settings.classification_top_k
        self.prediction = node.create_publisher(Prediction, settings.prediction_topic, qos,
                                                qos_overriding_options=OVERRIDES)
        self.classification = node.create_publisher(
            Classification, settings.classification_topic, qos,
            qos_overriding_options=OVERRIDES) if settings.classification_topic else None
        self.annotated = node.create_publisher(
            Image, settings.annotated_topic, stream_qos(True, 5),
            qos_overriding_options=OVERRIDES) if settings.annotated_topic else None

    @property
    def wants_pictures(self) -> bool:
        """Whether inputs should keep an RGB picture of themselves (it costs a copy)."""
        return self.annotated is not None

    def publish(self, header: Header, sample_id: int, answer: Outcome, here: bool,
                picture: np.ndarray | None) -> None:
        """One sample's answer: computed `here` (the whole network on this node) or split."""
        label = answer.label
        prediction = Prediction(
            header=header, source_id=self.source_id, sample_id=sample_id, label=label,
            label_name=self.class_names[label] if label >= 0 else '',
            confidence=answer.confidence, probabilities=answer.probabilities,
            timesteps_used=answer.timesteps_used, num_timesteps=self.num_timesteps,
            timesteps_lost=answer.timesteps_lost, bytes_received=answer.bytes_received,
            status=answer.status, computed_on='' if label < 0 else
            Prediction.COMPUTED_ON_EDGE if here else Prediction.COMPUTED_ON_SPLIT)
        self.prediction.publish(prediction)
        if self.classification is not None:
            ranked = sorted(enumerate(answer.probabilities), key=lambda pair: -pair[1])
            self.classification.publish(Classification(header=header, results=[
                ObjectHypothesis(class_id=self.class_names[index], score=float(score))
                for index, score in ranked[:self.top_k or None]]))
        if self.annotated is not None and picture is not None:
            drawn = annotated(picture, answer_lines(
                prediction.label_name, answer.confidence, answer.timesteps_used,
                self.num_timesteps, 'on the robot' if here else 'split: robot + cloud',
                answer.status))
            self.annotated.publish(Image(
                header=header, height=drawn.shape[0], width=drawn.shape[1], encoding='rgb8',
                step=drawn.shape[1] * 3, data=drawn.tobytes()))
