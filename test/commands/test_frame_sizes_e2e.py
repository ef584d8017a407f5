"""Camera-sized frames reach the edge and are classified under the default configuration.

scripts/frame_sizes.py runs the nodes (config/split.yaml) and a camera-like publisher in
three processes, as `neucodex-ros` sets them up: with the shipped Fast DDS large-data
profile. Without it (Fast DDS's defaults) a 640x480 rgb8 frame never arrives, and the edge
must at least count and report what the middleware lost.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.ros

SCRIPT = Path(__file__).resolve().parents[2] / 'scripts' / 'frame_sizes.py'


def frame_sizes(*args: str) -> list[dict]:
    """Run the script; its JSON results (its output shown when the test fails)."""
    result = subprocess.run([sys.executable, str(SCRIPT), '--json', *args],
                            capture_output=True, text=True, timeout=600)
    print(result.stdout, result.stderr)
    assert 'Traceback' not in result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_vga_and_full_hd_rgb8_at_15_hz_from_reliable_and_best_effort_cameras() -> None:
    results = frame_sizes('--sizes', '640x480,1920x1080', '--frames', '30', '--rate', '15')
    assert [(r['size'], r['reliability']) for r in results] == [
        ('640x480', 'reliable'), ('1920x1080', 'reliable'),
        ('640x480', 'best_effort'), ('1920x1080', 'best_effort')]
    for r in results:
        assert r['sent'] == 30 and r['answered_ok'] == 30, r
        assert r['edge_input_lost'] == 0, r
        assert r['accuracy'] >= 0.8, r  # real digits, scaled up: the frames are intact


def test_frames_lost_to_a_camera_without_the_profile_are_counted() -> None:
    results = frame_sizes('--no-profile', '--sizes', '640x480', '--reliability',
                          'best_effort', '--frames', '10', '--wait', '5')
    assert results[0]['answered_ok'] < 10  # what the profile fixes
    assert results[0]['edge_input_lost'] > 0, 'a frame that cannot be delivered is visible'
