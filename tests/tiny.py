"""Tiny offline building blocks shared by the tests: chat tokenizers in three template styles and tiny random
Whisper / Llama models (hidden sizes 32–64), so the whole model runs in milliseconds on a CPU; and a write counter
for the cache tests."""

from dataclasses import dataclass

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from torch import nn
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    WhisperConfig,
    WhisperFeatureExtractor,
    WhisperModel,
)

from blsp_kd.models.adapters import AdapterOutput

# Chat templates written for these tests in the styles of three LLM families (raw strings: Jinja sees '\n').
QWEN2_TEMPLATE = (
    r"{% for message in messages %}"
    r"{% if loop.first and message['role'] != 'system' %}"
    r"{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}"
    r"{% endif %}"
    r"{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    r"{% endfor %}"
    r"{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
LLAMA3_TEMPLATE = (
    r"{{ bos_token }}"
    r"{% for message in messages %}"
    r"{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim"
    r" + '<|eot_id|>' }}"
    r"{% endfor %}"
    r"{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
SMOLLM2_TEMPLATE = (
    r"{% for message in messages %}"
    r"{% if loop.first and messages[0]['role'] != 'system' %}"
    r"{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face'"
    r" + '<|im_end|>\n' }}"
    r"{% endif %}"
    r"{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    r"{% endfor %}"
    r"{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass(frozen=True)
class ChatStyle:
    chat_template: str
    special_tokens: list[str]
    bos_token: str | None
    end_of_turn_token: str
    default_system_prompt: str | None


STYLES = {
    "qwen2": ChatStyle(
        chat_template=QWEN2_TEMPLATE,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        bos_token=None,
        end_of_turn_token="<|im_end|>",
        default_system_prompt="You are a helpful assistant.",
    ),
    "llama3": ChatStyle(
        chat_template=LLAMA3_TEMPLATE,
        special_tokens=[
            "<|begin_of_text|>",
            "<|end_of_text|>",
            "<|start_header_id|>",
            "<|end_header_id|>",
            "<|eot_id|>",
        ],
        bos_token="<|begin_of_text|>",
        end_of_turn_token="<|eot_id|>",
        default_system_prompt=None,
    ),
    "smollm2": ChatStyle(
        chat_template=SMOLLM2_TEMPLATE,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        bos_token="<|im_start|>",
        end_of_turn_token="<|im_end|>",
        default_system_prompt="You are a helpful AI assistant named SmolLM, trained by Hugging Face",
    ),
}

TRAINING_TEXT = [
    "the cat sat on the mat and the dog sat on the log",
    "continue the following text in a coherent style",
    "repeat what was said, word for word.",
    "you are a helpful assistant named smol, trained to answer questions",
    "hello world, the weather is nice today and the sun is out",
]
def tiny_chat_tokenizer(style: ChatStyle) -> PreTrainedTokenizerFast:
    """Byte-level BPE (lossless decoding, like Qwen2/Llama-3/SmolLM2) trained on a few sentences."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=style.special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(TRAINING_TEXT, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token=style.bos_token, eos_token=style.end_of_turn_token
    )
    tokenizer.chat_template = style.chat_template
    return tokenizer




def tiny_llama(tokenizer, seed: int = 0) -> LlamaForCausalLM:
    """A random 2-layer Llama over the tiny tokenizer's vocabulary (fp32, eval mode)."""
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         initializer_range=0.3,  # peaked, input-sensitive distributions (default 0.02: near uniform)
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    return LlamaForCausalLM(config).eval()


def tiny_whisper(seed: int = 0, num_mel_bins: int = 80, d_model: int = 32):
    """(random 2-layer Whisper encoder, the matching feature extractor)."""
    torch.manual_seed(seed)
    config = WhisperConfig(d_model=d_model, encoder_layers=2, encoder_attention_heads=4, encoder_ffn_dim=2 * d_model,
                           decoder_layers=1, decoder_attention_heads=4, decoder_ffn_dim=2 * d_model,
                           num_mel_bins=num_mel_bins, max_source_positions=1500, vocab_size=64, pad_token_id=0,
                           bos_token_id=1, eos_token_id=2, decoder_start_token_id=1)
    return WhisperModel(config).get_encoder().eval(), WhisperFeatureExtractor(feature_size=num_mel_bins)


SENTENCES = [
    "the cat sat on the mat", "hello world", "the dog sat on the log", "the weather is nice today",
    "the sun is out", "you are a helpful assistant", "repeat what was said", "continue the text",
]


def save_tiny_base_models(root) -> tuple[str, str]:
    """Tiny Whisper and Llama checkpoints on disk, loadable by name like real ones: (whisper_dir, llm_dir). The
    Whisper folder's tokenizer spells tokens as the LLM's and has Whisper's prompt tokens, so the decoder readout
    (which maps the two vocabularies by spelling) runs on them."""
    import copy
    from pathlib import Path

    root = Path(root)
    tokenizer = tiny_chat_tokenizer(STYLES["smollm2"])
    tiny_llama(tokenizer).save_pretrained(root / "llm")
    tokenizer.save_pretrained(root / "llm")
    whisper_tokenizer = tiny_chat_tokenizer(STYLES["smollm2"])
    whisper_tokenizer.add_special_tokens({"additional_special_tokens": ["<|startoftranscript|>", "<|notimestamps|>"]})
    encoder, feature_extractor = tiny_whisper()
    config = copy.deepcopy(encoder.config)
    config.vocab_size = len(whisper_tokenizer)
    whisper = WhisperModel(config)
    whisper.encoder.load_state_dict(encoder.state_dict())
    whisper.save_pretrained(root / "whisper")
    feature_extractor.save_pretrained(root / "whisper")
    whisper_tokenizer.save_pretrained(root / "whisper")
    return str(root / "whisper"), str(root / "llm")


def write_tiny_corpus(root, num_train: int = 16, num_valid: int = 4, seed: int = 0) -> tuple[str, str]:
    """Noise clips (0.5–1.5 s) with transcripts and tokenised responses: (train manifest, valid manifest)."""
    import json
    from pathlib import Path

    import numpy as np
    import soundfile

    root = Path(root)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    tokenizer = tiny_chat_tokenizer(STYLES["smollm2"])
    rng = np.random.default_rng(seed)
    paths = {}
    for split, count in (("train", num_train), ("valid", num_valid)):
        lines = []
        for index in range(count):
            utterance_id = f"{split}-{index}"
            audio = (rng.standard_normal(int(16000 * rng.uniform(0.5, 1.5))) * 0.1).astype(np.float32)
            soundfile.write(root / "audio" / f"{utterance_id}.wav", audio, 16000)
            text = SENTENCES[(index + (3 if split == "valid" else 0)) % len(SENTENCES)]
            response = SENTENCES[(index + 1) % len(SENTENCES)]
            lines.append({"id": utterance_id, "audio": f"audio/{utterance_id}.wav", "text": text,
                          "instruction": "continue the text", "response": response,
                          "response_ids": tokenizer.encode(" " + response, add_special_tokens=False),
                          "early_stop": index % 4 == 3})
        paths[split] = root / f"{split}.jsonl"
        paths[split].write_text("".join(json.dumps(line) + "\n" for line in lines))
    return str(paths["train"]), str(paths["valid"])


def count_writes(save, writes, after_write=None):
    """A TensorStore's `save` that also counts the writes per key in `writes` (a Counter) and then calls
    `after_write()` (the cache tests' stand-in for another process)."""

    def counted(key, tensors):
        save(key, tensors)
        writes[key] += 1
        if after_write is not None:
            after_write()

    return counted


class OracleAdapter(nn.Module):
    """Returns the transcript's own token embeddings as the "speech" vectors: the student then *is* the teacher.
    With `known`, only the tokens in it get their own embedding and the others token `other`'s: an adapter that has
    learned some words only."""

    aligned_to_tokens = True

    def __init__(self, embeddings: nn.Embedding, transcripts: list[list[int]], known: set[int] | None = None,
                 other: int = 0):
        super().__init__()
        self.embeddings, self.transcripts, self.known, self.other = embeddings, transcripts, known, other

    def forward(self, hidden, frame_mask, num_tokens=None) -> AdapterOutput:
        lengths = torch.tensor([len(ids) for ids in self.transcripts])
        if num_tokens is not None:
            assert num_tokens.tolist() == lengths.tolist()
        ids = torch.zeros(len(self.transcripts), int(lengths.max()), dtype=torch.long)
        for row, transcript in enumerate(self.transcripts):
            named = [i if self.known is None or i in self.known else self.other for i in transcript]
            ids[row, : len(transcript)] = torch.tensor(named)
        mask = torch.arange(ids.shape[1])[None] < lengths[:, None]
        alpha_sum = lengths.float().requires_grad_()
        return AdapterOutput(self.embeddings(ids), mask, lengths, alpha_sum, None)
