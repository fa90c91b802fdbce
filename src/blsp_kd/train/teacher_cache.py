"""Teacher cache: the base LLM's output at every position a KD loss reads, computed once per record.

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

from pathlib import Path

import torch
from tqdm import tqdm

from blsp_kd.data.collate import collate_text
from blsp_kd.data.store import TensorStore, content_key, tensor_fingerprint
from blsp_kd.losses import teacher_topk
from blsp_kd.models.blsp_kd import TeacherHidden, TeacherTopK, used_positions

MODES = ("hidden", "topk")


class TeacherCache:
    def __init__(self, directory: str | Path, model, mode: str = "hidden", k: int = 64, temperature: float = 1.0):
        """model: a BlspKdModel (its base LLM is the teacher). k and temperature matter for mode 'topk' only."""
        if model.config.adapter != "cformer":
            raise ValueError("the teacher cache pairs positions through the CIF's exact n: CFormer adapter only")
        if mode not in MODES:
            raise ValueError(f"teacher cache mode must be one of {MODES}, got {mode!r}")
        self.model, self.mode, self.k, self.temperature = model, mode, k, temperature
        self.store = TensorStore(directory)
        embeddings = model.llm.get_input_embeddings().weight
        self.llm_id = content_key(tensor_fingerprint({"embeddings": embeddings}), model.llm.config.to_json_string(),
                                  model.tokenizer.chat_template, model.config.user_template,
                                  model.config.system_prompt)

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
        missing = [example for example in examples if self.key(example) not in self.store]
        model = self.model
        for start in tqdm(range(0, len(missing), batch_size), desc=f"teacher cache ({self.mode})", unit="batch",
                          disable=not progress):
            chunk = missing[start : start + batch_size]
            batch = collate_text(chunk, model.prompts, model.pad_id).to(model.device)
            used = used_positions(batch)
            hidden = model.teacher_hidden(batch, used)
            rows = used.nonzero()[:, 0]
            if self.mode == "hidden":
                records = [{"hidden": hidden[rows == row]} for row in range(len(chunk))]
            else:
                logprobs, ids = teacher_topk(model.lm_head(hidden), self.k, self.temperature)
                records = [{"logprobs": logprobs[rows == row].float(), "ids": ids[rows == row].int()}
                           for row in range(len(chunk))]
            for example, tensors in zip(chunk, records, strict=True):
                self.store.save(self.key(example), tensors)
