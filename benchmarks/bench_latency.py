"""Speech → first response token: BLSP-KD (one model, real-length encoder, CIF, LLM) against the cascade it replaces
(stock Whisper tiny.en greedy ASR on 30 s padding → the same SmolLM2 reading the transcript). Goal ≤ 0.5×. Also
BLSP-KD read through the shipped model's readouts: the vocabulary readout (T = 0.02), and that + the decoder readout
(λ = 2: one pass of Whisper's decoder per clip, models/decoder_readout.py), and that in 5 rounds (`readout_rounds`:
five passes).

Both answer "Continue the following text in a coherent style:" about the same held-out synthetic clips, one clip at
a time, timed from the clip in memory to the first new token (`FirstTokenClock`). The BLSP-KD adapter is untrained.
Latency depends on its weights through the vector count n̂ = round(Σα) only: the untrained CIF emits about 5 vectors
per second of these clips (15–30 for 3.7–5.8 s), the shipped model 3.2–4.2 (docs/BENCHMARKS.md, thirty-eighth
session).

    .venv/bin/python benchmarks/bench_latency.py [--quick]
"""

import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, parse_args, print_table, synth_records  # noqa: E402

from blsp_kd.data.audio import load_record_audio  # noqa: E402
from blsp_kd.eval.evaluate import CascadeSystem, Clip, FirstTokenClock, SpeechSystem  # noqa: E402
from blsp_kd.layout.tasks import INSTRUCTIONS  # noqa: E402
from blsp_kd.models.blsp_kd import BlspKdModel
from blsp_kd.models.config import BlspKdConfig  # noqa: E402
from blsp_kd.models.pretrained import load_whisper  # noqa: E402

MAX_NEW_TOKENS = 4  # only the first token is timed


def first_token_seconds(system, clip: Clip, instruction: str) -> float:
    clock = FirstTokenClock()
    start = time.perf_counter()
    system.response_ids([clip], [instruction], MAX_NEW_TOKENS, streamer=clock)
    if clock.first_token_at is None:
        raise RuntimeError(f"{type(system).__name__} gave no token for clip {clip.record.id}")
    return clock.first_token_at - start


def without_decoder_readout(model: BlspKdModel, vocabulary_readout: float | None) -> BlspKdModel:
    """`model` read without its decoder readout (and with this vocabulary readout, None: none): the same base models,
    not loaded again, and the same adapter weights."""
    architecture = replace(model.config.architecture, vocabulary_readout=vocabulary_readout, decoder_readout=None)
    other = BlspKdModel(replace(model.config, architecture=architecture), model.encoder.encoder,
                        model.feature_extractor, model.llm, model.tokenizer)
    other.adapter.load_state_dict(model.adapter.state_dict())
    return other.eval()


def main():
    args = parse_args(__doc__.splitlines()[0])
    num_clips, repeats = (3, 1) if args.quick else (12, 3)
    print(f"machine: {machine()}")
    config = BlspKdConfig()
    read_everything = replace(config.architecture, vocabulary_readout=0.02, decoder_readout=2.0)
    decoder_model = BlspKdModel.from_config(replace(config, architecture=read_everything))  # loads Whisper's decoder
    model = without_decoder_readout(decoder_model, None)  # the adapter's own vectors
    in_rounds = BlspKdModel.from_config(replace(config, architecture=replace(read_everything, readout_rounds=5)))
    in_rounds.adapter.load_state_dict(decoder_model.adapter.state_dict())
    read_out = {"vocabulary readout": without_decoder_readout(decoder_model, 0.02), "decoder readout": decoder_model}
    whisper, processor = load_whisper()
    records = synth_records(num_clips, model.tokenizer, split="test")
    clips = [Clip(record, load_record_audio(record).samples) for record in records]
    instruction = INSTRUCTIONS["continuation"]
    systems = {"BLSP-KD (speech → LLM)": SpeechSystem(model), "cascade (Whisper ASR → LLM)": CascadeSystem(
        model, whisper, processor), "BLSP-KD + vocabulary readout": SpeechSystem(read_out["vocabulary readout"]),
        "BLSP-KD + vocabulary and decoder readouts": SpeechSystem(read_out["decoder readout"]),
        "BLSP-KD + both readouts, 5 rounds": SpeechSystem(in_rounds)}
    for system in systems.values():  # one untimed run each: one-off start-up costs are not latency
        first_token_seconds(system, clips[0], instruction)
    per_clip = {name: [[] for _ in clips] for name in systems}
    for _ in range(repeats):
        for index, clip in enumerate(clips):
            for name, system in systems.items():  # interleaved, so load from other jobs hits both alike
                per_clip[name][index].append(first_token_seconds(system, clip, instruction))
    medians = {name: [statistics.median(values) for values in clips_values] for name, clips_values in per_clip.items()}
    seconds = [len(clip.audio) / 16000 for clip in clips]
    print(f"{num_clips} held-out synthetic clips ({min(seconds):.1f}–{max(seconds):.1f} s, mean "
          f"{statistics.mean(seconds):.1f} s), batch 1; per clip the median of {repeats} runs\n")
    speech_name, cascade_name, vocabulary_name, decoder_name, rounds_name = systems
    print_table(["system", "median first-token latency, s", "mean, s"],
                [[name, f"{statistics.median(values):.3f}", f"{statistics.mean(values):.3f}"]
                 for name, values in medians.items()])
    for name, against in ((speech_name, cascade_name), (vocabulary_name, cascade_name), (decoder_name, cascade_name),
                          (rounds_name, cascade_name), (decoder_name, vocabulary_name), (rounds_name, decoder_name)):
        ratios = [ours / theirs for ours, theirs in zip(medians[name], medians[against], strict=True)]
        print(f"\n{name} / {against}: median of per-clip ratios {statistics.median(ratios):.2f}× "
              f"(range {min(ratios):.2f}–{max(ratios):.2f}{'; goal ≤ 0.5×' if name == speech_name else ''})")


if __name__ == "__main__":
    main()
