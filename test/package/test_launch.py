"""Launch files, checked statically (test/ros_tools runs them with the real ros2 launch).

They must parse, start only console-script executables of this package, reference params
files and launch files that exist, and name nodes that have a section in the params file.
"""

from __future__ import annotations

import ast
import configparser
from pathlib import Path

import pytest
import yaml

from neucodex_ros.resources import node_sections

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_FILES = sorted((ROOT / 'launch').glob('*.launch.py'))
ALLOWED_IMPORTS = ('os', 'launch', 'launch_ros', 'ament_index_python', 'neucodex_ros')


def console_scripts() -> set[str]:
    config = configparser.ConfigParser()
    config.read(ROOT / 'setup.cfg')
    lines = config['options.entry_points']['console_scripts'].strip().splitlines()
    return {line.split('=')[0].strip() for line in lines}


def calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, 'id', getattr(node.func, 'attr', None)) == name]


def nodes(tree: ast.AST) -> list[ast.Call]:
    """The node actions: launch_ros Node or LifecycleNode."""
    return calls(tree, 'Node') + calls(tree, 'LifecycleNode')


def keyword(call: ast.Call, name: str) -> object:
    for kw in call.keywords:
        if kw.arg == name:
            return ast.literal_eval(kw.value) if isinstance(kw.value, ast.Constant) else kw.value
    return None


def share_paths(tree: ast.AST) -> list[Path]:
    """Files named as os.path.join(<share dir>, 'folder', 'file')."""
    paths = []
    for call in calls(tree, 'join'):
        parts = [a.value for a in call.args[1:] if isinstance(a, ast.Constant)]
        if len(parts) == len(call.args) - 1 and parts:
            paths.append(ROOT.joinpath(*parts))
    return paths


def test_there_are_launch_files_for_the_split_and_each_side() -> None:
    assert {p.name for p in LAUNCH_FILES} >= {'split.launch.py', 'edge.launch.py',
                                              'cloud.launch.py'}


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert 'generate_launch_description' in functions
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom | ast.Import):
            module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            assert module.split('.')[0] in ALLOWED_IMPORTS, f'{path.name} imports {module}'
    params = node_sections(yaml.safe_load((ROOT / 'config' / 'split.yaml').read_text()))
    for call in nodes(tree):
        assert keyword(call, 'package') == 'neucodex_ros'
        assert keyword(call, 'executable') in console_scripts()
        assert keyword(call, 'name') in params, 'every node has a section in the params file'
        assert keyword(call, 'parameters') is not None, 'nodes are configured from YAML'
    for argument in calls(tree, 'DeclareLaunchArgument'):
        assert keyword(argument, 'description'), 'launch arguments are described'
    referenced = share_paths(tree)
    assert referenced, f'{path.name} references its params file'
    for file in referenced:
        assert file.is_file(), f'{path.name} references {file.relative_to(ROOT)}'
    starts = nodes(tree) or calls(tree, 'IncludeLaunchDescription')
    assert starts, f'{path.name} starts nothing'
    for call in nodes(tree):
        assert keyword(call, 'respawn') is True, 'a node that dies is started again'
        assert keyword(call, 'respawn_delay') > 0, '... after a delay, not in a tight loop'
        assert ast.unparse(keyword(call, 'additional_env')) == 'stopping_with_this_process()', \
            'a node stops when launch ends, however it ends'
    if nodes(tree):
        assert ROOT / 'config' / 'fastdds_large_data.xml' in referenced
        profile = [call for call in calls(tree, 'SetEnvironmentVariable')
                   if call.args and getattr(call.args[0], 'value', None)
                   == 'FASTDDS_DEFAULT_PROFILES_FILE']
        assert profile, 'nodes start with the large-data Fast DDS profile'


def declared(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {call.args[0].value for call in calls(tree, 'DeclareLaunchArgument')}


def test_the_edge_inputs_are_launch_arguments_that_remap_its_default_topics() -> None:
    """`image_topic:=` / `events_topic:=` remap the names the edge listens on by default."""
    from neucodex_ros.core import topics

    edge = ROOT / 'launch' / 'edge.launch.py'
    tree = ast.parse(edge.read_text())
    (node,) = nodes(tree)
    remapped = {pair.elts[0].value for pair in keyword(node, 'remappings').elts
                if isinstance(pair, ast.Tuple)}  # (and *extra: the `remappings` argument)
    defaults = node_sections(yaml.safe_load((ROOT / 'config' / 'split.yaml').read_text()))[
        'edge_node']
    assert remapped == {defaults['image_topic'], f'{defaults["image_topic"]}/compressed',
                        topics.EVENTS}
    assert {'image_topic', 'events_topic'} <= declared(edge)
    # split.launch.py declares and forwards every argument of edge.launch.py
    assert declared(edge) <= declared(ROOT / 'launch' / 'split.launch.py')
    split_text = (ROOT / 'launch' / 'split.launch.py').read_text()
    assert all(f"'{name}'" in split_text for name in declared(edge))


def test_launch_arguments_set_autostart_and_a_given_checkpoint_over_the_params_file() -> None:
    from neucodex_ros.processes import launch_overrides

    assert launch_overrides('false', '') == {'autostart': False}  # '': the file's checkpoint
    assert launch_overrides('True', 'resnet18_digits') == {'autostart': True,
                                                           'checkpoint': 'resnet18_digits'}
    assert launch_overrides('1', '') == {'autostart': True}
