"""Can a linear map carry Whisper's token embeddings into SmolLM2's? (the "vocabulary bridge" idea of the tenth note)

If it could, Whisper's decoder, which names rare words through its own output embedding, would hand the adapter a
prior for words our corpus never let it hear. The probe: the token strings both tokenizers share, split 90/10 by a
seeded shuffle; an affine least-squares map from Whisper tiny.en's decoder embedding (384) to SmolLM2's input/output
embedding (576, tied) fitted on the 90 %; on the held-out 10 %, how often the mapped vector's nearest SmolLM2 embedding
(cosine) is the same token, by band of SmolLM2 token id (BPE merge order: low ids are the frequent pieces).

    python bridge_probe.py    # the embedded models from `blsp-kd convert` (~/.cache/blsp-kd)
"""

from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer

CACHE = Path.home() / ".cache" / "blsp-kd"
WHISPER, LLM = CACHE / "whisper-tiny.en", CACHE / "smollm2-135m-instruct"


def main() -> None:
    whisper_vocab = AutoTokenizer.from_pretrained(WHISPER).get_vocab()
    llm_vocab = AutoTokenizer.from_pretrained(LLM).get_vocab()
    whisper_embedding = load_file(WHISPER / "model.safetensors")["model.decoder.embed_tokens.weight"].float()
    llm_embedding = load_file(LLM / "model.safetensors")["lm_head.weight"].float()  # tied with the input embedding

    shared = sorted(set(whisper_vocab) & set(llm_vocab))
    print(f"vocabularies: Whisper {len(whisper_vocab):,}, SmolLM2 {len(llm_vocab):,}, shared strings {len(shared):,}")
    whisper_ids = torch.tensor([whisper_vocab[token] for token in shared])
    llm_ids = torch.tensor([llm_vocab[token] for token in shared])
    order = torch.randperm(len(shared), generator=torch.Generator().manual_seed(0))
    fit, held_out = order[: int(0.9 * len(shared))], order[int(0.9 * len(shared)) :]

    inputs = torch.cat([whisper_embedding[whisper_ids], torch.ones(len(shared), 1)], dim=1)  # affine: a bias column
    bridge = torch.linalg.lstsq(inputs[fit], llm_embedding[llm_ids[fit]]).solution
    mapped = torch.nn.functional.normalize(inputs[held_out] @ bridge, dim=1)
    similarity = mapped @ torch.nn.functional.normalize(llm_embedding, dim=1).T
    hit = similarity.argmax(dim=1) == llm_ids[held_out]
    top10 = (similarity.topk(10, dim=1).indices == llm_ids[held_out, None]).any(dim=1)
    print(f"held-out shared tokens {len(held_out):,}: nearest = the token {hit.float().mean():.1%}, "
          f"in the 10 nearest {top10.float().mean():.1%}")
    for low, high in [(0, 5_000), (5_000, 20_000), (20_000, len(llm_vocab))]:
        band = (llm_ids[held_out] >= low) & (llm_ids[held_out] < high)
        print(f"  SmolLM2 ids {low:,}–{high:,}: {int(band.sum()):,} tokens, nearest = the token "
              f"{hit[band].float().mean():.1%}")


if __name__ == "__main__":
    main()
