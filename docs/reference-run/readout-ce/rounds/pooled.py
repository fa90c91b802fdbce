"""Issue #13, thirty-seventh session: the rounds decision on all validation clips pooled (rule.txt, second part).
A lab script, not part of the package.

Each argument is one split, "ONE,ROUNDS,TEXT[,CASCADE]": evaluation folders (FOLDER[:SYSTEM], SYSTEM defaulting to
speech) of `default` read in one round, in 5, the text path and the cascade on the same clips. Prints, pooled over
the splits' clips: (a) S + D per transcript word, 5 rounds minus one, with a 95 % paired bootstrap interval (as
inference/sd_boot.py); (b) the WER against the text path's answers, 5 rounds minus one (the package's
`error_rate_difference` with the text path's answers as references); (c) repeat WER, 5 rounds minus the cascade,
over the splits that name one.

    PYTHONPATH=src:docs/reference-run/readout-ce/inference python pooled.py ONE,ROUNDS,TEXT[,CASCADE] …
"""
import sys

import numpy as np
from sd_boot import lost_and_length, repeats

from blsp_kd.eval.metrics import error_rate_difference

one, rounds, text, cascade = [], [], [], []
for argument in sys.argv[1:]:
    folders = [repeats(folder) for folder in argument.split(",")]
    ids = sorted(set.intersection(*(set(answers) for answers in folders)))
    print(f"{argument}: {len(ids)} clips")
    one += [folders[0][i] for i in ids]
    rounds += [folders[1][i] for i in ids]
    text += [folders[2][i] for i in ids]
    if len(folders) > 3:
        cascade += [(folders[1][i], folders[3][i]) for i in ids]

lost_one = np.array([lost_and_length(a) for a in one])
lost_rounds = np.array([lost_and_length(a) for a in rounds])
draws = np.random.default_rng(0).integers(0, len(one), size=(2000, len(one)))
drawn = (lost_rounds[draws, 0].sum(1) - lost_one[draws, 0].sum(1)) / lost_one[draws, 1].sum(1)
low, high = np.percentile(drawn, [2.5, 97.5])
sd_one, sd_rounds = (lost[:, 0].sum() / lost[:, 1].sum() for lost in (lost_one, lost_rounds))
print(f"(a) {len(one)} clips: S + D 5 rounds {sd_rounds:.3f} − one round {sd_one:.3f} = {sd_rounds - sd_one:+.3f} "
      f"[{low:+.3f}, {high:+.3f}]")
vs_text = error_rate_difference([a["output"] for a in text], [a["output"] for a in rounds], [a["output"] for a in one])
print(f"(b) {len(one)} clips: WER against the text path's answers, 5 rounds − one round = "
      f"{vs_text['difference']:+.3f} [{vs_text['low']:+.3f}, {vs_text['high']:+.3f}]")
if cascade:
    wer = error_rate_difference([a["reference"] for a, _ in cascade], [a["output"] for a, _ in cascade],
                                [c["output"] for _, c in cascade])
    print(f"(c) {len(cascade)} clips: repeat WER, 5 rounds − the cascade = {wer['difference']:+.3f} "
          f"[{wer['low']:+.3f}, {wer['high']:+.3f}]")
