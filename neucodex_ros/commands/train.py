"""`neucodex-ros train`: the NeuCODEX recipe, as one command.

(a) `--pretrain-epochs N`: train the SNN without a bottleneck (saved as
    <out>.uncompressed.pt, the baseline the bottleneck is measured against);
(b) `--bottleneck-epochs N`: insert the encoder/decoder at the split and train only them;
(c) `--epochs N`: fine-tune the whole SNN end to end with the per-timestep loss.
Without (a) (or `--init-from` an uncompressed checkpoint), (c) trains the SNN with its
bottleneck from scratch, as the shipped digits model was; `--init-from` a checkpoint of this
very model fine-tunes it on another dataset (how the shipped event model went from simulated
to real N-MNIST). Every epoch appends a row to
<out>.metrics.csv and saves <out>.resume.pt; `--resume` continues an interrupted run.
"""

from __future__ import annotations

import argparse
import copy
import csv
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from neucodex_ros.commands.options import add_data_arguments, data_options

HELP = 'train a split SNN: pretrain, insert the bottleneck, fine-tune (the NeuCODEX recipe)'
LOG_FIELDS = ['phase', 'epoch', 'train_loss', 'train_accuracy', 'val_accuracy',
              'val_accuracy_t1', 'lr', 'seconds']


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `train`."""
    from neucodex_ros.core.configs import BACKBONE_NAMES, ModelConfig, TrainConfig

    model, train = ModelConfig(), TrainConfig()
    parser.add_argument('--out', type=Path, default=Path('digits_snn.pt'),
                        help='checkpoint to write (default: %(default)s)')
    add_data_arguments(parser, 'digits')
    parser.add_argument('--backbone', choices=sorted(BACKBONE_NAMES), default=model.backbone,
                        help='the spiking network that is split (README: "Training your own '
                             'models")')
    parser.add_argument('--width', type=float, default=model.width,
                        help='multiplier of every backbone channel count')
    parser.add_argument('--timesteps', type=int, default=model.num_timesteps, help='T')
    parser.add_argument('--neuron', choices=('lif', 'plif'), default=model.neuron,
                        help='lif (fixed time constant) or plif (each layer learns its own) '
                             '(default: %(default)s)')
    parser.add_argument('--split-after', type=int, default=model.split_after,
                        help='backbone stages on the edge')
    parser.add_argument('--bottleneck-channels', type=int, default=model.bottleneck_channels,
                        help='channels of the transmitted spike tensor (0: no bottleneck)')
    parser.add_argument('--bottleneck-stride', type=int, default=model.bottleneck_stride,
                        help='spatial stride of the encoder')
    parser.add_argument('--pretrain-epochs', type=int, default=0,
                        help='(a) epochs of the SNN without bottleneck first')
    parser.add_argument('--init-from', type=Path, default=None,
                        help='instead of (a): an uncompressed checkpoint to start from; or a '
                             'checkpoint of this model to fine-tune')
    parser.add_argument('--bottleneck-epochs', type=int, default=0,
                        help='(b) epochs training only the inserted encoder/decoder')
    parser.add_argument('--epochs', type=int, default=train.epochs,
                        help='(c) epochs of end-to-end training with the bottleneck')
    parser.add_argument('--batch-size', type=int, default=train.batch_size,
                        help='samples per optimizer step')
    parser.add_argument('--lr', type=float, default=train.lr, help='peak learning rate')
    parser.add_argument('--seed', type=int, default=train.seed,
                        help='seed of the weights and of the sample order')
    parser.add_argument('--device', default=train.device,
                        help="'auto' (CUDA when present), 'cpu', 'cuda:1', ...")
    parser.add_argument('--no-augment', action='store_true', help='no random jitter')
    parser.add_argument('--distill', type=float, default=train.distill, metavar='WEIGHT',
                        help='(c) also learn the uncompressed network\'s answers, per timestep, '
                             'with this weight (needs (a) or an uncompressed --init-from; '
                             'default: %(default)s, none)')
    parser.add_argument('--train-limit', type=int, default=None, metavar='N',
                        help='train on the first N training samples only (a quick trial run)')
    parser.add_argument('--weights', choices=('float32', 'float16'), default='float32',
                        help='how the checkpoint stores its weights (float16: half the file; '
                             'evaluate the written file) (default: %(default)s)')
    parser.add_argument('--resume', action='store_true',
                        help='continue the run that <out>.resume.pt was saved from')


class Run:
    """The files of one training run: checkpoint, metrics log, resume state."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.log = out.with_suffix('.metrics.csv')
        self.resume = out.with_suffix('.resume.pt')
        self.uncompressed = out.with_suffix('.uncompressed.pt')

    def append_log(self, record: dict[str, Any]) -> None:
        """Add one epoch's record to the CSV log."""
        new = not self.log.exists()
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open('a', newline='') as file:
            writer = csv.DictWriter(file, LOG_FIELDS)
            if new:
                writer.writeheader()
            writer.writerow({k: record[k] for k in LOG_FIELDS if k in record} |
                            {'val_accuracy_t1': record['val_accuracy_by_timestep'][0]})

    def save_resume(self, phase: str, state: Any, done: dict[str, Any],
                    config: dict[str, Any]) -> None:
        """Save everything needed to resume, replacing the previous state atomically."""
        import torch

        partial = self.resume.with_suffix('.tmp')
        torch.save({'phase': phase, 'state': asdict(state), 'done': done, 'config': config},
                   partial)
        partial.replace(self.resume)


def run(args: argparse.Namespace) -> int:
    """Train the phases the options ask for and write the checkpoint."""
    import torch
    from torch.utils.data import Subset

    from neucodex_ros.core.checkpoint import load_checkpoint, save_checkpoint
    from neucodex_ros.core.datasets import load_dataset
    from neucodex_ros.core.errors import ModelError
    from neucodex_ros.core.exit_policy import exit_summary
    from neucodex_ros.core.model import ModelConfig, SplitSNN
    from neucodex_ros.core.training import TrainConfig, TrainState, predict_logits, train

    options = data_options(args, args.timesteps)
    train_set, spec = load_dataset(args.dataset, args.data_dir, 'train', options)
    val_set, _ = load_dataset(args.dataset, args.data_dir, 'val', options)
    if args.train_limit:
        train_set = Subset(train_set, range(min(args.train_limit, len(train_set))))
    config = ModelConfig(backbone=args.backbone, in_channels=spec.in_channels,
                         input_size=spec.input_size, num_classes=len(spec.class_names),
                         num_timesteps=args.timesteps, split_after=args.split_after,
                         bottleneck_channels=args.bottleneck_channels,
                         bottleneck_stride=args.bottleneck_stride, width=args.width,
                         neuron=args.neuron)
    uncompressed = replace(config, bottleneck_channels=0, bottleneck_stride=1)
    run_files = Run(args.out)
    saved = torch.load(run_files.resume, weights_only=True) \
        if args.resume and run_files.resume.exists() else None
    if saved is not None and saved['config'] != config.to_dict():
        raise ModelError(f'{run_files.resume} belongs to a run with another model config')
    if not args.resume:
        run_files.log.unlink(missing_ok=True)

    def settings(epochs: int) -> TrainConfig:
        return TrainConfig(epochs=epochs, batch_size=args.batch_size, lr=args.lr,
                           seed=args.seed, device=args.device, augment=not args.no_augment,
                           workers=args.workers, distill=args.distill if teacher else 0.0)

    done: dict[str, Any] = dict(saved['done']) if saved else {}
    torch.manual_seed(args.seed)
    model = SplitSNN(config)
    if args.init_from:  # an uncompressed SNN (skips (a)), or one with this very bottleneck
        source = load_checkpoint(args.init_from).model
        if source.config not in (uncompressed, config):
            raise ModelError(f'{args.init_from} is neither an uncompressed {config.backbone} '
                             'with this split, input and T, nor this model')
        model = source
    elif args.pretrain_epochs:
        model = SplitSNN(uncompressed)

    teacher: SplitSNN | None = None  # the uncompressed network, for --distill

    def phase(name: str, epochs: int, parameters: list[torch.nn.Parameter] | None) -> None:
        if epochs <= 0 or name in done:
            return
        resume = TrainState(**saved['state']) if saved and saved['phase'] == name else None

        def on_epoch(state: TrainState, record: dict[str, Any]) -> None:
            run_files.append_log(record)
            run_files.save_resume(name, state, done, config.to_dict())

        done[name] = train(model, train_set, val_set, spec.augment, settings(epochs),
                           parameters=parameters, phase=name, resume=resume,
                           on_epoch=on_epoch, teacher=teacher)

    # (a) the SNN without bottleneck
    phase('pretrain', args.pretrain_epochs, None)
    if 'pretrain' in done and not run_files.uncompressed.exists():
        save_checkpoint(run_files.uncompressed, model.cpu(), class_names=spec.class_names,
                        metrics=done['pretrain'], data=options.record(args.dataset))
    # (b) insert the encoder/decoder at the split: head and tail keep their trained weights
    if model.config != config:
        if args.distill:  # (a) as saved (a resumed run did not train it again), or init-from
            teacher = load_checkpoint(run_files.uncompressed).model if 'pretrain' in done \
                else copy.deepcopy(model).cpu()
        trained = model.state_dict()
        model = SplitSNN(config)
        model.load_state_dict({k: v for k, v in trained.items()
                               if k.startswith(('head.', 'tail.'))}, strict=False)
        bottleneck = [*model.encoder.parameters(), *model.decoder.parameters()]
        phase('insert', args.bottleneck_epochs, bottleneck)
    # (c) the whole SNN end to end
    phase('finetune' if done else 'train', args.epochs, None)

    logits, labels = predict_logits(model, val_set)
    sweep = [exit_summary(logits, labels, a) for a in (0.0, 0.5, 0.8, 0.9, 0.95, 0.99, 0.999, 1.0)]
    last = list(done.values())[-1]
    metrics = {'phases': done, 'history': [r for m in done.values() for r in m['history']],
               'best_epoch': last['best_epoch'], 'val_accuracy': last['val_accuracy'],
               'val_alpha_sweep': sweep}
    save_checkpoint(args.out, model, class_names=spec.class_names, metrics=metrics,
                    data=options.record(args.dataset), weights=args.weights)
    run_files.resume.unlink(missing_ok=True)
    print(f'{config.backbone} on {args.dataset}: validation accuracy '
          f'{last["val_accuracy"]:.2%} at T={config.num_timesteps}; spikes '
          f'{model.split_shape} per timestep, {model.compression:.0f}x smaller than float32 '
          f'features {model.head_shape}')
    print('   alpha  val accuracy  mean timesteps')
    for row in sweep:
        print(f'{row["alpha"]:8.3f}  {row["accuracy"]:12.2%}  {row["mean_timesteps"]:14.2f}')
    print(f'checkpoint written to {args.out}; per-epoch metrics in {run_files.log}')
    return 0
