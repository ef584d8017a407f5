"""Checkpoints: weights + the full model config + class names + training metrics, one file."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from neucodex_ros.core.configs import ModelConfig
from neucodex_ros.core.errors import ModelError
from neucodex_ros.core.model import SplitSNN

FORMAT = 'neucodex_ros.checkpoint/1'
#: The models shipped with the package, by file name (`neucodex-ros models` lists them:
#: digits_snn, nmnist_events, resnet18_digits); the default is digits_snn, a small spiking
#: CNN trained on real MNIST digits.
SHIPPED_MODELS = Path(__file__).resolve().parents[1] / 'models'
DEFAULT_CHECKPOINT = SHIPPED_MODELS / 'digits_snn.pt'


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint; `model` is in eval mode on the requested device."""

    model: SplitSNN
    class_names: tuple[str, ...]
    metrics: dict[str, Any]
    model_id: str
    path: Path
    data: dict[str, Any]  # how the training data was read: dataset name and DataOptions

    @property
    def config(self) -> ModelConfig:
        """The model's config."""
        return self.model.config


def model_id(model: SplitSNN) -> str:
    """A short fingerprint of config + weights; edge and cloud must agree on it."""
    digest = hashlib.sha256(json.dumps(model.config.to_dict(), sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


#: How a checkpoint may store its floating-point tensors; they load as float32 either way.
WEIGHT_DTYPES = {'float32': torch.float32, 'float16': torch.float16}


def save_checkpoint(path: Path, model: SplitSNN, *, class_names: list[str] | tuple[str, ...],
                    metrics: dict[str, Any], data: dict[str, Any] | None = None,
                    weights: str = 'float32') -> None:
    """Write a checkpoint (parent folders are created).

    `weights: float16` halves the file (a shipped ResNet-18); the network then runs on the
    float32 values of those float16 weights, so evaluate the file that was written.
    """
    if len(class_names) != model.config.num_classes:
        raise ModelError(f'{len(class_names)} class names for {model.config.num_classes} classes')
    if weights not in WEIGHT_DTYPES:
        raise ModelError(f'weights must be one of {sorted(WEIGHT_DTYPES)}, got {weights!r}')
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().cpu().to(WEIGHT_DTYPES[weights])
             if tensor.is_floating_point() else tensor.detach().cpu()
             for name, tensor in model.state_dict().items()}
    torch.save({'format': FORMAT, 'config': model.config.to_dict(), 'state_dict': state,
                'class_names': list(class_names), 'metrics': metrics,
                'data': data or {'dataset': 'digits'}}, path)


def _read(path: Path, device: str) -> dict[str, Any]:
    """A checkpoint file's stored dict (tensors on `device`); ModelError if it is none."""
    try:
        stored = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # torch raises many types for a bad file
        raise ModelError(f'cannot read checkpoint {path}: {err}') from err
    if not isinstance(stored, dict) or stored.get('format') != FORMAT:
        raise ModelError(f'{path} is not a {FORMAT} checkpoint')
    return stored


def record_metrics(path: Path, key: str, value: dict[str, Any]) -> None:
    """Store `value` under metrics[key] in a checkpoint file; the weights stay bit-identical.

    How `evaluate --record` keeps a model's held-out result with the model.
    """
    stored = _read(path, 'cpu')
    stored['metrics'] = dict(stored.get('metrics', {})) | {key: value}
    partial = path.with_suffix('.tmp')
    torch.save(stored, partial)
    partial.replace(path)


def shipped_models() -> list[Path]:
    """The checkpoints shipped in the package, by name."""
    return sorted(SHIPPED_MODELS.glob('*.pt'))


def pick_device(requested: str = 'auto') -> torch.device:
    """'auto' → CUDA when present, else CPU; anything else is passed to torch as is."""
    if requested == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    return torch.device(requested)


def checkpoint_file(path: Path | str | None) -> Path:
    """The file a checkpoint setting names.

    A file, the name of a shipped model (`digits_snn`, `nmnist_events`, `resnet18_digits`),
    or None / '' for the shipped digits model.
    """
    path = Path(path) if path else DEFAULT_CHECKPOINT
    if not path.is_file() and (SHIPPED_MODELS / f'{path}.pt').is_file() and path.name == str(path):
        path = SHIPPED_MODELS / f'{path}.pt'
    return path


def checkpoint_setting(path: Path) -> str:
    """How a params file names the checkpoint file `path`: a shipped model by name."""
    path = path.resolve()
    return path.stem if path.parent == SHIPPED_MODELS else str(path)


def load_checkpoint(path: Path | str | None = None, device: str = 'cpu') -> Checkpoint:
    """Load a checkpoint for inference; `path` as checkpoint_file() takes it."""
    path = checkpoint_file(path)
    if not path.is_file():
        raise ModelError(f'checkpoint not found: {path}')
    stored = _read(path, device)
    model = SplitSNN(ModelConfig.from_dict(stored['config']))
    try:
        model.load_state_dict(stored['state_dict'])
    except RuntimeError as err:
        raise ModelError(f'{path}: weights do not fit its config: {err}') from err
    model.to(device).eval()
    return Checkpoint(model=model, class_names=tuple(stored['class_names']),
                      metrics=stored.get('metrics', {}), model_id=model_id(model), path=path,
                      data=stored.get('data', {'dataset': 'digits'}))
