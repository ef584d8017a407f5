"""Where the package's own files are: launch files, parameter files, the shipped model."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

PACKAGE = 'neucodex_ros'


def package_share() -> Path:
    """share/neucodex_ros (config/, launch/, package.xml) for this installation.

    A checkout (or editable install) uses the source tree, which has the same layout; a
    colcon install is found through the ament index; a pip install under sys.prefix.
    """
    source = Path(__file__).resolve().parents[1]
    if (source / 'package.xml').is_file():
        return source
    try:
        from ament_index_python.packages import get_package_share_directory
        return Path(get_package_share_directory(PACKAGE))
    except (ImportError, LookupError, KeyError, ValueError):
        return Path(sys.prefix) / 'share' / PACKAGE


def installed_share_dirs(package: str) -> list[Path]:
    """share/<package> under every ament prefix (a ROS install), then under sys.prefix (pip)."""
    prefixes = [p for p in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep) if p]
    return [Path(prefix) / 'share' / package for prefix in [*prefixes, sys.prefix]]


def shown_path(path: Path) -> str:
    """A path as a report shows it: relative to the package's share folder when inside it.

    So a result file says `config/split.yaml`, not where this machine keeps it.
    """
    try:
        return str(path.resolve().relative_to(package_share().resolve()))
    except ValueError:
        return str(path)


def default_params_file() -> Path:
    """The parameters of the split (config/split.yaml)."""
    return package_share() / 'config' / 'split.yaml'


def node_name(key: str) -> str:
    """The node a section of a parameters file is for.

    `edge_node`, `/edge_node` and `/**/edge_node` (any namespace: the shipped files' form)
    are all for edge_node.
    """
    return key.rsplit('/', 1)[-1]


def node_sections(document: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """A parameters file (as YAML loads it) as {node name: its ros__parameters}."""
    return {node_name(key): dict((section or {}).get('ros__parameters') or {})
            for key, section in (document or {}).items()}


def read_params_file(path: Path) -> dict[str, dict[str, Any]]:
    """A parameters file as {node name: its ros__parameters}; ConfigError if it is not one.

    The nodes would fail on it one by one, each with a traceback, and `split` would start
    them again and again: it is checked once, before anything starts.
    """
    import yaml

    from neucodex_ros.core.errors import ConfigError

    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, 'problem_mark', None)
        where = f' at line {mark.line + 1}, column {mark.column + 1}' if mark else ''
        raise ConfigError(f'{path} is not valid YAML{where}: '
                          f'{getattr(err, "problem", None) or err}') from None
    if not isinstance(document, dict):
        raise ConfigError(f'{path} must map node names to their parameters, as '
                          'config/split.yaml does')
    for key, section in document.items():
        if not isinstance(section, dict) or not isinstance(section.get('ros__parameters'),
                                                            dict):
            raise ConfigError(f'{path}: section {key!r} needs its parameters under '
                              f'"ros__parameters:" ({key}: ros__parameters: name: value), as '
                              'config/split.yaml has them')
    return node_sections(document)


def default_parameter(node: str, name: str) -> object:
    """A node's parameter as set in the default parameters file."""
    return read_params_file(default_params_file())[node][name]


def large_data_profile() -> Path:
    """The Fast DDS profile for camera-sized messages (config/fastdds_large_data.xml)."""
    return package_share() / 'config' / 'fastdds_large_data.xml'


#: Where Fast DDS looks for a default profile (the second is its older name, still read).
PROFILE_VARIABLES = ('FASTDDS_DEFAULT_PROFILES_FILE', 'FASTRTPS_DEFAULT_PROFILES_FILE')


def use_large_data_profile(environ: MutableMapping[str, str]) -> None:
    """Point Fast DDS at large_data_profile() in `environ`, unless it names a profile already.

    Set before rclpy starts in a process and inherited by its children: the camera-sized
    frames a process sends need it in that process (config/fastdds_large_data.xml says why).
    """
    if not any(environ.get(name) for name in PROFILE_VARIABLES):
        environ[PROFILE_VARIABLES[0]] = str(large_data_profile())


def events_params_file() -> Path:
    """The parameters of the split on an event camera (config/events.yaml)."""
    return package_share() / 'config' / 'events.yaml'
