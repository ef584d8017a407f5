"""One exception family per concern; nodes catch these at their boundary and count them."""


class NeucodexError(Exception):
    """Base of every error neucodex_ros raises on purpose."""


class CodecError(NeucodexError, ValueError):
    """A spike payload cannot be encoded or decoded (wrong length, unknown codec, corrupt)."""


class ImageError(NeucodexError, ValueError):
    """An image cannot be turned into model input (encoding, size, step, values)."""


class ModelError(NeucodexError):
    """A model or checkpoint is unusable (missing file, wrong format, incompatible config)."""


class SampleError(NeucodexError, ValueError):
    """A message does not fit the sample it names (shape, timestep, T, model).

    `reason` is a short code for counting rejections, e.g. "model_mismatch".
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ConfigError(NeucodexError, ValueError):
    """A setting (node parameter, command option) has a value that cannot work."""


class EventError(NeucodexError, ValueError):
    """Events cannot be decoded or binned (truncated data, bad coordinates, bad option)."""


class DatasetError(NeucodexError):
    """A dataset folder is missing, empty or not in the expected format."""
