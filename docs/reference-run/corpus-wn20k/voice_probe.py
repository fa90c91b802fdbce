"""Is the speech path's gap to the cascade a matter of the voice? (issue #13, twelfth session.)

Of the WordNet corpus' first 160 test clips, the 64 spoken by the held-out Kal speaker (flite kal16, Festival
kal_diphone) are written to OUT/voice-probe.responses.jsonl beside the same sentences spoken again by three
*training* voices (Piper joe, flite rms, flite slt; neutral prosody, no augmentation). Each copy keeps the record's
instruction and response, so every task scores as on the test split; the sentences stay unseen, only the voice
differs. `blsp-kd evaluate --manifest OUT/voice-probe.responses.jsonl --group-by voice ...` then scores each voice.

usage: python voice_probe.py [TEST_MANIFEST] [OUT_FOLDER]"""
import json
import sys
from pathlib import Path

import soundfile as sf
from tqdm import tqdm

from blsp_kd.data.engines import Prosody, render
from blsp_kd.layout.clips import SAMPLE_RATE

test_manifest = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/ref/data/corpus/test.responses.jsonl")
out = Path(sys.argv[2] if len(sys.argv) > 2 else "/work/ref/data/voice-probe")
TRAINING_VOICES = [("piper", "en_US-joe-medium"), ("flite", "rms"), ("flite", "slt")]

records = [json.loads(line) for line in open(test_manifest)][:160]
kal = [r for r in records if r["engine"] in ("flite", "festival")]
(out / "audio").mkdir(parents=True, exist_ok=True)
probe = []
for record in tqdm(kal, desc="voices"):
    original = dict(record, audio=str((test_manifest.parent / record["audio"]).resolve()))
    probe.append(original)
    for engine, voice in TRAINING_VOICES:
        samples = render(engine, voice, record["text"], Prosody())
        path = out / "audio" / f"{record['id']}-{engine}-{voice}.flac"
        sf.write(path, samples, SAMPLE_RATE)
        copy = {key: value for key, value in record.items()
                if key not in ("rate", "pitch", "noise_scale", "noise_w", "speed", "snr_db", "gain_db")}
        probe.append(dict(copy, id=f"{record['id']}-{voice}", audio=f"audio/{path.name}", engine=engine,
                          voice=voice, seconds=round(len(samples) / SAMPLE_RATE, 3)))
with open(out / "voice-probe.responses.jsonl", "w") as file:
    file.writelines(json.dumps(record) + "\n" for record in probe)
print(f"{len(kal)} Kal clips + {len(kal) * len(TRAINING_VOICES)} in training voices → {out}/voice-probe.responses.jsonl")
