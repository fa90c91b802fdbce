"""Issue #13, twenty-eighth session, lever 1 of the twenty-seventh note (Whisper's decoder computation), a probe
that trains nothing: can Whisper's own decoder, run once in parallel over the shipped classifier's guesses, name the
words the classifier misses?

The shipped CFormer names a transcript token from its vector alone (62 % of held-out tokens; 2 % of those heard < 10
times in training, 0 % of unseen ones). Whisper tiny.en's decoder names the next token from the previous ones and
the audio (cross-attention to the encoder's frames), with a vocabulary learned on 680k hours. It needs the previous
tokens, which the cascade gets by decoding one token at a time. Here it gets them from the CFormer instead, all at
once: one decoder pass over [<|startoftranscript|>, <|notimestamps|>, g_1, …, g_{n−1}] whose output at position i
names token i. Conditions, the same decoder and the same 30 s-padded encoder states (stock Whisper's input):
- `teacher forced`: g = the transcript's own tokens (the upper bound: what the decoder computes for a word);
- `blind`: g = zero vectors (only positions and the audio: how much the decoder needs the previous tokens);
- `shipped, hard`: g = the shipped classifier's choices (its argmax over SmolLM2's vocabulary, as a Whisper token);
- `shipped, soft`: g = the mean of Whisper's token embeddings under the classifier's distribution (the shipped
  readout's temperature, 0.02) over the token strings both vocabularies share;
- `hard, round 2` / `round 3`: g = the previous round's decoder choices (iterative refinement, still parallel).
Tokens are the SmolLM2 transcript tokens the CIF is forced to (`extract_states.py`), each as the Whisper token of the
same string (99 % of transcript tokens; the others are fed as their first Whisper piece and scored as misses; a
clip's first token gets Whisper's leading space). Accuracy = the argmax is the token, by how often the token occurs
among the training clips' transcript tokens (the bands of `whisper-head/head_probe.py`).

With FRAMES=real the decoder's cross-attention reads the frames the CFormer reads instead (the shipped model's encoder
on each clip's real length, no second encoder pass), on which Whisper's decoder was never trained.

usage: [FRAMES=real] PYTHONPATH=src python refine_probe.py PROBE_DIR SPLIT=MANIFEST [SPLIT=MANIFEST …]
(PROBE_DIR holds `whisper-head/extract_states.py`'s train.pt and SPLIT.pt per held-out split.)
"""
import json
import os
import sys
from pathlib import Path

import torch
from tqdm import tqdm
from transformers import AutoTokenizer, WhisperFeatureExtractor, WhisperForConditionalGeneration

from blsp_kd.data.audio import load_audio
from blsp_kd.losses import token_cosines
from blsp_kd.models.blsp_kd import BlspKdModel
from blsp_kd.models.pretrained import blsp_home

WHISPER, LLM = blsp_home() / "whisper-tiny.en", blsp_home() / "smollm2-135m-instruct"
BANDS = [("≥ 100", 100, None), ("10–99", 10, 100), ("1–9", 1, 10), ("never", 0, 1)]
BATCH = 16
FRAMES = os.environ.get("FRAMES", "padded")  # the decoder's cross-attention reads: padded | real
TOP = 32  # candidates kept per token and distribution


class Vocabularies:
    """SmolLM2 ids → Whisper ids of the same string, and SmolLM2 distributions → Whisper embedding means."""

    def __init__(self):
        self.whisper = AutoTokenizer.from_pretrained(WHISPER)
        self.llm = AutoTokenizer.from_pretrained(LLM)
        whisper_vocab, llm_vocab = self.whisper.get_vocab(), self.llm.get_vocab()
        self.to_whisper = torch.full((max(llm_vocab.values()) + 1,), -1)
        for token, index in llm_vocab.items():
            if token in whisper_vocab:
                self.to_whisper[index] = whisper_vocab[token]
        self.spaced = {index: whisper_vocab.get("Ġ" + token, -1) for token, index in llm_vocab.items()}
        self.start = self.whisper.convert_tokens_to_ids(["<|startoftranscript|>", "<|notimestamps|>"])

    def targets(self, llm_ids: torch.Tensor) -> torch.Tensor:
        """One clip's transcript tokens as Whisper ids, −1 where the string is not Whisper's (first: with a space)."""
        ids = self.to_whisper[llm_ids].clone()
        first = self.spaced[int(llm_ids[0])]
        if first >= 0:
            ids[0] = first
        return ids

    def inputs(self, llm_ids: torch.Tensor) -> torch.Tensor:
        """As `targets`, with a string Whisper lacks fed as its first Whisper piece."""
        ids = self.targets(llm_ids)
        for position in (ids < 0).nonzero().flatten().tolist():
            text = self.llm.convert_tokens_to_string([self.llm.convert_ids_to_tokens(int(llm_ids[position]))])
            ids[position] = self.whisper(text, add_special_tokens=False).input_ids[0]
        return ids


def decoder_pass(whisper, encoded: list[torch.Tensor], previous: list[torch.Tensor], start: list[int]
                 ) -> list[torch.Tensor]:
    """encoded: per clip [T, D] encoder states (Whisper's cross-attention takes no mask: clips of different lengths
    go one at a time); previous: per clip [n−1, D] input embeddings of tokens 1..n−1 → per clip [n, V] logits naming
    tokens 1..n."""
    if len({len(e) for e in encoded}) > 1:
        return [decoder_pass(whisper, [e], [p], start)[0] for e, p in zip(encoded, previous, strict=True)]
    embed = whisper.model.decoder.embed_tokens.weight
    lengths = [len(p) + 1 for p in previous]
    inputs = torch.zeros(len(previous), max(lengths) + 1, embed.shape[1])
    for row, p in enumerate(previous):
        inputs[row, :2] = embed[start]
        inputs[row, 2 : 2 + len(p)] = p
    hidden = whisper.model.decoder(inputs_embeds=inputs, encoder_hidden_states=torch.stack(encoded)).last_hidden_state
    logits = whisper.proj_out(hidden)
    return [logits[row, 1 : 1 + n] for row, n in enumerate(lengths)]


def main(probe_dir: Path, splits: list[str]) -> None:
    torch.manual_seed(0)
    vocab = Vocabularies()
    counts = torch.bincount(torch.load(probe_dir / "train.pt", mmap=True)["llm_ids"], minlength=len(vocab.to_whisper))
    model = BlspKdModel.from_pretrained("default", precision="fp32", readout=0).eval()
    temperature = 0.02  # the shipped readout's
    llm_embeddings = model.llm.get_input_embeddings().weight
    whisper = WhisperForConditionalGeneration.from_pretrained(WHISPER).eval()
    features = WhisperFeatureExtractor.from_pretrained(WHISPER)
    whisper_embed = whisper.model.decoder.embed_tokens.weight
    shared = vocab.to_whisper >= 0
    for split in splits:
        name, manifest = split.split("=")
        data = torch.load(probe_dir / f"{name}.pt")
        audio_of = {}
        for line in open(manifest):
            record = json.loads(line)
            audio_of[record["id"]] = Path(manifest).parent / record["audio"]
        rows = {key: [] for key in ("target", "llm", "count", "shipped", "teacher forced", "blind", "shipped, hard",
                                    "shipped, soft", "hard, round 2", "hard, round 3", "decoder top",
                                    "decoder top logp", "classifier top", "classifier top logp")}
        with torch.inference_mode():
            vectors = model.adapter.out_proj(model.adapter.out_norm(data["states"].float()))
            clips = list(range(len(data["ids"])))
            for first in tqdm(range(0, len(clips), BATCH), desc=name, unit="batch"):
                chunk = clips[first : first + BATCH]
                audios = [load_audio(audio_of[data["ids"][clip]]).samples for clip in chunk]
                if FRAMES == "padded":  # stock Whisper: 30 s of features, 1500 frames
                    mel = features(audios, sampling_rate=16000, return_tensors="pt").input_features
                    encoded = list(whisper.model.encoder(mel).last_hidden_state)
                else:  # the frames the CFormer reads: the shipped model's encoder on each clip's real length
                    hidden, frame_mask = model.encode(*model.features(audios))
                    encoded = [h[m] for h, m in zip(hidden, frame_mask, strict=True)]
                where = [(data["clip"] == clip).nonzero().flatten() for clip in chunk]
                llm_ids = [data["llm_ids"][w] for w in where]
                inputs = [vocab.inputs(ids) for ids in llm_ids]
                guesses = [token_cosines(vectors[w], llm_embeddings).argmax(-1) for w in where]
                probabilities = [torch.softmax(token_cosines(vectors[w], llm_embeddings) / temperature, -1) for w in where]
                soft = []
                for p in probabilities:
                    p = p * shared
                    p = p / p.sum(-1, keepdim=True).clamp_min(1e-12)
                    soft.append(p[:, shared] @ whisper_embed[vocab.to_whisper[shared]])
                hard = [vocab.inputs(g) for g in guesses]
                previous = {
                    "teacher forced": [whisper_embed[i[:-1]] for i in inputs],
                    "blind": [torch.zeros(len(i) - 1, whisper_embed.shape[1]) for i in inputs],
                    "shipped, hard": [whisper_embed[h[:-1]] for h in hard],
                    "shipped, soft": [s[:-1] for s in soft],
                }
                for condition, prev in previous.items():
                    logits = decoder_pass(whisper, encoded, prev, vocab.start)
                    rows[condition] += [one.argmax(-1) for one in logits]
                    if condition == "shipped, soft":  # for fusing the two afterwards (`fuse.py`)
                        top = [one.log_softmax(-1).topk(TOP) for one in logits]
                        rows["decoder top"] += [t.indices for t in top]
                        rows["decoder top logp"] += [t.values for t in top]
                top = [(token_cosines(vectors[w], llm_embeddings) / temperature).log_softmax(-1).topk(TOP) for w in where]
                rows["classifier top"] += [t.indices for t in top]
                rows["classifier top logp"] += [t.values for t in top]
                for round_name in ("hard, round 2", "hard, round 3"):
                    last = rows["shipped, hard" if round_name.endswith("2") else "hard, round 2"][-len(chunk):]
                    prev = [whisper_embed[choice[:-1]] for choice in last]
                    rows[round_name] += [logits.argmax(-1) for logits in decoder_pass(whisper, encoded, prev, vocab.start)]
                rows["target"] += [vocab.targets(ids) for ids in llm_ids]
                rows["llm"] += llm_ids
                rows["count"] += [counts[ids] for ids in llm_ids]
                rows["shipped"] += [(g == ids).long() for g, ids in zip(guesses, llm_ids, strict=True)]
        flat = {key: torch.cat(value) for key, value in rows.items()}
        torch.save(flat, probe_dir / f"refine-{name}{'' if FRAMES == 'padded' else '-' + FRAMES}.pt")
        print_table(name, flat)


def print_table(name: str, flat: dict[str, torch.Tensor]) -> None:
    target, count = flat["target"], flat["count"]
    scored = target >= 0
    print(f"\n{name}: {len(target)} tokens, {1 - scored.float().mean():.1%} outside the shared strings (misses)")
    header = " | ".join(f"{band} ({((count >= low) & (count < (high or 10**12))).float().mean():.0%})"
                        for band, low, high in BANDS)
    print(f"| condition | {header} | all |")
    print("|---" * (len(BANDS) + 2) + "|")
    for condition in ("shipped", "teacher forced", "blind", "shipped, hard", "shipped, soft", "hard, round 2",
                      "hard, round 3"):
        # "shipped": the classifier's argmax over SmolLM2's vocabulary is the token (1/0 per token)
        right = flat[condition].bool() if condition == "shipped" else (flat[condition] == target) & scored
        cells = []
        for _, low, high in BANDS:
            band = (count >= low) & (count < (high or 10**12))
            cells.append(f"{right[band].float().mean():.1%}")
        print(f"| {condition} | {' | '.join(cells)} | {right.float().mean():.1%} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
