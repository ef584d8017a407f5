"""The benchmark's deployments, and what one run of it is given.

Each mode runs the real nodes as separate processes over real rclpy, on the same held-out
digits (`--input images`) or their simulated DVS recordings (`--input events`):

  edge_only       the whole SNN on the edge for all T; nothing sent
  edge_only_exit  the whole SNN on the edge with the same early exit (α) run there: the
                  strongest thing a robot can do alone
  cloud_only      the raw input sent (images as JPEG quality 90, as image_transport's
                  compressed transport would; events as their EventPackets); the whole SNN
                  in the cloud for all T
  split_float     the head on the edge, its features sent as float32 every timestep, all T
  spikebottlenet  head + encoder on the edge, spikes bit-packed, all T, no early exit
  neucodex        head + encoder, spikes in the configured codec, timesteps paced by the
                  edge's pacing rule, early exit at α (`placement: split`: always split)
  neucodex_auto   the same, with `placement: auto`: each sample split or run whole on the
                  edge, whichever the edge measures faster; what the cloud does not answer
                  by the deadline, the edge answers itself
  neucodex_cascade  `placement: cascade`: each sample runs whole on the edge for its first
                  timestep(s) with the early exit; one not decided goes on in the cloud
                  from the spikes the edge made (nothing computed twice on the robot)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Mode:
    """One deployment: what the edge node runs, where, and what the cloud node does."""

    name: str
    edge: dict[str, Any]  # edge_node parameters
    cloud: dict[str, Any] | None  # cloud_node parameters; None: no cloud node
    early_exit: bool  # the exit threshold is the run's α (else 1: all T)
    edge_node_host: str = 'edge'  # cloud-only runs the whole network on the cloud host

    @property
    def layers(self) -> str | None:
        """What the robot computes: edge_node's `layers`, or None when it computes nothing."""
        return None if self.edge_node_host == 'cloud' else self.edge['layers']


MODES = (
    Mode('edge_only', {'layers': 'all'}, None, early_exit=False),
    Mode('edge_only_exit', {'layers': 'all'}, None, early_exit=True),
    Mode('cloud_only', {'layers': 'all'}, None, early_exit=False, edge_node_host='cloud'),
    Mode('split_float', {'layers': 'head', 'encoding': 'float32', 'placement': 'split'}, {},
         early_exit=False),
    Mode('spikebottlenet', {'layers': 'split', 'encoding': 'bitpack', 'placement': 'split'},
         {}, early_exit=False),
    Mode('neucodex', {'layers': 'split', 'placement': 'split'}, {}, early_exit=True),
    Mode('neucodex_auto', {'layers': 'split', 'placement': 'auto'}, {}, early_exit=True),
    Mode('neucodex_cascade', {'layers': 'split', 'placement': 'cascade'}, {}, early_exit=True),
)

MODE_BY_NAME = {mode.name: mode for mode in MODES}

#: The modes a grid point compares (the robot alone, the split, and the two ways of choosing
#: between them): the first two always, the others if in --modes.
GRID_MODES = ('edge_only_exit', 'neucodex', 'neucodex_auto', 'neucodex_cascade')

JPEG_QUALITY = 90

SCHEDULED_PERIOD = 0.35  # s: at least this between samples' starts on a --link-schedule

# Seconds of quiet that close an event window (the camera pauses after each sample), the same
# in every mode: above the 75 ms a 25% CPU quota can hold the edge, or a window would be cut
# while its last packets wait. It is part of every event latency.
FLUSH_AFTER = 0.25



@dataclass(frozen=True)
class Options:
    """What to measure: the `bench` command's options, parsed (its help says what each is)."""

    input: str  # 'images' or 'events'
    samples: int
    rounds: int  # the samples in this many rounds, every mode in turn in each
    warmup: int  # samples played first in every mode run, not recorded
    modes: tuple[str, ...]
    checkpoint: str | None  # overrides the params file's
    alpha: float | None  # None: the params file's cloud alpha
    bandwidth: float  # Mbit/s
    delay: float  # ms one way
    link_schedule: str
    edge_cpu: float
    edge: dict[str, Any]  # edge_node parameters of the split modes
    sweep: tuple[float, ...]  # bandwidths
    grid_cpu: tuple[float, ...]
    grid_delay: tuple[float, ...]
    pacing_sweep: tuple[str, ...]  # 'clock' or a timestep_cost
    sweep_samples: int
    loopback: bool
    radio: str | float
    params_file: Path | None  # None: the shipped one for the input
    timeout: float
    out: Path
    kill_cloud_at: int | None = None  # the failover scenario (bench/failover.py) instead
    clouds: int = 2  # ... its clouds
    rate: float = 10.0  # ... its frames per second


@dataclass(frozen=True)
class Run:
    """What every mode of this benchmark shares."""

    options: Options
    params_file: Path
    alpha: float
    edge_overrides: dict[str, Any]
