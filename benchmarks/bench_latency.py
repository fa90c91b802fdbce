"""Speech → first response token: BLSP-KD (one model, real-length encoder, CIF, LLM) against the cascade it replaces
(stock Whisper tiny.en greedy ASR on 30 s padding → the same SmolLM2 reading the transcript). Goal ≤ 0.5×. BLSP-KD is
the shipped model (`default`), read four ways: the adapter's own vectors (`--readout 0`), the vocabulary readout alone
(`--decoder-readout 0`), both readouts in one round (`--readout-rounds 1`) and as shipped (both, 5 rounds).

Both answer "Continue the following text in a coherent style:" about the same held-out synthetic clips, one clip at
a time, timed from the clip in memory to the first new token (`FirstTokenClock`). Latency depends on the weights
through the CIF's vector count n̂ = round(Σα), hence the shipped model's weights (an untrained adapter emits about 5
vectors per second of these clips, the shipped model 3.2–4.2; docs/BENCHMARKS.md, thirty-eighth session).

    .venv/bin/python benchmarks/bench_latency.py [--quick]
"""

import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, parse_args, print_table, synth_records  # noqa: E402

from blsp_kd.data.audio import load_record_audio  # noqa: E402
from blsp_kd.eval.evaluate import CascadeSystem, Clip, FirstTokenClock, SpeechSystem  # noqa: E402
from blsp_kd.layout.tasks import INSTRUCTIONS  # noqa: E402
from blsp_kd.models.blsp_kd import BlspKdModel, Reading  # noqa: E402
from blsp_kd.models.pretrained import load_whisper  # noqa: E402

MAX_NEW_TOKENS = 4  # only the first token is timed


def first_token_seconds(system, clip: Clip, instruction: str) -> float:
    clock = FirstTokenClock()
    start = time.perf_counter()
    system.response_ids([clip], [instruction], MAX_NEW_TOKENS, streamer=clock)
    if clock.first_token_at is None:
        raise RuntimeError(f"{type(system).__name__} gave no token for clip {clip.record.id}")
    return clock.first_token_at - start


def main():
    args = parse_args(__doc__.splitlines()[0])
    num_clips, repeats = (3, 1) if args.quick else (12, 3)
    print(f"machine: {machine()}")
    readings = {"BLSP-KD (speech → LLM)": Reading(readout=0),  # the adapter's own vectors
                "BLSP-KD + vocabulary readout": Reading(decoder_readout=0),
                "BLSP-KD + vocabulary and decoder readouts": Reading(readout_rounds=1),
                "BLSP-KD + both readouts, 5 rounds (as shipped)": Reading()}
    models = {name: BlspKdModel.from_pretrained("default", "fp32", **asdict(reading)).eval()
              for name, reading in readings.items()}
    plain = models.pop("BLSP-KD (speech → LLM)")
    whisper, processor = load_whisper()
    records = synth_records(num_clips, plain.tokenizer, split="test")
    clips = [Clip(record, load_record_audio(record).samples) for record in records]
    instruction = INSTRUCTIONS["continuation"]
    systems = {"BLSP-KD (speech → LLM)": SpeechSystem(plain),
               "cascade (Whisper ASR → LLM)": CascadeSystem(plain, whisper, processor),
               **{name: SpeechSystem(reader) for name, reader in models.items()}}
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
