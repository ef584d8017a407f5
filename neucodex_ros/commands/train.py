"""`neucodex-ros train`: train the split SNN, bottleneck included, on real digits."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = 'train the split SNN with its bottleneck on real MNIST digits'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `train`."""
    from neucodex_ros.core.model import ModelConfig
    from neucodex_ros.core.training import TrainConfig

    model, train = ModelConfig(), TrainConfig()
    parser.add_argument('--out', type=Path, default=Path('digits_snn.pt'),
                        help='checkpoint to write (default: %(default)s)')
    parser.add_argument('--timesteps', type=int, default=model.num_timesteps, help='T')
    parser.add_argument('--bottleneck-channels', type=int, default=model.bottleneck_channels,
                        help='channels of the transmitted spike tensor')
    parser.add_argument('--split-after', type=int, default=model.split_after,
                        help='backbone stages on the edge')
    parser.add_argument('--epochs', type=int, default=train.epochs)
    parser.add_argument('--batch-size', type=int, default=train.batch_size)
    parser.add_argument('--lr', type=float, default=train.lr, help='peak learning rate')
    parser.add_argument('--seed', type=int, default=train.seed)
    parser.add_argument('--device', default=train.device,
                        help="'auto' (CUDA when present), 'cpu', 'cuda:1', ...")
    parser.add_argument('--no-augment', action='store_true', help='no random affine jitter')
    parser.add_argument('--train-limit', type=int, default=None, metavar='N',
                        help='train on the first N training images only (a quick trial run)')


def run(args: argparse.Namespace) -> int:
    """Train, report the validation accuracy per α, write the checkpoint."""
    import numpy as np
    import torch

    from neucodex_ros.core.checkpoint import save_checkpoint
    from neucodex_ros.core.digits import CLASS_NAMES, load_digits
    from neucodex_ros.core.model import ModelConfig, SplitSNN
    from neucodex_ros.core.training import TrainConfig, exit_summary, predict_logits, train

    def part(name: str) -> tuple[np.ndarray, np.ndarray]:
        images, labels = load_digits(name)
        return images[:, None].astype(np.float32) / 255, labels

    config = ModelConfig(num_timesteps=args.timesteps, split_after=args.split_after,
                         bottleneck_channels=args.bottleneck_channels)
    train_config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                               seed=args.seed, device=args.device, augment=not args.no_augment)
    torch.manual_seed(args.seed)
    model = SplitSNN(config)
    val_images, val_labels = part('val')
    train_images, train_labels = part('train')
    if args.train_limit:
        train_images = train_images[:args.train_limit]
        train_labels = train_labels[:args.train_limit]
    metrics = train(model, (train_images, train_labels), (val_images, val_labels), train_config)
    logits = predict_logits(model, torch.as_tensor(val_images))
    metrics['val_alpha_sweep'] = [exit_summary(logits, val_labels, alpha)
                                  for alpha in (0.0, 0.5, 0.8, 0.9, 0.95, 0.99, 0.999, 1.0)]
    print(f'best epoch {metrics["best_epoch"]}: validation accuracy '
          f'{metrics["val_accuracy"]:.2%} at T={config.num_timesteps}')
    print('   alpha  val accuracy  mean timesteps')
    for row in metrics['val_alpha_sweep']:
        print(f'{row["alpha"]:8.3f}  {row["accuracy"]:12.2%}  {row["mean_timesteps"]:14.2f}')
    save_checkpoint(args.out, model.cpu(), class_names=CLASS_NAMES, metrics=metrics)
    print(f'checkpoint written to {args.out}')
    return 0
