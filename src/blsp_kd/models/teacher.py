"""The teacher at the positions a KD loss reads (`used_positions`), and its cache: the base LLM's output there,
computed once per record.

With the teacher and the data fixed (the teacher is always the base LLM, METHOD §4), recomputing it every step
and epoch is wasted work. Per record, at its used positions (transcript positions, then response-predicting
positions, in sequence order), the cache stores either
- `hidden` (default, exact): the teacher's last hidden states [K, H]; each step the LM head turns them into the
  full-vocabulary logits again, so training and metrics are unchanged while 30 transformer layers are skipped; or
- `topk` (METHOD §4's form, approximate): the top-k log-probs at the training temperature τ and their ids; the rest
  of the vocabulary is one bucket (`kd_kl_topk`). Measured on SmolLM2 (49k vocabulary) this under-estimates the KL
  a lot at τ = 2 (see docs/RESULTS.md), so it is for very large vocabularies / tight disks only.
Keyed on (LLM weights, chat template, prompt layout, instruction, transcript, response ids, early_stop, mode, and
for top-k also τ and k).
"""

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

from blsp_kd.layout.batch import TextBatch, collate_text
from blsp_kd.losses import response_logit_mask, teacher_topk
from blsp_kd.store import TensorStore, content_key, in_own_order, tensor_fingerprint


@dataclass
class TeacherHidden:
    """A cached teacher, exact: its last hidden states [K, H] at the positions a loss uses (row-major order of
    `used_positions(batch)`); the LM head turns them into logits again each step (cheap next to 30 layers)."""

    hidden: Tensor

    @classmethod
    def concat(cls, parts: list["TeacherHidden"]) -> "TeacherHidden":
        return cls(torch.cat([part.hidden for part in parts]))

    def to(self, device) -> "TeacherHidden":
        return TeacherHidden(self.hidden.to(device))


@dataclass
class TeacherTopK:
    """A cached teacher, approximate: top-k log-probs at the training temperature and their ids [K, k], the rest of
    the vocabulary as one bucket (`kd_kl_topk`, a lower bound of the KL; see docs/RESULTS.md for its error)."""

    logprobs: Tensor
    ids: Tensor

    @classmethod
    def concat(cls, parts: list["TeacherTopK"]) -> "TeacherTopK":
        return cls(torch.cat([part.logprobs for part in parts]), torch.cat([part.ids for part in parts]))

    def to(self, device) -> "TeacherTopK":
        return TeacherTopK(self.logprobs.to(device), self.ids.to(device))


def used_positions(batch: TextBatch, with_transcript: bool = True) -> Tensor:
    """[B, L] bool: positions whose logits a loss reads: response-predicting positions and, for the input KL,
    the transcript/speech positions."""
    response = response_logit_mask(batch.response_mask)
    return batch.speech_mask | response if with_transcript else response


MODES = ("hidden", "topk")


class TeacherCache:
    def __init__(self, directory: str | Path, model, mode: str = "hidden", k: int = 64, temperature: float = 1.0):
        """model: a BlspKdModel (its base LLM is the teacher). k and temperature matter for mode 'topk' only."""
        if not model.adapter.aligned_to_tokens:
            raise ValueError("the teacher cache pairs positions through the CIF's exact n: CFormer adapter only")
        if mode not in MODES:
            raise ValueError(f"teacher cache mode must be one of {MODES}, got {mode!r}")
        self.model, self.mode, self.k, self.temperature = model, mode, k, temperature
        self.store = TensorStore(directory)
        embeddings = model.llm.get_input_embeddings().weight
        self.llm_id = content_key(tensor_fingerprint({"embeddings": embeddings}), model.llm.config.to_json_string(),
                                  model.tokenizer.chat_template, model.config.prompt.user_template,
                                  model.config.prompt.system_prompt)

    def key(self, example: dict) -> str:
        settings = (self.temperature, self.k) if self.mode == "topk" else ()
        return content_key(f"teacher-{self.mode}", self.llm_id, example["instruction"], example["text"],
                           example.get("response_ids"), example.get("early_stop"), *settings)

    def load(self, example: dict) -> TeacherHidden | TeacherTopK:
        tensors = self.store.load(self.key(example))
        if self.mode == "hidden":
            return TeacherHidden(tensors["hidden"])
        return TeacherTopK(tensors["logprobs"], tensors["ids"].long())

    @torch.no_grad()
    def build(self, examples: list[dict], batch_size: int = 16, progress: bool = True) -> None:
        """Run the teacher over every example not yet cached (text only: no audio needed)."""
        keys = [self.key(example) for example in examples]
        missing = [(example, key) for example, key in zip(examples, keys, strict=True) if key not in self.store]
        batches = [missing[start : start + batch_size] for start in range(0, len(missing), batch_size)]
        model = self.model
        for pairs in tqdm(in_own_order(batches), desc=f"teacher cache ({self.mode})", unit="batch",
                          disable=not progress):
            # what another process filling this cache has written meanwhile is not computed again
            pairs = [(example, key) for example, key in pairs if key not in self.store]
            if not pairs:
                continue
            chunk = [example for example, _ in pairs]
            batch = collate_text(chunk, model.prompts).to(model.device)
            used = used_positions(batch)
            hidden = model.teacher_hidden(batch, used)
            rows = used.nonzero()[:, 0]
            if self.mode == "hidden":
                records = [{"hidden": hidden[rows == row]} for row in range(len(chunk))]
            else:
                logprobs, ids = teacher_topk(model.lm_head(hidden), self.k, self.temperature)
                records = [{"logprobs": logprobs[rows == row].float(), "ids": ids[rows == row].int()}
                           for row in range(len(chunk))]
            for (_, key), tensors in zip(pairs, records, strict=True):
                self.store.save(key, tensors)
