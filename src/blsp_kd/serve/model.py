"""The one place a --model value becomes a loaded model."""

from dataclasses import asdict

from blsp_kd.models.blsp_kd import CONFIG_FILE, OWN_READING, BlspKdModel, Reading, checkpoint_folder


class ModelNotLoadable(ValueError):
    """A --model that cannot be loaded as asked (its readout settings, its files); the message names it."""


class ModelNotFound(ModelNotLoadable):
    pass


def load_model(name: str, precision: str | None = None, reading: Reading = OWN_READING) -> BlspKdModel:
    """A shipped model's name ('default') or a folder written by `BlspKdModel.save_pretrained` (a training run's
    checkpoint folders are such folders), in eval mode, in its own precision or in `precision` when given, reading
    its speech vectors as its config says except where `reading` says otherwise (`BlspKdModel.from_pretrained`)."""
    try:
        folder = checkpoint_folder(name)
    except FileNotFoundError as error:
        raise ModelNotFound(f"--model {name!r}: {error}") from error
    if not (folder / CONFIG_FILE).is_file():  # a shipped model's name, but its files are not installed
        raise ModelNotFound(f"--model {name!r}: the shipped model is missing from this install ({folder})")
    try:
        return BlspKdModel.from_pretrained(folder, precision, **asdict(reading)).eval()
    except ValueError as error:  # e.g. a readout prior without a decoder readout, or a checkpoint that does not fit
        raise ModelNotLoadable(f"--model {name!r}: {error}") from error
