"""The ROS-free core: nothing here imports rclpy.

The model and its runners, codec, exit policy, the edge's and the cloud's rules as state
machines (edge_loop.py, cloud_sessions.py), the parameters as tables (settings.py), event
decoding, energy, data and training.
"""

import logging

# spikingjelly registers kernels at import, and torch then warns, twice per process, that
# Triton (a GPU compiler) is missing: always true on CPU-only installs, and never actionable.
logging.getLogger('torch._library.triton').setLevel(logging.ERROR)

__all__: list[str] = []
