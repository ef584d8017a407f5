"""The ROS-free core: model, codec, exit policy, data, training. Nothing here imports rclpy."""

import logging

# spikingjelly registers kernels at import, and torch then warns, twice per process, that
# Triton (a GPU compiler) is missing: always true on CPU-only installs, and never actionable.
logging.getLogger('torch._library.triton').setLevel(logging.ERROR)

__all__: list[str] = []
