"""BLSP-KD: Whisper encoder → adapter (CFormer/CIF or conv baseline) → chat LLM, trained by distilling the LLM's own
text behaviour into its speech behaviour (METHOD §1–§4, §6).

The data path, in the order of this file:

    audio ─ log_mel ─► SpeechEncoder (real length, or 30 s-padded) ─► adapter ─► n speech vectors
    TextBatch (one left-padded sequence: [prefix][transcript][suffix][response]) ─► token embeddings
        teacher: token embeddings as they are, every adapter off, no grad          (the base LLM reading text)
        student: speech vectors written over the transcript positions, PLoRA on there (the LLM hearing speech)
    ─► hidden states ─► LM head only at the positions a loss uses ─► losses

Because CIF emits exactly n vectors when n is given, teacher and student sequences have the same length, the same
attention mask and the same position ids; transcript position i is speech position i.
"""

import json
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import Tensor, nn

from blsp_kd.layout.batch import SpeechInput, TextBatch, build_inference_inputs, collate_text, resize_speech
from blsp_kd.layout.clips import DEFAULT_MAX_SECONDS, as_clip
from blsp_kd.layout.prompt import PromptBuilder, cut_at_end_of_turn
from blsp_kd.losses import (
    cif_quantity_loss,
    kd_kl,
    kd_kl_topk,
    response_ce,
    response_logit_mask,
    speech_decoder_kd,
    speech_rms_loss,
    speech_token_ce,
    weighted_total,
)
from blsp_kd.models.adapters import AdapterOutput, build_adapter, dropout_off, vocabulary_readout
from blsp_kd.models.config import BlspKdConfig
from blsp_kd.models.decoder_readout import (
    SharedVocabulary,
    decoder_teacher_log_probs,
    fused_log_probs,
    readout_embeddings,
    readout_terms,
)
from blsp_kd.models.encoder import SpeechEncoder, log_mel, min_clip_samples
from blsp_kd.models.plora import adapters_disabled, apply_plora, speech_positions
from blsp_kd.models.teacher import TeacherHidden, TeacherTopK, used_positions
from blsp_kd.store import save_tensors

CONFIG_FILE, WEIGHTS_FILE = "blsp_kd_config.json", "model.safetensors"
COUNTS_FILE = "token_counts.safetensors"  # the training transcripts' token counts (`readout_prior`), when written


@dataclass(frozen=True)
class Reading:
    """How a trained model reads its speech vectors at inference where that should differ from its checkpoint's
    config (METHOD §9): `BlspKdModel.from_pretrained`'s keyword arguments of these names as one value
    (`from_pretrained(folder, precision, **asdict(reading))`), which the command line (`--readout`,
    `--decoder-readout`, `--readout-prior`, `--readout-rounds`) hands to every checkpoint it loads. None keeps the
    checkpoint's own; 0 turns that readout off."""

    readout: float | None = None  # the vocabulary readout's temperature T
    decoder_readout: float | None = None  # the decoder readout's weight λ
    readout_prior: float | None = None  # the weight γ of the classifier's training prior, divided out
    readout_rounds: int | None = None  # the decoder readout's rounds


OWN_READING = Reading()  # every checkpoint read as its config says


# Models shipped inside the package, by name: `--model default`, `BlspKdModel.from_pretrained("default")`.
SHIPPED_MODELS = {"default": Path(__file__).resolve().parents[1] / "checkpoints" / "default"}


def checkpoint_folder(name_or_folder: str | Path) -> Path:
    """A shipped model's name ('default': the reference run's model on the embedded base models) or a folder
    written by `save_pretrained`."""
    if str(name_or_folder) in SHIPPED_MODELS:
        return SHIPPED_MODELS[str(name_or_folder)]
    folder = Path(name_or_folder)
    if not (folder / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"{folder}: not a BLSP-KD checkpoint (no {CONFIG_FILE}); give a folder written by "
                                f"save_pretrained or one of the shipped models {sorted(SHIPPED_MODELS)}")
    return folder


def read_config(name_or_folder: str | Path) -> BlspKdConfig:
    """The config of a checkpoint folder or a shipped model (`checkpoint_folder`), without loading any weights."""
    return BlspKdConfig.from_dict(json.loads((checkpoint_folder(name_or_folder) / CONFIG_FILE).read_text()))


@dataclass
class BlspKdOutput:
    loss: Tensor  # weighted total
    losses: dict[str, Tensor]  # every component (differentiable)
    speech: AdapterOutput


@dataclass
class KdLogits:
    """Logits [K, V] at the K positions a loss reads, and which of them each loss uses."""

    teacher: Tensor | None  # None when a cached teacher replaces it
    student: Tensor
    input_positions: Tensor | None  # [K] bool: transcript positions (CFormer only)
    response_positions: Tensor  # [K] bool: positions predicting response targets
    next_ids: Tensor  # [K] the token each position predicts (response CE targets)
    speech: AdapterOutput


def place_speech(token_embeds: Tensor, speech_mask: Tensor, speech: AdapterOutput) -> Tensor:
    """Write each row's speech vectors, in order, over that row's speech positions.

    token_embeds [B, L, H], speech_mask [B, L] bool, speech.embeds [B, N, H] with speech.mask [B, N].
    Row b must have as many speech positions as speech vectors (true by construction: CIF emits n vectors).
    """
    positions_per_row, vectors_per_row = speech_mask.sum(-1), speech.mask.sum(-1)
    if not torch.equal(positions_per_row.cpu(), vectors_per_row.cpu()):
        raise ValueError(f"speech positions per row {positions_per_row.tolist()} != speech vectors per row "
                         f"{vectors_per_row.tolist()}")
    student_embeds = token_embeds.clone()
    student_embeds[speech_mask] = speech.embeds[speech.mask].to(token_embeds.dtype)
    return student_embeds


class BlspKdModel(nn.Module):
    def __init__(self, config: BlspKdConfig, whisper_encoder: nn.Module, feature_extractor, llm: nn.Module, tokenizer,
                 whisper_decoder: nn.Module | None = None, readout_decoder: nn.Module | None = None,
                 whisper_tokenizer=None):
        """whisper_decoder: where a CFormer with `post_layers: whisper_decoder` starts its post-CIF layers.
        readout_decoder, whisper_tokenizer: Whisper's decoder (frozen) and tokenizer, for `decoder_readout`."""
        super().__init__()
        self.config = config
        self.encoder = SpeechEncoder(whisper_encoder, config.architecture.encoder_input)
        self.feature_extractor = feature_extractor
        self.llm = llm
        self.tokenizer = tokenizer
        self.prompts = PromptBuilder(tokenizer, config.prompt.user_template, config.prompt.system_prompt)
        architecture = config.architecture
        adapter_config = replace(architecture.adapter_config, encoder_dim=self.encoder.dim,
                                 llm_dim=llm.config.hidden_size)
        self.adapter = build_adapter(architecture.adapter, adapter_config)
        if whisper_decoder is not None:
            self.adapter.load_whisper_decoder(whisper_decoder)
        match_embedding_scale(self.adapter, llm.get_input_embeddings().weight)
        self.plora_config = architecture.plora
        if self.plora_config is not None:
            apply_plora(llm, self.plora_config)
        self.readout_decoder, self.shared_vocabulary = None, None
        if architecture.decoder_readout is not None:
            if readout_decoder is None or whisper_tokenizer is None:
                raise ValueError("decoder_readout needs Whisper's decoder and tokenizer")
            self.readout_decoder = readout_decoder.requires_grad_(False).eval()
            if architecture.readout_lora is not None:
                apply_plora(self.readout_decoder, architecture.readout_lora)
            self.shared_vocabulary = SharedVocabulary.build(tokenizer, whisper_tokenizer,
                                                            llm.get_input_embeddings().weight.shape[0])
        # [V_llm] how often each token was a transcript token in the data that trained this model (`Trainer` sets
        # it; `readout_prior` reads it); kept beside the weights, not in the state dict
        self.token_counts: Tensor | None = None
        self.loss_weights = config.objective.loss_weights
        self.token_rms = median_rms(llm.get_input_embeddings().weight)  # target of the optional speech_rms loss
        self.freeze_base_models()

    @classmethod
    def from_config(cls, config: BlspKdConfig, dtype: torch.dtype | None = None,
                    initialise: bool = True) -> "BlspKdModel":
        """Load the base models named in the config (the embedded default, a folder or a hub id) in the config's
        precision, or in `dtype` when given (training loads them in fp32 and stores the frozen weights in the
        precision itself: `store_frozen_weights`). initialise: start the adapter weights that come from a base
        model from it (a CFormer with `post_layers: whisper_decoder`); `from_pretrained` loads its own instead."""
        from transformers import AutoTokenizer

        from blsp_kd.models.pretrained import (
            load_llm,
            load_whisper_encoder,
            resolve_precision,
            whisper_checkpoint,
        )

        dtype = dtype or resolve_precision(config.precision)
        architecture = config.architecture
        starts_post_layers = (initialise and
                              getattr(architecture.adapter_config, "post_layers", None) == "whisper_decoder")
        reads_out = architecture.decoder_readout is not None
        encoder, feature_extractor, decoder = load_whisper_encoder(architecture.whisper, dtype,
                                                                   starts_post_layers or reads_out)
        whisper_tokenizer = None
        if reads_out:
            whisper_tokenizer = AutoTokenizer.from_pretrained(whisper_checkpoint(architecture.whisper))
        llm, tokenizer = load_llm(architecture.llm, dtype=dtype)
        model = cls(config, encoder, feature_extractor, llm, tokenizer, decoder if starts_post_layers else None,
                    decoder if reads_out else None, whisper_tokenizer)
        return model.eval()  # training calls .train() itself

    def freeze_base_models(self) -> None:
        """The LLM and the readout's Whisper decoder are frozen (their LoRA weights excepted); the encoder only trains
        when the config says so, the adapter unless it says not to (`train_adapter` false)."""
        for module in (module for module in (self.llm, self.readout_decoder) if module is not None):
            for name, parameter in module.named_parameters():
                parameter.requires_grad_("lora_" in name)
        self.encoder.requires_grad_(self.config.architecture.train_encoder)
        self.adapter.requires_grad_(self.config.architecture.train_adapter)

    def train(self, mode: bool = True) -> "BlspKdModel":
        """As nn.Module's, except that what never trains here runs as at inference: Whisper's decoder of the
        decoder readout always (its LoRA too: no dropout), and a frozen adapter (`train_adapter` false), so the LLM
        learns from the vectors it will read (no dropout)."""
        super().train(mode)
        if self.readout_decoder is not None:
            self.readout_decoder.eval()
        if not self.config.architecture.train_adapter:
            self.adapter.eval()
        return self

    def store_frozen_weights(self, dtype: torch.dtype) -> int:
        """Keep every frozen weight (base LLM, frozen encoder) in `dtype`; trainable weights stay as they are (their
        fp32 copies are the optimiser's master weights). Under bf16 autocast the frozen weights would be cast to bf16
        in every op anyway: storing them so skips those casts and halves their memory.
        Returns the number of parameters cast."""
        count = 0
        for parameter in self.parameters():
            if not parameter.requires_grad and parameter.dtype != dtype and parameter.is_floating_point():
                parameter.data = parameter.data.to(dtype)
                count += parameter.numel()
        return count

    def trainable_state_dict(self) -> dict[str, Tensor]:
        """What a checkpoint holds: the adapter (trained in this stage or an earlier one), the LoRA weights (PLoRA,
        the readout decoder's) and (when trained) the encoder."""
        return {name: tensor for name, tensor in self.state_dict().items()
                if name.startswith("adapter.") or "lora_" in name
                or (self.config.architecture.train_encoder and name.startswith("encoder."))}

    # ------------------------------------------------------------------------------------------------ speech side

    def features(self, audios: list[np.ndarray]) -> tuple[Tensor, Tensor]:
        """Real-length log-mel features [B, F, n_mels] and lengths [B] of 16 kHz mono clips."""
        features, lengths = log_mel(audios, self.feature_extractor)
        return features.to(self.device, self.dtype), lengths.to(self.device)

    def encode(self, features: Tensor, feature_lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Encoder hidden states [B, T, D] and frame mask [B, T]; gradients only when the encoder is trained."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.config.architecture.train_encoder):
            return self.encoder(features, feature_lengths)

    def encoder_outputs(self, speech: SpeechInput) -> tuple[Tensor, Tensor]:
        """(hidden, frame_mask): the cached encoder outputs, or the features encoded now."""
        if speech.hidden is not None:
            return speech.hidden.to(self.dtype), speech.frame_mask
        return self.encode(speech.features.to(self.dtype), speech.feature_lengths)

    def speech(self, hidden: Tensor, frame_mask: Tensor, num_tokens: Tensor | None = None,
               read_out: bool = True) -> AdapterOutput:
        """Speech vectors for the LLM; num_tokens given (training, evaluation against the transcript) → exactly
        that many per clip, None (free inference) → the CIF's own estimate. With `architecture.vocabulary_readout`
        set, `embeds` are the vectors' vocabulary readout and `vectors` the adapter's own; `read_out` False skips
        the readout where nothing reads it (`speech_side_losses`: a softmax over the vocabulary per vector).

        The adapter keeps fp32 weights over bf16 base models (precision bf16): under autocast (training) the
        ops pick their dtype; outside it (inference, evaluation) the encoder output is cast to the adapter's dtype."""
        if not torch.is_autocast_enabled(hidden.device.type):
            hidden = hidden.to(next(self.adapter.parameters()).dtype)
        speech = self.adapter(hidden, frame_mask, num_tokens)
        temperature = self.config.architecture.vocabulary_readout
        if temperature is None or not read_out:
            return speech
        embeddings = self.llm.get_input_embeddings().weight
        if self.readout_decoder is None:
            readout = vocabulary_readout(speech.embeds, speech.mask, embeddings, temperature)
            return replace(speech, embeds=readout, vectors=speech.embeds)
        log_probs = self.readout_log_probs(speech, hidden, frame_mask)
        readout = readout_embeddings(log_probs, speech.mask, embeddings).to(speech.embeds.dtype)
        return replace(speech, embeds=readout, vectors=speech.embeds, readout_log_probs=log_probs)

    def readout_log_probs(self, speech: AdapterOutput, hidden: Tensor, frame_mask: Tensor) -> Tensor:
        """[B, N, V] log q of the decoder readout of the adapter's vectors (`fused_log_probs`, with the config's
        T, λ, training prior and rounds)."""
        architecture = self.config.architecture
        return fused_log_probs(speech.embeds, speech.mask, hidden, frame_mask, self.llm.get_input_embeddings().weight,
                               self.readout_decoder, self.shared_vocabulary, architecture.vocabulary_readout,
                               architecture.decoder_readout, self.readout_log_prior(hidden.device),
                               architecture.readout_rounds)

    def readout_log_prior(self, device: torch.device) -> Tensor | None:
        """γ · log(1 + c), the classifier's training prior the decoder readout divides out (None without one)."""
        prior = self.config.architecture.readout_prior
        return None if prior is None else prior * self.token_counts.to(device).float().log1p()

    # -------------------------------------------------------------------------------------------------- LLM side

    def plora_scope(self, speech_mask: Tensor):
        """Context in which the student runs: PLoRA restricted to the speech positions (scope 'speech')."""
        if self.plora_config is not None and self.plora_config.scope == "speech":
            return speech_positions(speech_mask)
        return nullcontext()

    def run_llm(self, embeds: Tensor, batch: TextBatch) -> Tensor:
        """Last hidden states [B, L, H] of the LLM's decoder (no LM head: logits only where needed)."""
        return self.llm.get_decoder()(inputs_embeds=embeds, attention_mask=batch.attention_mask,
                                      position_ids=batch.position_ids, use_cache=False).last_hidden_state

    def lm_head(self, hidden: Tensor) -> Tensor:
        return self.llm.get_output_embeddings()(hidden)

    @torch.no_grad()
    def teacher_hidden(self, batch: TextBatch, used: Tensor) -> Tensor:
        """The base LLM reading the transcript text: every adapter off, no grad. Last hidden states [K, H] at `used`."""
        with adapters_disabled():
            token_embeds = self.llm.get_input_embeddings()(batch.input_ids)
            return self.run_llm(token_embeds, batch)[used]

    @torch.no_grad()
    def teacher_logits(self, batch: TextBatch, used: Tensor) -> Tensor:
        """Teacher logits [K, V] at `used` (see `teacher_hidden`)."""
        return self.lm_head(self.teacher_hidden(batch, used))

    def student_logits(self, batch: TextBatch, speech: AdapterOutput, used: Tensor) -> Tensor:
        """The LLM hearing speech: speech vectors at the speech positions, PLoRA there. Logits [K, V] at `used`.

        The prompt columns before the first speech position of every row (padding, system prompt, instruction) do
        not depend on anything trainable (with PLoRA scope 'speech' the update is 0 there), so with
        `cache_prompt_prefix` they run once without autograd into a KV cache and only the rest of the sequence is
        run with gradients: the same logits (a test checks it), less forward bookkeeping and a shorter backward.
        """
        token_embeds = self.llm.get_input_embeddings()(batch.input_ids)
        student_embeds = place_speech(token_embeds, batch.speech_mask, speech)
        start = self.prefix_length(batch)
        cache = None
        if start:
            with torch.no_grad():
                cache = self.llm.get_decoder()(inputs_embeds=token_embeds[:, :start],
                                               attention_mask=batch.attention_mask[:, :start],
                                               position_ids=batch.position_ids[:, :start], use_cache=True).cache
        with self.plora_scope(batch.speech_mask[:, start:]):
            hidden = self.llm.get_decoder()(inputs_embeds=student_embeds[:, start:], attention_mask=batch.attention_mask,
                                            position_ids=batch.position_ids[:, start:], cache=cache,
                                            use_cache=cache is not None).last_hidden_state
        return self.lm_head(hidden[used[:, start:]])

    def prefix_length(self, batch: TextBatch) -> int:
        """Columns that precede the speech in every row and are the same for teacher and student. 0 when prefix
        caching is off, when plain LoRA (scope 'all') changes them too, or under activation checkpointing (HF's
        checkpointed layers drop a KV cache while they record the graph)."""
        checkpointing = self.llm.training and torch.is_grad_enabled() and self.llm.is_activation_checkpointing
        if not self.config.cache_prompt_prefix or checkpointing or (
                self.plora_config and self.plora_config.scope == "all"):
            return 0
        return int(batch.speech_mask.int().argmax(dim=-1).min())

    # ---------------------------------------------------------------------------------------------------- losses

    def kd_logits(self, batch: TextBatch, hidden: Tensor, frame_mask: Tensor, run_teacher: bool = True,
                  teacher: TeacherHidden | None = None) -> KdLogits:
        """Teacher and student logits at the positions the losses read, paired row-major.

        The CFormer is forced to the transcript's n, so the student reads the teacher's sequence with speech at the
        transcript positions. The conv baseline emits its own number of vectors, so its student reads a resized
        sequence and only response positions are paired (they are the last positions of every row in both).
        """
        aligned = self.adapter.aligned_to_tokens
        speech = self.speech(hidden, frame_mask, batch.num_tokens if aligned else None)
        student_batch = batch if aligned else resize_speech(batch, speech.num_tokens.tolist(), self.prompts.pad_id)
        used = used_positions(batch, with_transcript=aligned)
        student_used = used_positions(student_batch, with_transcript=aligned)
        next_ids = torch.cat([student_batch.input_ids[:, 1:], student_batch.input_ids[:, :1]], dim=1)
        if teacher is not None:
            teacher_logits = self.lm_head(teacher.hidden.to(self.dtype))
        else:
            teacher_logits = self.teacher_logits(batch, used) if run_teacher else None
        return KdLogits(
            teacher=teacher_logits,
            student=self.student_logits(student_batch, speech, student_used),
            input_positions=batch.speech_mask[used] if aligned else None,
            response_positions=response_logit_mask(student_batch.response_mask)[student_used],
            next_ids=next_ids[student_used],
            speech=speech,
        )

    def forward(self, batch: TextBatch, speech_input: SpeechInput, temperature: float | None = None,
                teacher: TeacherHidden | TeacherTopK | None = None) -> BlspKdOutput:
        """KD losses for a batch; its speech as cached encoder outputs or as features, encoded here.

        temperature None → the training temperature of the config; evaluation metrics pass 1.0.
        teacher: a cached teacher at the used positions (exact hidden states or approximate top-k), or None to run
        the base LLM now.
        """
        if not self.runs_llm:
            return self.speech_side_losses(batch, speech_input)
        temperature = self.config.objective.temperature if temperature is None else temperature
        weights = self.loss_weights
        needs_teacher = teacher is None and bool(weights.input_kl or weights.response_kl)
        cached_hidden = teacher if isinstance(teacher, TeacherHidden) else None
        hidden, frame_mask = self.encoder_outputs(speech_input)
        logits = self.kd_logits(batch, hidden, frame_mask, run_teacher=needs_teacher, teacher=cached_hidden)

        def kd(positions: Tensor) -> Tensor:
            if isinstance(teacher, TeacherTopK):
                return kd_kl_topk(teacher.logprobs, teacher.ids, logits.student, positions, temperature,
                                  self.config.objective.scale_by_t2)
            return kd_kl(logits.teacher, logits.student, positions, temperature, self.config.objective.scale_by_t2)

        losses = {}
        if weights.input_kl and logits.input_positions is not None:
            losses["input_kl"] = kd(logits.input_positions)
        if weights.response_kl:
            losses["response_kl"] = kd(logits.response_positions)
        if weights.response_ce:
            losses["response_ce"] = response_ce(logits.student, logits.next_ids, logits.response_positions)
        speech = logits.speech
        return BlspKdOutput(*self.speech_losses(batch, speech, hidden, frame_mask, losses), speech=speech)

    def speech_side_losses(self, batch: TextBatch, speech_input: SpeechInput) -> BlspKdOutput:
        """`forward` when no loss reads the LLM's logits (input_kl, response_kl and response_ce all 0): only the
        losses on the speech vectors themselves (token_ce, readout_ce, speech_rms, cif), and the LLM is never run. A
        CFormer trained so learns to name each transcript token from the audio at a fraction of a KD step's cost."""
        aligned = self.adapter.aligned_to_tokens
        hidden, frame_mask = self.encoder_outputs(speech_input)
        speech = self.speech(hidden, frame_mask, batch.num_tokens if aligned else None,
                             read_out=False)  # these losses read the adapter's own vectors, and readout_ce the
        # readout's distribution, never its embeddings
        if self.loss_weights.readout_ce:
            speech = replace(speech, readout_log_probs=self.readout_log_probs(speech, hidden, frame_mask))
        return BlspKdOutput(*self.speech_losses(batch, speech, hidden, frame_mask, {}), speech=speech)

    def speech_losses(self, batch: TextBatch, speech: AdapterOutput, hidden: Tensor, frame_mask: Tensor,
                      losses: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """`losses` plus the losses on the speech vectors (speech_rms, token_ce, readout_ce, decoder_kd, decoder_ce,
        cif), the encoder states they were made from (hidden, frame_mask) for the decoder's; (weighted total, all)."""
        weights = self.loss_weights
        if weights.speech_rms:
            losses["speech_rms"] = speech_rms_loss(speech.adapter_vectors, speech.mask, self.token_rms)
        if weights.token_ce and self.adapter.aligned_to_tokens:  # CFormer: vector i stands for token i
            losses["token_ce"] = speech_token_ce(speech.adapter_vectors[speech.mask], batch.input_ids[batch.speech_mask],
                                                 self.llm.get_input_embeddings().weight)
        if weights.readout_ce:  # under the decoder readout's q (a recipe requires one): vector i names token i
            losses["readout_ce"] = F.nll_loss(speech.readout_log_probs[speech.mask],
                                              batch.input_ids[batch.speech_mask])
        if weights.decoder_kd:  # the classifier against Whisper's own decoder reading the transcript (idem)
            with adapters_disabled():
                teacher = decoder_teacher_log_probs(batch.input_ids[batch.speech_mask], speech.mask, hidden,
                                                    frame_mask, self.readout_decoder, self.shared_vocabulary)
            losses["decoder_kd"] = speech_decoder_kd(speech.adapter_vectors[speech.mask], teacher,
                                                     self.llm.get_input_embeddings().weight,
                                                     self.config.architecture.vocabulary_readout)
        if weights.decoder_ce:  # the readout's Whisper decoder alone, reading the guesses, names token i (idem)
            decoder_logp = readout_terms(speech.adapter_vectors, speech.mask, hidden, frame_mask,
                                         self.llm.get_input_embeddings().weight, self.readout_decoder,
                                         self.shared_vocabulary, self.config.architecture.vocabulary_readout,
                                         self.readout_log_prior(hidden.device))[1]
            losses["decoder_ce"] = F.nll_loss(decoder_logp, batch.input_ids[batch.speech_mask])
        if speech.alpha_sum is not None:
            losses["cif"] = cif_quantity_loss(speech.alpha_sum, batch.num_tokens)
        return weighted_total(losses, weights), losses

    # ------------------------------------------------------------------------------------------------ generation

    @torch.inference_mode()
    def generate(self, audios: list[np.ndarray], instruction: str | list[str], max_new_tokens: int = 128,
                 streamer=None, max_audio_seconds: float | None = DEFAULT_MAX_SECONDS, **generate_kwargs) -> list[str]:
        """Greedy (by default) text responses to 16 kHz clips; see `generate_ids`."""
        ids = self.generate_ids(audios, instruction, max_new_tokens, streamer, max_audio_seconds, **generate_kwargs)
        return self.tokenizer.batch_decode(ids, skip_special_tokens=True)

    @torch.inference_mode()
    def generate_ids(self, audios: list[np.ndarray], instruction: str | list[str], max_new_tokens: int = 128,
                     streamer=None, max_audio_seconds: float | None = DEFAULT_MAX_SECONDS,
                     **generate_kwargs) -> list[list[int]]:
        """Response token ids (up to and including the end-of-turn token) for each clip. Batched over padded
        clips; PLoRA only in the prompt prefill; the speech length is the CIF's own n̂ = max(1, round(Σα)).

        audios: 16 kHz mono clips as 1-D arrays, tensors or lists (float in [-1, 1], or int16/int32 PCM), each at
        most `max_audio_seconds` long (None: no limit); anything else is a ValueError naming the clip (`as_clip`)."""
        min_samples = min_clip_samples(self.feature_extractor)
        audios = [as_clip(audio, index, min_samples, max_audio_seconds) for index, audio in enumerate(audios)]
        features, lengths = self.features(audios)
        hidden, frame_mask = self.encode(features, lengths)
        speech = self.speech(hidden, frame_mask, num_tokens=None)
        batch = build_inference_inputs([self.prompts.segments(text) for text in as_list(instruction, len(audios))],
                                       speech.num_tokens.tolist(), self.prompts.pad_id).to(self.device)
        embeds = place_speech(self.llm.get_input_embeddings()(batch.input_ids), batch.speech_mask, speech)
        del speech, hidden  # not held while decoding: the decoder readout's q alone is [B, N, V] floats
        return self.generate_from_embeds(embeds, batch, max_new_tokens, streamer, **generate_kwargs)

    @torch.inference_mode()
    def generate_ids_from_text(self, transcripts: list[str], instruction: str | list[str], max_new_tokens: int = 128,
                               streamer=None, **generate_kwargs) -> list[list[int]]:
        """The same prompt with the transcript's tokens where the speech would be, base LLM: the text upper bound."""
        examples = [{"text": text, "instruction": instr}
                    for text, instr in zip(transcripts, as_list(instruction, len(transcripts)), strict=True)]
        batch = collate_text(examples, self.prompts).to(self.device)
        token_embeds = self.llm.get_input_embeddings()(batch.input_ids)
        with adapters_disabled():
            return self.generate_from_embeds(token_embeds, batch, max_new_tokens, streamer, **generate_kwargs)

    def generate_from_embeds(self, embeds: Tensor, batch: TextBatch, max_new_tokens: int, streamer=None,
                             **generate_kwargs) -> list[list[int]]:
        """Prefill all prompt positions but the last under the PLoRA speech mask, then let HF `generate` decode
        from that KV cache. The last prompt position is a text token of the assistant header (m = 0 there), and
        every decode step is text, so PLoRA acts in the prefill only."""
        if batch.speech_mask[:, -1].any():
            raise ValueError("generate: the prompt must end in text after the speech (the assistant header of the "
                             "chat template); got rows ending in a speech position: the template's suffix is empty")
        prefill = slice(0, -1)
        with self.plora_scope(batch.speech_mask[:, prefill]):
            cache = self.llm(inputs_embeds=embeds[:, prefill], attention_mask=batch.attention_mask[:, prefill],
                             position_ids=batch.position_ids[:, prefill], use_cache=True).cache
        config = greedy_generation_config(max_new_tokens, self.prompts.end_of_turn_id, self.prompts.pad_id)
        output_ids = self.llm.generate(input_ids=batch.input_ids, attention_mask=batch.attention_mask, cache=cache,
                                       generation_config=config, streamer=streamer, **generate_kwargs)
        responses = []
        for row in output_ids[:, batch.input_ids.shape[1]:].tolist():
            response_ids, ended = cut_at_end_of_turn(row, self.prompts.end_of_turn_id)
            responses.append(response_ids + [self.prompts.end_of_turn_id] if ended else response_ids)
        return responses

    def chat(self, messages: list[dict], max_new_tokens: int = 128, temperature: float = 0.0, cache=None,
             max_audio_seconds: float | None = DEFAULT_MAX_SECONDS) -> str:
        """The answer to a conversation whose user turns hold text and/or 16 kHz clips (`blsp_kd.models.chat`; the
        clips are checked as `generate` checks them); temperature 0 is greedy. Pass a `ChatCache` to reuse the
        previous call's KV cache across turns."""
        return "".join(self.chat_stream(messages, max_new_tokens, temperature, cache, max_audio_seconds))

    def chat_stream(self, messages: list[dict], max_new_tokens: int = 128, temperature: float = 0.0, cache=None,
                    max_audio_seconds: float | None = DEFAULT_MAX_SECONDS) -> Iterator[str]:
        """`chat`, as an iterator of text pieces while they are generated."""
        from blsp_kd.models.chat import generate_tokens, stream_text

        tokens = generate_tokens(self, messages, max_new_tokens, temperature, cache, max_audio_seconds)
        return stream_text(self.tokenizer, tokens)

    # ----------------------------------------------------------------------------------------------- persistence

    @property
    def device(self) -> torch.device:
        return self.llm.device

    @property
    def dtype(self) -> torch.dtype:
        return self.llm.dtype

    @property
    def runs_llm(self) -> bool:
        """Whether a training step runs the LLM: some loss reads its logits (input_kl, response_kl, response_ce).
        Without one, only the losses on the speech vectors train (`speech_side_losses`) and no weight inside the
        LLM (PLoRA) gets a gradient."""
        weights = self.loss_weights
        return bool(weights.input_kl or weights.response_kl or weights.response_ce)

    def save_pretrained(self, directory: str | Path, dtype: torch.dtype | None = None) -> None:
        """Our config + trainable weights only (safetensors); the base models stay referenced by name. `dtype`
        (e.g. torch.float16 for a model to ship) stores the weights in that precision; loading casts them back."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / CONFIG_FILE).write_text(json.dumps(self.config.to_dict(), indent=2))
        state = {name: tensor.detach().to(dtype or tensor.dtype).contiguous().cpu()
                 for name, tensor in self.trainable_state_dict().items()}
        save_tensors(state, directory / WEIGHTS_FILE, metadata={"format": "pt"})
        if self.token_counts is not None:
            save_tensors({"counts": self.token_counts.to(torch.int32).cpu()}, directory / COUNTS_FILE,
                         metadata={"format": "pt"})

    @classmethod
    def from_pretrained(cls, directory: str | Path, precision: str | None = None, readout: float | None = None,
                        decoder_readout: float | None = None, readout_prior: float | None = None,
                        readout_rounds: int | None = None) -> "BlspKdModel":
        """A folder written by `save_pretrained`, or a shipped model's name ('default'), with its base models in
        the checkpoint's precision, or in `precision` (fp32 | bf16 | fp16 | auto) when given. `readout` replaces the
        checkpoint's `vocabulary_readout` (METHOD §9): a temperature T > 0, or 0 for none (the LLM reads the
        adapter's own vectors, and no decoder readout either); `decoder_readout` its `decoder_readout`: a weight
        λ > 0, or 0 for none (its `readout_prior` goes with it); `readout_prior` its `readout_prior`: a weight γ > 0
        (the checkpoint needs its token counts), or 0 for none; `readout_rounds` its `readout_rounds` (≥ 1). None
        keeps the checkpoint's."""
        directory = checkpoint_folder(directory)
        config = read_config(directory)
        if precision is not None:
            config = replace(config, precision=precision)
        architecture = config.architecture
        vocabulary = architecture.vocabulary_readout if readout is None else readout or None
        decoder = architecture.decoder_readout if decoder_readout is None else decoder_readout or None
        if readout == 0 and decoder_readout is None:
            decoder = None
        prior = architecture.readout_prior if readout_prior is None else readout_prior or None
        if decoder is None and readout_prior is None:
            prior = None
        lora = architecture.readout_lora if decoder is not None else None  # the decoder's, read without it: unused
        rounds = readout_rounds or (architecture.readout_rounds if decoder is not None else 1)
        config = replace(config, architecture=replace(architecture, vocabulary_readout=vocabulary,
                                                      decoder_readout=decoder, readout_prior=prior,
                                                      readout_rounds=rounds, readout_lora=lora))
        counts = read_token_counts(directory)
        if prior is not None and counts is None:
            raise ValueError(f"{directory}: readout_prior needs the training transcripts' token counts "
                             f"({COUNTS_FILE}, written by `blsp-kd train`); the checkpoint has none")
        model = cls.from_config(config, initialise=False)
        model.load_weights(directory)
        rows = model.llm.get_input_embeddings().weight.shape[0]
        if counts is not None and counts.shape != (rows,):
            raise ValueError(f"{directory}: {COUNTS_FILE} holds {tuple(counts.shape)} counts; the LLM has {rows} "
                             "tokens")
        model.token_counts = counts
        return model

    def load_weights(self, directory: str | Path, partial: bool = False) -> list[str]:
        """Load the weights a checkpoint folder holds (its model.safetensors) into this model: the one way weights
        are loaded (`from_pretrained`, resuming, `train.init_from`).

        The file must hold exactly this model's trainable tensors; with `partial` (stage 2 starting from stage 1)
        it may lack some, which keep their initialisation (e.g. PLoRA, new in stage 2), and may hold weights this
        model keeps frozen (an encoder trained before). Returns the names of the trainable tensors not loaded.
        `directory` may also name a shipped model ('default'), as everywhere (`checkpoint_folder`)."""
        state = load_file(checkpoint_folder(directory) / WEIGHTS_FILE)
        if self.readout_decoder is None:  # a checkpoint's LoRA of the decoder readout, read without that readout
            state = {name: tensor for name, tensor in state.items() if not name.startswith("readout_decoder.")}
        trainable = set(self.trainable_state_dict())
        unexpected = set(state) - (set(self.state_dict()) if partial else trainable)
        missing = sorted(trainable - set(state))
        if unexpected or (missing and not partial):
            raise ValueError(f"{directory}: checkpoint does not match the model: missing {missing[:5]}, "
                             f"unexpected {sorted(unexpected)[:5]}")
        self.load_state_dict(state, strict=False)
        return missing


def read_token_counts(directory: str | Path) -> Tensor | None:
    """A checkpoint's training transcripts' token counts (`BlspKdModel.token_counts`), None where it has none."""
    path = checkpoint_folder(directory) / COUNTS_FILE
    return load_file(path)["counts"] if path.is_file() else None


def greedy_generation_config(max_new_tokens: int, end_of_turn_id: int, pad_id: int):
    """Plain greedy decoding. Settings that would change the argmax are set to neutral values explicitly: HF fills
    every unset field from the checkpoint's own generation config (e.g. Qwen2.5-Instruct's repetition_penalty),
    and then the LLM teacher-forced on the response would no longer reproduce it."""
    from transformers import GenerationConfig

    return GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, repetition_penalty=1.0,
                            encoder_repetition_penalty=1.0, no_repeat_ngram_size=0, encoder_no_repeat_ngram_size=0,
                            min_new_tokens=0, eos_token_id=end_of_turn_id, pad_token_id=pad_id)


@torch.no_grad()
def match_embedding_scale(adapter: nn.Module, token_embeddings: Tensor, seed: int = 0) -> None:
    """Scale the adapter's output layer so that, at initialisation, speech vectors have the RMS of the LLM's token
    embeddings (SmolLM2: 0.13, while a default-initialised CFormer emits ~0.6): the frozen LLM then reads them as
    token-like inputs from the first step instead of as outliers it has never seen. Calibrated on unit-variance
    random encoder frames; a checkpoint load overwrites it."""
    generator = torch.Generator().manual_seed(seed)
    dim = adapter.config.encoder_dim
    frames = torch.randn(4, 200, dim, generator=generator).to(token_embeddings.device, adapter.output_layer.weight.dtype)
    with dropout_off(adapter):
        output = adapter(frames, torch.ones(frames.shape[:2], dtype=torch.bool, device=frames.device),
                         torch.full((4,), 10, device=frames.device))
    target = median_rms(token_embeddings)
    current = output.embeds[output.mask].float().pow(2).mean(-1).sqrt().mean()
    adapter.output_layer.weight.mul_(target / current)
    adapter.output_layer.bias.mul_(target / current)


@torch.no_grad()
def median_rms(vectors: Tensor) -> float:
    """Median over rows of sqrt(mean of squares); SmolLM2-135M's token embeddings: 0.13."""
    return vectors.float().pow(2).mean(dim=-1).sqrt().median().item()


def as_list(instruction: str | list[str], count: int) -> list[str]:
    """One instruction for every clip, or one per clip."""
    instructions = [instruction] * count if isinstance(instruction, str) else list(instruction)
    if len(instructions) != count:
        raise ValueError(f"{len(instructions)} instructions for {count} inputs")
    return instructions
