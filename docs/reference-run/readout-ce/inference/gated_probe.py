"""Issue #13, thirty-fourth session: the classifier's training prior divided out only where the classifier is unsure.
A lab probe, not part of the package.

`--readout-prior 1` (the classifier's scores minus log(1 + c) before the decoder readout's fusion) names more of
the rare words but costs a point on the frequent ones (docs/RESULTS.md, "The classifier's training prior"). Gated:
at a speech vector whose classifier is sure of a token (its top probability ≥ τ, without the prior) the readout
without the prior, elsewhere the readout with it. Both readouts are `fused_log_probs` as in src (the model's own
λ, T and token counts); the gate picks per vector between their argmax tokens. The same for leaning on Whisper's
decoder (twice the model's λ) where the classifier is unsure, with and without the prior. For the first LIMIT
clips of a manifest, with the CIF's own count (as generation reads them), this writes each variant's argmax
transcript per clip, and prints the transcript's substitutions, deletions and insertions per reference word and
the words right by how often each word occurs in TRAIN_MANIFEST's transcripts (`deletions/bands.py`).

    PYTHONPATH=src:docs/reference-run/deletions python gated_probe.py MANIFEST LIMIT MODEL TRAIN_MANIFEST TAUS OUT
"""

import json
import sys
from collections import Counter, defaultdict

import jiwer
import torch
from bands import BANDS, band, matched, word_counts
from tqdm import tqdm

from blsp_kd.data.audio import load_record_audio
from blsp_kd.data.manifest import read_manifest
from blsp_kd.eval.metrics import normalize
from blsp_kd.losses import token_cosines
from blsp_kd.models.blsp_kd import BlspKdModel
from blsp_kd.models.decoder_readout import fused_log_probs


def variants(model: BlspKdModel, audios: list, taus: list[float]) -> dict[str, list[str]]:
    """Each variant's argmax transcript per clip: the model's own readout ('λ 2'), with the prior ('λ 2, γ 1'),
    leaning on the decoder (λ 4, with and without the prior), and each of those three where the classifier's top
    probability is below τ ('… where unsure τ')."""
    features, lengths = model.features(audios)
    hidden, frame_mask = model.encode(features, lengths)
    speech = model.speech(hidden, frame_mask, read_out=False)
    architecture = model.config.architecture
    embeddings = model.llm.get_input_embeddings().weight

    def argmax(weight, gamma):
        log_prior = gamma * model.token_counts.float().log1p() if gamma else None
        return fused_log_probs(speech.embeds, speech.mask, hidden, frame_mask, embeddings, model.readout_decoder,
                               model.shared_vocabulary, architecture.vocabulary_readout, weight,
                               log_prior).argmax(-1)

    own = architecture.decoder_readout
    ids = {f"λ {own:g}": argmax(own, 0)}
    sure = (token_cosines(speech.embeds, embeddings) / architecture.vocabulary_readout).softmax(-1).amax(-1)
    for weight, gamma in ((own, 1), (2 * own, 0), (2 * own, 1)):
        name = f"λ {weight:g}" + (f", γ {gamma}" if gamma else "")
        ids[name] = argmax(weight, gamma)
        for tau in taus:
            ids[f"{name} where unsure {tau}"] = torch.where(sure >= tau, ids[f"λ {own:g}"], ids[name])
    counts = speech.num_tokens.tolist()
    return {name: [model.tokenizer.decode(row[:n].tolist()) for row, n in zip(chosen, counts, strict=True)]
            for name, chosen in ids.items()}


def score(rows: list[dict], train_manifest: str) -> None:
    """Print, per variant (the rows' keys but id and text), the argmax transcripts' S, D and I per reference word
    and the words right by how often each occurs in TRAIN_MANIFEST's transcripts."""
    heard = word_counts(train_manifest)
    names = [key for key in rows[0] if key not in ("id", "text")]
    print(f"{len(rows)} clips | S | D | I | S + D | " + " | ".join(f"right, {name}" for _, name in BANDS) + " | all")
    for name in names:
        errors, right = Counter(), defaultdict(list)
        for row in rows:
            output = jiwer.process_words(normalize(row["text"]), normalize(row[name]))
            errors.update(S=output.substitutions, D=output.deletions, I=output.insertions,
                          N=output.substitutions + output.deletions + output.hits)
            for word, ok in zip(*matched(row["text"], row[name]), strict=True):
                right[band(heard[word])].append(ok)
                right["all"].append(ok)
        rates = [errors[k] / errors["N"] for k in "SDI"]
        cells = [f"{100 * sum(right[b]) / max(len(right[b]), 1):.1f} % ({len(right[b])})" for _, b in BANDS]
        print(f"| {name} | " + " | ".join(f"{r:.3f}" for r in rates) + f" | {rates[0] + rates[1]:.3f} | "
              + " | ".join(cells) + f" | {100 * sum(right['all']) / len(right['all']):.1f} % |")


@torch.inference_mode()
def probe(variants, manifest: str, limit: int, model_name: str, out: str) -> list[dict]:
    """variants(model, audios) → {name: transcripts} for the first LIMIT clips, 16 at a time; rows written to OUT."""
    model = BlspKdModel.from_pretrained(model_name, precision="fp32")
    records = read_manifest(manifest)[0][:limit]
    rows = []
    for start in tqdm(range(0, len(records), 16), desc="probing"):
        batch = records[start:start + 16]
        transcripts = variants(model, [load_record_audio(record).samples for record in batch])
        for i, record in enumerate(batch):
            named = {name: texts[i] for name, texts in transcripts.items()}
            rows.append({"id": record.id, "text": record.text} | named)
    with open(out, "w") as sink:
        sink.writelines(json.dumps(row) + "\n" for row in rows)
    return rows


if __name__ == "__main__":
    taus = [float(x) for x in sys.argv[5].split(",")]
    score(probe(lambda model, audios: variants(model, audios, taus), sys.argv[1], int(sys.argv[2]), sys.argv[3],
                sys.argv[6]), sys.argv[4])
