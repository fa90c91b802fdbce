"""Issue #13, thirty-fourth session: are rare tokens' LLM input embeddings crowded? A lab probe, not part of the
package.

The classifier names a speech vector's token by its cosine to each of SmolLM2's input embeddings at T = 0.02. If the
embeddings of tokens its training rarely had sat closer to other tokens' than frequent ones do, a rare token would
need a more precisely placed vector to be named (the thirty-third note's first "why"). For the tokens of each count
band (the shipped model's training-transcript counts), the cosine to the nearest and to the fifth-nearest other
token, 10th / 50th / 90th percentiles over the band.

    PYTHONPATH=src python embedding_neighbours.py
"""

import torch

from blsp_kd.models.blsp_kd import BlspKdModel

model = BlspKdModel.from_pretrained("default", precision="fp32")
embeddings = torch.nn.functional.normalize(model.llm.get_input_embeddings().weight.float(), dim=-1)
counts = model.token_counts
quantiles = torch.tensor([0.1, 0.5, 0.9])
print("| band (training count) | tokens | nearest other token: cosine 10 / 50 / 90 % | fifth nearest |")
print("|---|---|---|---|")
for name, low, high in (("≥ 100", 100, None), ("10–99", 10, 100), ("1–9", 1, 10)):
    tokens = ((counts >= low) & (counts < (high or counts.max() + 1))).nonzero().flatten()
    nearest = []
    for chunk in tokens.split(2000):
        cosines = embeddings[chunk] @ embeddings.T
        cosines[torch.arange(len(chunk)), chunk] = -2  # not itself
        nearest.append(cosines.topk(5, dim=-1).values[:, [0, 4]])
    nearest = torch.cat(nearest)
    cells = [" / ".join(f"{x:.2f}" for x in nearest[:, k].quantile(quantiles).tolist()) for k in (0, 1)]
    print(f"| {name} | {len(tokens)} | {cells[0]} | {cells[1]} |")
