"""Readers of every supported format read back exactly what was written; splits are sane."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from tiny_data import make_all, make_cifar10, make_event_folder, make_image_folder, random_events

from neucodex_ros.core.datasets import (
    PARTS,
    DataOptions,
    classes_in_turn,
    load_dataset,
    stratified_split,
)
from neucodex_ros.core.datasets.aedat3 import read_aedat3, write_aedat3
from neucodex_ros.core.datasets.atis import read_atis_bin, write_atis_bin
from neucodex_ros.core.datasets.cifar10 import read_cifar10
from neucodex_ros.core.datasets.image_folder import class_files, read_image
from neucodex_ros.core.errors import DatasetError, EventError
from neucodex_ros.core.events import make_events
from neucodex_ros.core.events.frames import FrameSpec

SHARED_NMNIST = Path(__file__).resolve().parents[4] / 'shared/data/nmnist_small/train'
RNG = np.random.default_rng(5)


def test_atis_bin_round_trip_with_overflow_markers(tmp_path: Path) -> None:
    events = random_events(RNG, 3000, 180, 240, duration_us=40_000_000)  # > 2^23 us
    write_atis_bin(tmp_path / 'a.bin', events)
    assert (read_atis_bin(tmp_path / 'a.bin') == events).all()
    assert (tmp_path / 'a.bin').stat().st_size > 5 * len(events)  # markers were needed


def test_atis_bin_errors(tmp_path: Path) -> None:
    (tmp_path / 'cut.bin').write_bytes(bytes(12))
    with pytest.raises(EventError, match='whole number of 5-byte events'):
        read_atis_bin(tmp_path / 'cut.bin')
    with pytest.raises(EventError, match='y < 240'):
        write_atis_bin(tmp_path / 'x.bin', make_events([1], [240], [0], [5]))


@pytest.mark.skipif(not SHARED_NMNIST.is_dir(), reason='needs the real N-MNIST files in '
                    '../shared/data (not part of the repository)')
def test_real_nmnist_file_reads_and_rewrites_byte_for_byte(tmp_path: Path) -> None:
    original = SHARED_NMNIST / '1.bin'
    events = read_atis_bin(original)
    assert len(events) == original.stat().st_size // 5
    assert events['x'].max() < 34 and events['y'].max() < 34
    assert (np.diff(events['t']) >= 0).all()
    write_atis_bin(tmp_path / 'copy.bin', events)
    assert (tmp_path / 'copy.bin').read_bytes() == original.read_bytes()


def test_aedat3_round_trip_across_timestamp_overflow(tmp_path: Path) -> None:
    events = random_events(RNG, 5000, 128, 128, duration_us=5_000_000_000)  # > 2^31 us
    write_aedat3(tmp_path / 'a.aedat', events, packet_size=700)
    assert (read_aedat3(tmp_path / 'a.aedat') == events).all()


def test_aedat3_drops_invalid_events_and_skips_other_packets(tmp_path: Path) -> None:
    events = random_events(RNG, 10, 128, 128)
    write_aedat3(tmp_path / 'a.aedat', events)
    blob = bytearray((tmp_path / 'a.aedat').read_bytes())
    header_end = blob.index(b'#!END-HEADER\r\n') + len(b'#!END-HEADER\r\n')
    blob[header_end + 28] &= 0xFE  # clear the valid bit of the first event
    other = (2).to_bytes(2, 'little') + bytes(2) + (4).to_bytes(4, 'little') + bytes(8) + \
        (1).to_bytes(4, 'little') + bytes(8) + bytes(4)  # a 1-event packet of type 2
    (tmp_path / 'b.aedat').write_bytes(bytes(blob) + other)
    assert (read_aedat3(tmp_path / 'b.aedat') == events[1:]).all()


def test_aedat3_errors(tmp_path: Path) -> None:
    write_aedat3(tmp_path / 'a.aedat', random_events(RNG, 10, 128, 128))
    blob = (tmp_path / 'a.aedat').read_bytes()
    (tmp_path / 'cut.aedat').write_bytes(blob[:-3])
    with pytest.raises(EventError, match='runs past the end'):
        read_aedat3(tmp_path / 'cut.aedat')
    (tmp_path / 'other.aedat').write_bytes(b'#!AER-DAT2.0\r\n' + blob[14:])
    with pytest.raises(EventError, match='not an AEDAT 3.1 file'):
        read_aedat3(tmp_path / 'other.aedat')


def test_cifar10_batches_read_back_exactly(tmp_path: Path) -> None:
    images, labels = make_cifar10(tmp_path, per_class=3)
    read, read_labels, names = read_cifar10(tmp_path, train=True)
    order = np.argsort(np.concatenate([np.arange(len(labels))[i::5] for i in range(5)]),
                       kind='stable')
    np.testing.assert_array_equal(read[order], images)
    np.testing.assert_array_equal(read_labels[order], labels)
    assert names == [f'class{i}' for i in range(10)]


def test_cifar10_reader_refuses_code_in_pickles(tmp_path: Path) -> None:
    make_cifar10(tmp_path, per_class=1)

    class Evil:
        def __reduce__(self):
            return (print, ('pwned',))

    with (tmp_path / 'test_batch').open('wb') as file:
        pickle.dump({b'data': Evil(), b'labels': []}, file)
    with pytest.raises(DatasetError, match='refusing to load builtins.print'):
        read_cifar10(tmp_path, train=False)


def test_image_folder(tmp_path: Path) -> None:
    written = make_image_folder(tmp_path, ['BACKGROUND_Google', 'b', 'a'], 2, 24)
    files, labels, names = class_files(tmp_path, {'.png'})
    assert names == ['a', 'b'] and labels.tolist() == [0, 0, 1, 1]
    for path in files:
        np.testing.assert_array_equal(read_image(path, (24, 24)), written[path])
    assert read_image(files[0], (12, 16)).shape == (12, 16, 3)


def test_stratified_split_is_disjoint_complete_and_fixed() -> None:
    labels = np.repeat(np.arange(4), [10, 20, 30, 40])
    parts = stratified_split(labels, {'train': 0.7, 'val': 0.1, 'test': 0.2}, seed=3)
    joined = np.concatenate(list(parts.values()))
    assert sorted(joined.tolist()) == list(range(100))  # nothing dropped, nothing twice
    tiny = stratified_split(np.repeat([0, 1], [5, 3]), {'a': 0.7, 'b': 0.1, 'c': 0.2}, 0)
    assert all(len(tiny[p]) >= 2 for p in 'abc')  # every part sees both classes
    assert sum(len(v) for v in tiny.values()) == 8
    for label, size in zip(range(4), [10, 20, 30, 40], strict=True):
        assert (labels[parts['test']] == label).sum() == round(0.2 * size)
    again = stratified_split(labels, {'train': 0.7, 'val': 0.1, 'test': 0.2}, seed=3)
    assert all((parts[p] == again[p]).all() for p in parts)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_all(tmp_path_factory.mktemp('datasets'))


@pytest.mark.parametrize('name, shape, classes', [
    ('cifar10', (3, 32, 32), 10), ('caltech101', (3, 64, 64), 3),
    ('image_folder', (3, 64, 64), 2), ('nmnist', (4, 2, 34, 34), 3),
    ('ncaltech101', (4, 2, 90, 120), 3),
    ('cifar10dvs', (4, 2, 64, 64), 3)])
def test_every_dataset_loads_every_part(tiny: dict[str, Path], name: str, shape: tuple,
                                        classes: int) -> None:
    sizes = {}
    for part in PARTS:
        dataset, spec = load_dataset(name, tiny[name], part, DataOptions(FrameSpec(4)))
        sizes[part] = len(dataset)
        x, label = dataset[0]
        assert tuple(x.shape) == shape and x.dtype.is_floating_point
        assert len(spec.class_names) == classes and 0 <= label < classes
        if spec.kind == 'events':
            assert float(x.sum()) > 0
        else:
            assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert all(sizes.values())


def test_event_frames_count_every_event(tiny: dict[str, Path]) -> None:
    dataset, _ = load_dataset('nmnist', tiny['nmnist'], 'test', DataOptions(FrameSpec(5)))
    for index in range(len(dataset)):
        frames, _ = dataset[index]
        events = read_atis_bin(dataset.files[index])
        assert float(frames.sum()) == len(events)
        assert float(frames[:, 1].sum()) == int(events['p'].sum())  # channel 1 is ON


def test_missing_and_unknown(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match='unknown dataset'):
        load_dataset('imagenet', tmp_path, 'train')
    with pytest.raises(DatasetError, match='give its path'):
        load_dataset('cifar10', None, 'train')
    with pytest.raises(DatasetError, match='no CIFAR10 batches'):
        load_dataset('cifar10', tmp_path, 'train')
    with pytest.raises(DatasetError, match='labels.csv'):
        load_dataset('nmnist', tmp_path, 'train')
    make_event_folder(tmp_path / 'e', '.bin', ['a'], 1, 10, 10)
    with pytest.raises(DatasetError, match='unknown part'):
        load_dataset('ncaltech101', tmp_path / 'e', 'holdout')


def test_classes_in_turn_is_a_class_balanced_permutation() -> None:
    labels = np.array([0] * 5 + [1] * 3 + [2] * 4)  # sorted by class, as dataset parts are
    order = classes_in_turn(labels)
    assert sorted(order) == list(range(12))
    assert list(labels[order[:6]]) == [0, 1, 2, 0, 1, 2]
    assert list(order[:3]) == [0, 5, 8]  # each class in its own order
    assert list(labels[order[-3:]]) == [0, 2, 0]  # then the classes with samples left


def test_the_demo_plays_the_digits_dvs_samples_it_is_measured_on() -> None:
    """Simulated DVS digits are made one way, whoever asks for them.

    The demo's and bench's recording of a held-out digit is the digits_dvs test sample of that
    digit; they were seeded differently, so the event report measured other events.
    """
    from neucodex_ros.core.datasets.digits import (
        DvsRecordings,
        held_out_digits,
        held_out_indices,
    )

    dataset, _ = load_dataset('digits_dvs', None, 'test', DataOptions(cache=False))
    recordings = DvsRecordings(held_out_indices(3, seed=4))
    _, labels = held_out_digits(3, seed=4)
    for position, index in enumerate(recordings.indices):
        np.testing.assert_array_equal(recordings[position],
                                      dataset.read(dataset.files[index]))
        assert int(dataset.labels[index]) == labels[position]
