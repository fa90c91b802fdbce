"""Figures for the evaluation report. matplotlib's object API (`Figure.savefig` renders with the Agg canvas),
so no display and no global pyplot state are involved.

CIF alignment figure, for one clip, with the CIF forced to the transcript's n (as in training):
    top:    the log-mel spectrogram the encoder read, with the firing points (where token j ends) as lines
    middle: the scaled integration weights α'_t per encoder frame (they sum to n), same lines
    bottom: what each of the n segments became: the transcript token it stands for (n given), and the LLM
            token whose input embedding is nearest (cosine) to the speech vector, which shows whether the
            adapter speaks the LLM's own embedding "language"
"""

import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from blsp_kd.losses import token_cosines

MEL_FRAME_SECONDS = 0.01  # Whisper's log-mel: hop 160 samples at 16 kHz
ENCODER_FRAME_SECONDS = 0.02  # the encoder's stride-2 convolution halves the frame rate
NON_CURVE_KEYS = {"split", "step", "epoch", "seconds"}


@dataclass
class CifAlignment:
    clip_id: str
    log_mel: np.ndarray  # [F, n_mels] features at 100 frames/s
    weights: np.ndarray  # [n, T] CIF weights w_{j,t} with the true n, over T encoder frames (50 frames/s)
    transcript_tokens: list[str]  # the n transcript tokens: what segment j stands for when n is given
    nearest_tokens: list[str]  # per segment, the LLM token with the nearest input embedding (cosine)
    estimated_count: int  # n̂ = max(1, round(Σα)), the CIF's own count without the transcript
    alpha_sum: float  # Σα (unscaled)


def nearest_token_ids(vectors: torch.Tensor, embedding_matrix: torch.Tensor) -> torch.Tensor:
    """argmax_v cos(vectors[j], embedding_matrix[v]) for each j.
    vectors [n, H], embedding_matrix [V, H] → [n]."""
    return token_cosines(vectors, embedding_matrix).argmax(dim=-1)


def token_label(tokenizer, token_id: int) -> str:
    text = tokenizer.decode([token_id]).replace("\n", "⏎")
    return text.strip() or repr(text)


@torch.no_grad()
def cif_alignment(model, audio: np.ndarray, clip_id: str, transcript: str) -> CifAlignment:
    """The CIF of a CFormer BlspKdModel on one clip, with n = the transcript's token count."""
    features, lengths = model.features([audio])
    hidden, frame_mask = model.encode(features, lengths)
    transcript_ids = model.prompts.transcript_ids(transcript)
    num_tokens = torch.tensor([len(transcript_ids)], device=model.device)
    speech = model.speech(hidden, frame_mask, num_tokens)
    if speech.cif_weights is None:
        raise ValueError(f"the {model.config.architecture.adapter!r} adapter has no CIF weights to plot")
    num_frames = int(frame_mask[0].sum())
    embedding_matrix = model.llm.get_input_embeddings().weight
    nearest = nearest_token_ids(speech.adapter_vectors[0, : len(transcript_ids)], embedding_matrix)
    alpha_sum = float(speech.alpha_sum[0])
    return CifAlignment(
        clip_id=clip_id,
        log_mel=features[0, : int(lengths[0])].float().cpu().numpy(),
        weights=speech.cif_weights[0, : len(transcript_ids), :num_frames].double().cpu().numpy(),
        transcript_tokens=[token_label(model.tokenizer, token_id) for token_id in transcript_ids],
        nearest_tokens=[token_label(model.tokenizer, token_id) for token_id in nearest.tolist()],
        estimated_count=max(1, round(alpha_sum)),
        alpha_sum=alpha_sum,
    )


def firing_times(weights: np.ndarray) -> np.ndarray:
    """Seconds at which the cumulative scaled weight C reaches 1, 2, ..., n − 1 (where tokens 0..n−2 end),
    interpolated inside the frame. weights [n, T] → [n − 1]."""
    cumulative = np.concatenate([[0.0], np.cumsum(weights.sum(axis=0))])  # C at frame boundaries
    boundaries = np.arange(len(cumulative)) * ENCODER_FRAME_SECONDS
    return np.interp(np.arange(1, weights.shape[0]), cumulative, boundaries)


def token_centres(weights: np.ndarray) -> np.ndarray:
    """Seconds of each token's weighted mean frame (its rows sum to 1). weights [n, T] → [n]."""
    frame_centres = (np.arange(weights.shape[1]) + 0.5) * ENCODER_FRAME_SECONDS
    return (weights * frame_centres).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-12)


def plot_cif_alignment(alignment: CifAlignment, path: Path) -> None:
    seconds = alignment.log_mel.shape[0] * MEL_FRAME_SECONDS
    figure = Figure(figsize=(min(30.0, max(8.0, 1.5 * seconds)), 7.5), layout="constrained")
    spectrogram_axes, weight_axes, token_axes = figure.subplots(
        3, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2, 1.6]})
    n = alignment.weights.shape[0]
    figure.suptitle(f"{alignment.clip_id}: CIF with the transcript's n = {n} tokens (own estimate "
                    f"n̂ = round(Σα) = {alignment.estimated_count}, Σα = {alignment.alpha_sum:.2f})")

    spectrogram_axes.imshow(alignment.log_mel.T, origin="lower", aspect="auto", cmap="magma",
                            extent=(0, seconds, 0, alignment.log_mel.shape[1]))
    spectrogram_axes.set_ylabel("mel bin")

    scaled_alpha = alignment.weights.sum(axis=0)
    frame_starts = np.arange(len(scaled_alpha)) * ENCODER_FRAME_SECONDS
    weight_axes.step(frame_starts, scaled_alpha, where="post", color="tab:blue")
    weight_axes.set_ylabel("α' per frame")
    weight_axes.set_ylim(bottom=0)

    for time in firing_times(alignment.weights):
        for axes in (spectrogram_axes, weight_axes, token_axes):
            axes.axvline(time, color="white" if axes is spectrogram_axes else "grey", lw=0.6, alpha=0.8)

    token_axes.set_ylim(0, 1)
    token_axes.set_yticks([0.72, 0.22], ["transcript\ntoken", "nearest\nLLM token"])
    for centre, transcript_token, nearest_token in zip(token_centres(alignment.weights),
                                                       alignment.transcript_tokens, alignment.nearest_tokens,
                                                       strict=True):
        token_axes.text(centre, 0.72, transcript_token, ha="center", va="center", rotation=90, fontsize=7)
        token_axes.text(centre, 0.22, nearest_token, ha="center", va="center", rotation=90, fontsize=7,
                        color="tab:red")
    token_axes.set_xlabel("seconds")
    token_axes.set_xlim(0, seconds)
    with warnings.catch_warnings():  # a token in a script the font lacks is drawn as a box, which is fine here
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        figure.savefig(path, dpi=110)


def read_training_log(path: Path) -> tuple[list[dict], list[str]]:
    """Entries of a training run's log.jsonl ({"split", "step", metric: value, ...}); unreadable lines (e.g.
    the last line of a killed run) come back as problems "log.jsonl, line N: why"."""
    entries, problems = [], []
    for line_number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as error:
            problems.append(f"{path}, line {line_number}: invalid JSON ({error.msg})")
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("step"), int) or "split" not in entry:
            problems.append(f"{path}, line {line_number}: not an object with 'split' and an integer 'step'")
            continue
        entries.append(entry)
    return entries, problems


def curve_metrics(entries: list[dict]) -> list[str]:
    """Numeric metrics in the log, in order of first appearance (counts like num_input_tokens left out)."""
    names = {}
    for entry in entries:
        for name, value in entry.items():
            if (name not in NON_CURVE_KEYS and not name.startswith("num_") and isinstance(value, int | float)
                    and not isinstance(value, bool)):
                names.setdefault(name, None)
    return list(names)


def plot_training_curves(entries: list[dict], path: Path) -> list[str]:
    """One panel per metric, train and valid curves over the step. Returns the metrics plotted."""
    metrics = curve_metrics(entries)
    if not metrics:
        raise ValueError("the training log has no numeric metrics to plot")
    columns = min(3, len(metrics))
    rows = math.ceil(len(metrics) / columns)
    figure = Figure(figsize=(4.5 * columns, 3.2 * rows), layout="constrained")
    panels = figure.subplots(rows, columns, squeeze=False).ravel()
    for axes, metric in zip(panels, metrics, strict=False):
        for split, style in (("train", {"lw": 1.0}), ("valid", {"marker": "o", "ms": 3, "lw": 1.2})):
            points = [(entry["step"], entry[metric]) for entry in entries
                      if entry["split"] == split and isinstance(entry.get(metric), int | float)]
            if points:
                steps, values = zip(*points, strict=True)
                axes.plot(steps, values, label=split, **style)
        axes.set_title(metric)
        axes.set_xlabel("step")
        axes.legend(fontsize=8)
    for axes in panels[len(metrics):]:
        axes.set_visible(False)
    figure.savefig(path, dpi=100)
    return metrics
