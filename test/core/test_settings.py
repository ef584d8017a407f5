"""The parameter tables and settings (core/settings.py), and the files that document them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from neucodex_ros.core import codec
from neucodex_ros.core.errors import ConfigError
from neucodex_ros.core.placement import Placement
from neucodex_ros.core.settings import (
    CLOUD,
    COMMON,
    EDGE,
    EDGE_EVENTS,
    MANAGED,
    CloudSettings,
    EdgeSettings,
    Param,
)
from neucodex_ros.resources import node_name, node_sections

ROOT = Path(__file__).resolve().parents[2]
PARAMS_FILES = [ROOT / 'config' / name for name in ('split.yaml', 'resnet18.yaml', 'events.yaml')]
TABLES = {'edge_node': COMMON + EDGE + MANAGED, 'cloud_node': COMMON + CLOUD + MANAGED}


@pytest.mark.parametrize('encoding, reliable, accepted', [
    ('rice-temporal', False, False), ('zstd-temporal', False, False), ('rice', False, True),
    ('auto', False, True), ('rice-temporal', True, True), ('zip', True, False)])
def test_a_temporal_codec_needs_a_reliable_link(encoding: str, reliable: bool,
                                                accepted: bool) -> None:
    """It codes against the previous timestep, which only a reliable link always delivers."""
    given = {'encoding': encoding, 'reliable': reliable}
    if not accepted:
        with pytest.raises(ConfigError, match='reliable: true' if encoding != 'zip'
                           else 'encoding must be one of'):
            EdgeSettings.of(given)
        return
    settings = EdgeSettings.of(given)
    assert settings.codecs and all(reliable or not codec.is_temporal(c) for c in settings.codecs)


@pytest.mark.parametrize(('given', 'error'), [
    ({'pacing': 'fast'}, "pacing must be one of ('adaptive', 'clock'), got 'fast'"),
    ({'radio': 'loud'}, "radio must be one of ('low-power-2.4ghz', 'wifi-phone', 'none') or "
                        "nJ per bit >= 0, got 'loud'"),
    ({'radio': '-3'}, 'radio must be one of'),
    ({'queue_size': -1}, 'queue_size must be in [0, 1000], got -1'),
    ({'deadline': 0.0}, 'deadline must be in'),
])
def test_a_value_the_table_refuses_is_one_line_that_says_what_it_takes(given: dict,
                                                                       error: str) -> None:
    with pytest.raises(ConfigError) as raised:
        EdgeSettings.of(given)
    assert error in str(raised.value)


def test_settings_say_what_the_node_does_with_them() -> None:
    settings = EdgeSettings.of({'radio': '100', 'roi': [1, 2, 3, 4], 'image_fit': 'crop'})
    assert settings.energy.radio_nj_per_bit == 100.0 and settings.where is Placement.AUTO
    assert settings.image_options.roi == (1, 2, 3, 4)
    assert EdgeSettings.of({'layers': 'all', 'placement': 'split'}).where is Placement.LOCAL
    assert EdgeSettings.of({}).source('/a/b/') == 'a_b'
    assert EdgeSettings.of({}).source('/') == 'robot0'
    assert EdgeSettings.of({'source_id': 'r9'}).source('/a') == 'r9'
    with pytest.raises(ConfigError, match='at most 64: set a shorter source_id'):
        EdgeSettings.of({}).source('/' + 'n' * 65)  # the clouds would reject every message
    with pytest.raises(AttributeError):
        EdgeSettings.of({}).window_mode  # noqa: B018 (only on event input)
    assert EdgeSettings.of({}, events=True).window_mode == 'duration'
    limits = CloudSettings.of({'batch_wait_ms': 5.0, 'qos_depth': 7}).limits
    assert limits.batch_wait == 0.005 and limits.inbox_depth == 7


def test_every_parameter_is_described_once_and_its_default_accepted() -> None:
    for table in (COMMON + EDGE + EDGE_EVENTS + MANAGED, COMMON + CLOUD + MANAGED):
        names = [p.name for p in table]
        assert len(names) == len(set(names))
        for param in table:
            assert len(param.description) > 15, param.name
            assert param.check(param.default) == param.default
            assert (param.low is None) == (param.high is None), param.name
    assert [p.name for p in COMMON + CLOUD if p.dynamic] == ['alpha']


def test_a_range_needs_a_number() -> None:
    with pytest.raises(ConfigError):
        Param('x', 1, 'a number in a range', 0, 10).check(11)


def comments(params_file: Path, node: str) -> dict[str, str]:
    """Each parameter's YAML comment in a node's section, continuation lines included."""
    found: dict[str, str] = {}
    section, name = None, None
    for line in params_file.read_text().splitlines():
        if line and not line.startswith(' '):  # a node's section
            section, name = node_name(line.rstrip(':')), None
        elif section == node and (key := re.match(r'\s+(\w+):(?!\s*$)', line)):
            name = key.group(1)
            found[name] = line.partition('#')[2]
        elif section == node and name and line.strip().startswith('#'):
            found[name] += ' ' + line.strip().lstrip('#')
    return found


@pytest.mark.parametrize('params_file', PARAMS_FILES, ids=[p.name for p in PARAMS_FILES])
def test_the_params_files_set_the_tables_parameters_and_name_every_choice(
        params_file: Path) -> None:
    """Drift check: each node's section sets exactly its table's parameters.

    (The event input's too where the model takes events.) A parameter with choices is
    commented with every one of them.
    """
    sections = node_sections(yaml.safe_load(params_file.read_text()))
    for node, table in TABLES.items():
        events = node == 'edge_node' and 'window_mode' in sections[node]
        table = table + (EDGE_EVENTS if events else ())
        assert set(sections[node]) == {p.name for p in table}, f'{params_file.name}: {node}'
        commented = comments(params_file, node)
        for param in table:
            if param.choices is None:
                continue
            assert param.name in commented, f'{params_file.name}: {param.name} has no comment'
            words = set(re.findall(r'[\w.-]+', commented[param.name]))
            assert set(param.choices) <= words, f'{params_file.name}: {param.name} comment ' \
                f'lacks {sorted(set(param.choices) - words)}'


def test_the_readme_names_every_parameter() -> None:
    """README drift check: each parameter of the nodes is named in the README."""
    readme = (ROOT / 'README.md').read_text()
    for param in COMMON + EDGE + EDGE_EVENTS + MANAGED + CLOUD:
        assert f'`{param.name}' in readme, param.name
