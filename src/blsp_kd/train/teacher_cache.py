"""Teacher cache: the base LLM's top-k log-probs at every position a KD loss reads, computed once per record.

With the teacher and the data fixed (the teacher is always the base LLM, METHOD §4), recomputing it every step
and epoch is wasted work: the cache stores, per record, the top-k log-probs at the training temperature τ and
their token ids at the record's used positions (transcript positions, then response-predicting positions, in
sequence order). The rest of the teacher's mass is recovered from the top-k as one bucket (`kd_kl_topk`).
Keyed on (LLM weights, chat template, prompt layout, instruction, transcript, response ids, early_stop, τ, k).
"""

from pathlib import Path

import torch
from tqdm import tqdm

from blsp_kd.data.collate import collate_text
from blsp_kd.data.store import TensorStore, content_key, tensor_fingerprint
from blsp_kd.losses import teacher_topk
from blsp_kd.models.blsp_kd import used_positions


class TeacherCache:
    def __init__(self, directory: str | Path, model, k: int, temperature: float):
        """model: a BlspKdModel (its base LLM is the teacher)."""
        if model.config.adapter != "cformer":
            raise ValueError("the teacher cache pairs positions through the CIF's exact n: CFormer adapter only")
        self.model, self.k, self.temperature = model, k, temperature
        self.store = TensorStore(directory)
        embeddings = model.llm.get_input_embeddings().weight
        self.llm_id = content_key(tensor_fingerprint({"embeddings": embeddings}), model.llm.config.to_json_string(),
                                  model.tokenizer.chat_template, model.config.user_template,
                                  model.config.system_prompt)

    def key(self, example: dict) -> str:
        return content_key("teacher-topk", self.llm_id, example["instruction"], example["text"],
                           example.get("response_ids"), example.get("early_stop"), self.temperature, self.k)

    def load(self, example: dict) -> tuple[torch.Tensor, torch.Tensor]:
        tensors = self.store.load(self.key(example))
        return tensors["logprobs"], tensors["ids"].long()

    @torch.no_grad()
    def build(self, examples: list[dict], batch_size: int = 16, progress: bool = True) -> None:
        """Run the teacher over every example not yet cached (text only: no audio needed)."""
        missing = [example for example in examples if self.key(example) not in self.store]
        model = self.model
        for start in tqdm(range(0, len(missing), batch_size), desc="teacher top-k cache", unit="batch",
                          disable=not progress):
            chunk = missing[start : start + batch_size]
            batch = collate_text(chunk, model.prompts, model.pad_id).to(model.device)
            used = used_positions(batch)
            logprobs, ids = teacher_topk(model.teacher_logits(batch, used), self.k, self.temperature)
            rows = used.nonzero()[:, 0]
            for row, example in enumerate(chunk):
                self.store.save(self.key(example), {"logprobs": logprobs[rows == row].float(),
                                                    "ids": ids[rows == row].int()})
