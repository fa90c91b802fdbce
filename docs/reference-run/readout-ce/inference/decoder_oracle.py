"""Issue #13, thirty-fourth session: how much Whisper's decoder knows of the words the readout misses. A lab probe,
not part of the package.

On validation, Whisper's own transcripts (the cascade: free decoding on 30 s-padded input) get 70 % of the words the
readout's training heard 1–9 times and 51 % of those it never heard; the readout 46 % and 24 % (`deletions/bands.py`).
The readout's decoder term reads the classifier's guesses as its previous tokens and the real-length frames. With
the CIF forced to the transcript's count (token i ↔ vector i), token accuracy of: the classifier alone; the shipped
fusion (λ 2); the decoder alone on the guesses (λ → ∞: λ 1000); the decoder alone given the true previous tokens,
on the real-length frames and on stock Whisper's 1500 padded frames — what the decoder could add if its context were
right, and what the frames cost it. Bands by how often each token was a transcript token in the shipped model's last
training set (its `token_counts`, which hold those transcripts twice: halved here), whichever MODEL is probed.

    PYTHONPATH=src python decoder_oracle.py MANIFEST LIMIT [MODEL]     (MODEL: default, the shipped model)
"""

import sys

import torch
from tqdm import tqdm

from blsp_kd.data.audio import load_record_audio
from blsp_kd.data.manifest import read_manifest
from blsp_kd.losses import token_cosines
from blsp_kd.models.blsp_kd import SHIPPED_MODELS, BlspKdModel, read_token_counts
from blsp_kd.models.decoder_readout import decoder_teacher_log_probs, fused_log_probs

BANDS = (("≥ 100", 100, None), ("10–99", 10, 100), ("1–9", 1, 10), ("never", 0, 1))


def choices(model: BlspKdModel, audios: list, transcripts: list[list[int]]) -> dict[str, torch.Tensor]:
    """Each reader's token at every transcript position of a batch (the CIF forced to the transcripts' counts)."""
    architecture = model.config.architecture
    embeddings = model.llm.get_input_embeddings().weight
    features, lengths = model.features(audios)
    hidden, frame_mask = model.encode(features, lengths)
    speech = model.speech(hidden, frame_mask, torch.tensor([len(t) for t in transcripts]), read_out=False)
    padded = model.encoder.encode_padded(features, lengths, model.encoder.silence_features(features, lengths))

    def teacher(frames, frame_mask):  # Whisper's decoder reading the true previous tokens (`decoder_kd`'s target)
        return decoder_teacher_log_probs(torch.cat([torch.tensor(t) for t in transcripts]), speech.mask, frames,
                                         frame_mask, model.readout_decoder, model.shared_vocabulary).argmax(-1)

    def fused(weight):
        return fused_log_probs(speech.embeds, speech.mask, hidden, frame_mask, embeddings, model.readout_decoder,
                               model.shared_vocabulary, architecture.vocabulary_readout, weight)[speech.mask]

    return {"the classifier alone": token_cosines(speech.embeds[speech.mask], embeddings).argmax(-1),
            "the shipped fusion (λ 2)": fused(architecture.decoder_readout).argmax(-1),
            "the decoder alone, on the guesses (λ 1000)": fused(1000.0).argmax(-1),
            "the decoder alone, true previous tokens, real-length frames": teacher(hidden, frame_mask),
            "the decoder alone, true previous tokens, padded frames": teacher(padded, torch.ones(padded.shape[:2],
                                                                                                  dtype=torch.bool))}


@torch.inference_mode()
def main(manifest: str, limit: int, model_name: str = "default") -> None:
    model = BlspKdModel.from_pretrained(model_name, precision="fp32")
    counts = read_token_counts(SHIPPED_MODELS["default"]) // 2
    records = read_manifest(manifest)[0][:limit]
    named, targets = {}, []
    for start in tqdm(range(0, len(records), 16), desc="probing"):
        batch = records[start:start + 16]
        transcripts = [model.prompts.transcript_ids(record.text) for record in batch]
        audios = [load_record_audio(record).samples for record in batch]
        for name, chosen in choices(model, audios, transcripts).items():
            named.setdefault(name, []).append(chosen)
        targets.append(torch.cat([torch.tensor(t) for t in transcripts]))
    target = torch.cat(targets)
    heard = counts[target]
    print(f"{len(records)} clips, {len(target)} tokens | " + " | ".join(name for name, _, _ in BANDS) + " | all")
    for name, chosen in named.items():
        right = torch.cat(chosen) == target
        cells = [right[(heard >= low) & (heard < (high or heard.max() + 1))].float().mean().item()
                 for _, low, high in BANDS]
        cells.append(right.float().mean().item())
        print(f"| {name} | " + " | ".join(f"{100 * c:.1f} %" for c in cells) + " |")
    sizes = [((heard >= low) & (heard < (high or heard.max() + 1))).sum().item() for _, low, high in BANDS]
    print("tokens by band: " + ", ".join(f"{name} {size}" for (name, _, _), size in zip(BANDS, sizes, strict=True)))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), *sys.argv[3:4])
