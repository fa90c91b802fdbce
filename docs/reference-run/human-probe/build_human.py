"""A first probe on human speech: the human recordings with transcripts that ship inside the pocketsphinx 5.1.1
source distribution on PyPI (its test data: five LibriVox sentences of "Sense and Sensibility", public domain;
"go forward ten meters" and five card-name utterances recorded by the CMU Sphinx project, BSD-style licence).

    python build_human.py OUT_DIR

downloads the sdist (34 MB, checked against its sha256), writes OUT_DIR/audio/*.flac (16 kHz mono) and
OUT_DIR/human.jsonl (id, audio, text, source, engine "human", voice, seconds), for `blsp-kd evaluate --manifest`.
The transcripts are written as the training corpus writes its sentences (sentence case, punctuation; the LibriVox
ones as the novel prints them, the reader's words kept): pocketsphinx's lower-case, unpunctuated transcriptions
would change the transcript's LLM tokens, and with them the CIF count error and token accuracy (the WER
normalises case and punctuation either way).
Eleven clips: an anecdote, not a benchmark; nothing of it is used for training or tuning.
"""
import hashlib
import io
import json
import re
import sys
import tarfile
import urllib.request
from pathlib import Path

import numpy as np
import soundfile as sf

URL = ("https://files.pythonhosted.org/packages/61/e7/13e0e787ff467218de880310d79cba14424f13b87171ac44af0bde1e428c/"
       "pocketsphinx-5.1.1.tar.gz")
SHA256 = "675778b309a22dfc9b7d37f7621976bba491d2a5f8c59696bd77fd6d07271355"
DATA = "pocketsphinx-5.1.1/test/data/"
WRITTEN = {  # the transcriptions as the corpus writes sentences; the spoken words unchanged
    "librivox-0870": "And Mr. John Dashwood had then leisure to consider how much there might be prudently in his "
                     "power to do for them.",
    "librivox-0880": "He was not an ill-disposed young man.",
    "librivox-0890": "Unless to be rather cold hearted and rather selfish is to be ill-disposed.",
    "librivox-0920": "Had he married a more a amiable woman, he might have been made still more respectable than he "
                     "was.",
    "librivox-0930": "He might even have been made amiable himself.",
    "goforward": "Go forward ten meters.",
    "cards-001": "Ten of clubs.",
    "cards-002": "Four queen of clubs.",
    "cards-003": "Seven of clubs.",
    "cards-004": "Five five.",
    "cards-005": "Eight of spades, four of clubs, seven of hearts.",
}


PUNCTUATION = str.maketrans({".": None, ",": None, "-": " "})


def main(out: Path) -> None:
    blob = urllib.request.urlopen(URL).read()
    digest = hashlib.sha256(blob).hexdigest()
    if digest != SHA256:
        sys.exit(f"pocketsphinx-5.1.1.tar.gz: sha256 {digest}, expected {SHA256}")
    files = {}
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.startswith(DATA):
                files[member.name[len(DATA):]] = tar.extractfile(member).read()
    clips = []  # (id, samples, rate, transcript, source)
    for name in sorted(n for n in files if n.startswith("librivox/") and n.endswith(".wav")):
        samples, rate = sf.read(io.BytesIO(files[name]), dtype="float32")
        text = files[name[:-4] + ".txt"].decode().strip()
        clips.append((f"librivox-{name[-8:-4]}", samples, rate, text, "librivox"))
    samples = np.frombuffer(files["goforward.raw"], dtype="<i2").astype(np.float32) / 32768
    clips.append(("goforward", samples, 16000, "go forward ten meters", "pocketsphinx"))
    for line in files["cards/cards.transcription"].decode().splitlines():
        text, number = re.fullmatch(r"<s>(.*)</s> \((\d+)\)", line.strip()).groups()
        samples, rate = sf.read(io.BytesIO(files[f"cards/{number}.wav"]), dtype="float32")
        clips.append((f"cards-{number}", samples, rate, text.strip(), "cards"))
    (out / "audio").mkdir(parents=True, exist_ok=True)
    with open(out / "human.jsonl", "w") as manifest:
        for clip_id, samples, rate, text, source in clips:
            if rate != 16000:
                sys.exit(f"{clip_id}: {rate} Hz, expected 16000")
            sf.write(out / "audio" / f"{clip_id}.flac", samples, rate)
            if WRITTEN[clip_id].lower().replace("mr.", "mister").translate(PUNCTUATION).split() != text.split():
                sys.exit(f"{clip_id}: the written transcript has other words than {text!r}")
            manifest.write(json.dumps({"id": clip_id, "audio": f"audio/{clip_id}.flac", "text": WRITTEN[clip_id],
                                       "source": source, "engine": "human", "voice": source,
                                       "seconds": round(len(samples) / rate, 3)}) + "\n")
    print(f"{len(clips)} clips → {out / 'human.jsonl'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
