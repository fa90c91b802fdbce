"""Issue #13, thirty-third session: does hearing a rare word more often, in other voices, teach the recogniser to name
it in new sentences and voices? A lab probe of the next lever (speech built for word coverage), not part of the
package.

Target words: words heard 1–9 times in the transcripts the weights were last trained on (HEARD manifests) that also
occur in the 100k plan's unspoken validation records [256, 10000) (sentences no training or evaluation set has). For
each target word (in a fixed random order, up to MAX_WORDS):
- training clips: PER_WORD clips of the plan's training sentences that contain it, cycling over those sentences, each
  spoken in the voice, prosody and augmentation of a randomly drawn other training record (a training voice);
- a probe clip: one of those validation sentences, in its own planned voice (not used for training or tuning).

    python build.py OUT QUESTIONS HEARD[,HEARD…] MAX_WORDS PER_WORD

writes OUT/train.jsonl, OUT/probe.jsonl and OUT/words.txt (each target word and its count in HEARD).
"""
import dataclasses
import json
import random
import sys
from collections import Counter, defaultdict
from pathlib import Path

from blsp_kd.data.manifest import write_manifest
from blsp_kd.data.synth import load_sources, plan_utterances, speak_utterances
from blsp_kd.data.texts import WORDNET_DIR
from blsp_kd.eval.metrics import normalize

out, questions, heard = Path(sys.argv[1]), sys.argv[2], sys.argv[3].split(",")
max_words, per_word = int(sys.argv[4]), int(sys.argv[5])
plan = plan_utterances(load_sources(questions=questions, wordnet_dir=WORDNET_DIR), num=100000, seed=0)
train = [u for u in plan if u.split == "train"]
probe_pool = [u for u in plan if u.split == "valid"][256:10000]
counts = Counter(word for manifest in heard for line in open(manifest)
                 for word in normalize(json.loads(line)["text"]).split())
sentences_with = defaultdict(list)  # word → distinct training sentences holding it
for text in sorted({u.text for u in train}):
    for word in set(normalize(text).split()):
        sentences_with[word].append(text)
probe_with = defaultdict(list)
for utterance in probe_pool:
    for word in set(normalize(utterance.text).split()):
        probe_with[word].append(utterance)
rng = random.Random(0)
candidates = sorted(w for w in probe_with if 1 <= counts[w] <= 9 and sentences_with[w])
rng.shuffle(candidates)
words, training, probes, used = [], [], [], set()
for word in candidates:
    probe = next((u for u in probe_with[word] if u.id not in used), None)
    if probe is None:
        continue
    if len(words) == max_words:
        break
    used.add(probe.id)
    words.append(word)
    probes.append(probe)
    for k in range(per_word):
        donor = rng.choice(train)
        text = sentences_with[word][k % len(sentences_with[word])]
        training.append(dataclasses.replace(donor, id=f"cover-{len(training):06d}", text=text, source="coverage"))
out.mkdir(parents=True, exist_ok=True)
(out / "words.txt").write_text("".join(f"{w}\t{counts[w]}\n" for w in words))
for name, utterances in (("probe", probes), ("train", training)):
    records, problems = speak_utterances(utterances, out / "audio", workers=2, desc=name)
    for problem in problems:
        print(f"skipped, {problem}", file=sys.stderr)
    write_manifest(out / f"{name}.jsonl", [record for record in records if record is not None])
print(f"{len(words)} target words, {len(probes)} probe clips, {len(training)} training clips")
