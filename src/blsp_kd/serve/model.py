"""The one place a --model value becomes a loaded model."""

from pathlib import Path

from blsp_kd.models.blsp_kd import CONFIG_FILE, BlspKdModel


class ModelNotFound(ValueError):
    pass


def load_model(name: str) -> BlspKdModel:
    """A folder written by `BlspKdModel.save_pretrained` (a training run's checkpoint folders are such folders),
    in eval mode."""
    path = Path(name)
    if not (path / CONFIG_FILE).is_file():
        reason = "no such folder" if not path.exists() else f"it has no {CONFIG_FILE}"
        raise ModelNotFound(f"--model {name!r}: {reason}; give a folder saved by BlspKdModel.save_pretrained "
                            "(e.g. runs/default-stage1/best)")
    return BlspKdModel.from_pretrained(path).eval()
