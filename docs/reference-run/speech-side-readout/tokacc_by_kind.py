"""Issue #13, twenty-sixth session: which transcript tokens the shipped model's CIF vectors fail to name.

The CFormer forced to the transcript's length, each vector read as its nearest token (cosine, as token accuracy
is measured); tokens split by kind: punctuation (no letter or digit), the first token of the transcript, and the
other word pieces. Also an accuracy that forgives case and the leading space (" He" for "he"), which the words a
listener hears do not carry.

usage: PYTHONPATH=src python tokacc_by_kind.py MANIFEST LIMIT   (the shipped `default`, fp32)
"""
import collections
import json
import sys

import torch
from fusion_probe import forced_speech  # this folder's

from blsp_kd.losses import token_cosines
from blsp_kd.models.blsp_kd import BlspKdModel


def kind(piece: str, first: bool) -> str:
    if not any(character.isalnum() for character in piece):
        return "punctuation"
    return "first token" if first else "word piece"


def main(manifest: str, limit: int) -> None:
    root = manifest.rsplit("/", 1)[0]
    model = BlspKdModel.from_pretrained("default", precision="fp32", readout=0).eval()
    embeddings = model.llm.get_input_embeddings().weight
    records = [json.loads(line) for line in open(manifest)][:limit]
    hits, loose, counts = collections.Counter(), collections.Counter(), collections.Counter()
    with torch.inference_mode():
        for start in range(0, len(records), 16):
            chunk = records[start:start + 16]
            batch, speech = forced_speech(model, chunk, root)
            named = token_cosines(speech.embeds, embeddings).argmax(-1)  # [B, N]
            for row in range(len(chunk)):
                targets = batch.input_ids[row, batch.speech_mask[row]].tolist()
                guesses = named[row, :len(targets)].tolist()
                for index, (target, guess) in enumerate(zip(targets, guesses, strict=True)):
                    piece, guessed = model.tokenizer.decode([target]), model.tokenizer.decode([guess])
                    group = kind(piece, index == 0)
                    counts[group] += 1
                    hits[group] += target == guess
                    loose[group] += piece.strip().lower() == guessed.strip().lower()
    total = sum(counts.values())
    print(f"{manifest}: {len(records)} clips, {total} transcript tokens")
    print("kind | share of tokens | token accuracy | forgiving case and leading space")
    for group in ("first token", "word piece", "punctuation"):
        print(f"{group} | {100 * counts[group] / total:.1f} % | {100 * hits[group] / counts[group]:.1f} % | "
              f"{100 * loose[group] / counts[group]:.1f} %")
    print(f"all | 100 % | {100 * sum(hits.values()) / total:.1f} % | {100 * sum(loose.values()) / total:.1f} %")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
