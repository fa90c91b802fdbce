"""The decoder readout: the CFormer's token guesses refined by Whisper's own decoder (METHOD §9).

The vocabulary readout (`adapters.vocabulary_readout`) names each speech vector's token from the vector alone, with
the classifier `speech_token_ce` trains. It names the word pieces the training data let it hear often and almost
never the others (a piece heard fewer than ten times: ~2 % of the time; docs/RESULTS.md). Whisper's decoder names
the next token from the previous ones and the audio, with a vocabulary learned on 680k hours. Here it gets the
classifier's guesses as the previous tokens, all at once — one parallel pass, causal as Whisper was trained — and the
two distributions are fused, per clip with n speech vectors v_1 … v_n:

    p_c,i = softmax(cos(v_i, E) / T − γ · log(1 + c))           the classifier, over the LLM's vocabulary (E)
    g_i   = Σ_k p_c,i(k) · W(k)                                 its guess as a Whisper input embedding (W), over
                                                                the token strings both vocabularies share
    p_d,i = Whisper decoder([<|startoftranscript|>, <|notimestamps|>, g_1, …, g_{n−1}], frames)  at position i
    q_i   ∝ p_c,i · p_d,i^λ                                     p_d of an LLM token: of Whisper's token of the
                                                                same string (its smallest value where there is none)
    readout_i = Σ_k q_i(k) · E_k

With `readout_rounds` n > 1 the readout runs n rounds: round r + 1's decoder reads round r's q as its guesses
(g_i = Σ_k q_i(k) · W(k)) and q is fused again with the same classifier term — an iterative refinement at the CIF's
positions (the decoder's previous tokens become what the product chose, closer to the true ones it names rare
words from; never its own free decoding: the count, the positions and p_c stay). On `default`'s readout transcript
(the CIF's own count) it carries more of the words round after round up to five, and held out its answers lose
fewer words (docs/RESULTS.md, "The decoder readout in rounds"); `default` reads in 5 rounds.

With `readout_prior` γ, the classifier's scores are divided by its training prior^γ first (c: how often each token
was a transcript token in the data that trained the checkpoint, `transcript_token_counts`; γ = 0 without): trained
with cross-entropy on a long-tailed vocabulary, the classifier's posterior carries that prior, and the decoder
already brings one in context. γ = 1 is Bayes' posterior / prior (a scaled likelihood, as hybrid ASR systems divide
their acoustic posteriors); it was also the best γ on validation (docs/RESULTS.md).

The decoder's cross-attention reads the frames the CFormer reads (the encoder on the clip's real length): no second
encoder pass. The computation is differentiable in the vectors through both terms (the decoder's own weights stay
frozen; `readout_lora` adds LoRA to it that a stage may train): a stage can teach PLoRA what the LLM reads at
inference, or the CFormer to name each transcript token under q itself (`readout_ce`: the speech side trained towards
what the readout does with its guesses). λ = 0 is the vocabulary readout itself. Given the transcript's own tokens
instead of the guesses (`decoder_teacher_log_probs`), the decoder is a teacher for the classifier (`decoder_kd`): it
names most of the rare tokens the classifier misses (docs/RESULTS.md, "What Whisper's decoder knows of the missed
words"; taught so, the classifier learned none of them at the reference run's budget). A clip's first token is looked
up with Whisper's leading space (Whisper's transcripts start with one; the speech positions' first token has none in
our prompts).

Worked example (measured on the shipped model; tests/data/corpus8k-test-000001.flac, "We need six hundred and
ninety seven boxes by Saturday.", a held-out voice): the classifier reads the eighth vector as "Ġbooks"; the decoder,
given the guesses before it ("… Ġninety Ġseven") and the audio, names "Ġboxes", and at λ = 2 the product picks it.
On the 744 held-out clips this computation (λ = 2, the CIF forced to the transcript's count) names 68.3 % of the
tokens against the classifier's 61.9 %, and a quarter of the pieces heard 1–9 times in training against 2 %
(docs/RESULTS.md, "The classifier's training prior": its 69.7 % in the section before fused two 32-candidate lists
on stock Whisper's padded frames).

Needs both tokenizers to spell tokens the same way (byte-level BPE, as SmolLM2's and Whisper's: "Ġthe" is " the"
in each); `SharedVocabulary.build` refuses a pair that shares too few strings.
"""

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor

from blsp_kd.losses import token_cosines

MIN_SHARED = 0.5  # of the LLM tokens a transcript uses most: below this the two tokenizers spell tokens differently


@dataclass
class SharedVocabulary:
    """LLM token id → Whisper token id of the same string (−1 where Whisper has none)."""

    to_whisper: Tensor  # [V_llm] long
    to_whisper_first: Tensor  # [V_llm] long, for a clip's first token: the string with a leading space where Whisper
    # has it, else as `to_whisper`
    prompt: list[int]  # Whisper's decoder prompt: <|startoftranscript|> <|notimestamps|> (English-only checkpoints)

    @classmethod
    def build(cls, llm_tokenizer, whisper_tokenizer, num_llm_tokens: int) -> "SharedVocabulary":
        """num_llm_tokens: rows of the LLM's input embedding (it may have more rows than the tokenizer has tokens)."""
        whisper_vocab = whisper_tokenizer.get_vocab()
        to_whisper = torch.full((num_llm_tokens,), -1)
        to_whisper_first = torch.full((num_llm_tokens,), -1)
        for token, index in llm_tokenizer.get_vocab().items():
            if index < num_llm_tokens:
                to_whisper[index] = whisper_vocab.get(token, -1)
                to_whisper_first[index] = whisper_vocab.get("Ġ" + token, to_whisper[index])
        common = llm_tokenizer(" the of and to in is was that for it with as on", add_special_tokens=False).input_ids
        shared = (to_whisper[common] >= 0).float().mean().item()
        if shared < MIN_SHARED:
            raise ValueError(f"decoder readout: the LLM's and Whisper's tokenizers share only {shared:.0%} of the "
                             "commonest English tokens' spellings; the readout needs byte-level BPE in both")
        prompt = whisper_tokenizer.convert_tokens_to_ids(["<|startoftranscript|>", "<|notimestamps|>"])
        return cls(to_whisper, to_whisper_first, prompt)

    def as_llm(self, whisper_logp: Tensor, first_rows: Tensor | None = None) -> Tensor:
        """[K, V_whisper] log-probabilities → [K, V_llm] by string; the rows that name a clip's first token
        (`first_rows`, indices; None: row 0 alone, one clip) with `to_whisper_first`; an LLM token Whisper lacks
        gets its row's smallest value."""
        def by_string(logp: Tensor, to_whisper: Tensor) -> Tensor:
            to_whisper = to_whisper.to(logp.device)
            return torch.where(to_whisper >= 0, logp[:, to_whisper.clamp_min(0)], logp.min(-1, keepdim=True).values)

        first_rows = torch.zeros(1, dtype=torch.long) if first_rows is None else first_rows
        first_rows = first_rows.to(whisper_logp.device)
        return by_string(whisper_logp, self.to_whisper).index_put(
            (first_rows,), by_string(whisper_logp[first_rows], self.to_whisper_first))


def transcript_token_counts(transcripts: Iterable[list[int]], num_llm_tokens: int) -> Tensor:
    """[V_llm] int64: how often each LLM token occurs in the transcripts (as they stand at the speech positions,
    `PromptBuilder.transcript_ids`): the classifier's training prior, for `readout_prior`."""
    ids = [torch.as_tensor(one, dtype=torch.long) for one in transcripts]
    return torch.bincount(torch.cat(ids) if ids else torch.zeros(0, dtype=torch.long), minlength=num_llm_tokens)


def fused_log_probs(vectors: Tensor, mask: Tensor, frames: Tensor, frame_mask: Tensor, token_embeddings: Tensor,
                    decoder: torch.nn.Module, vocabulary: SharedVocabulary, temperature: float,
                    weight: float, log_prior: Tensor | None = None, rounds: int = 1) -> Tensor:
    """log q, q ∝ p_c · p_d^λ (the module docstring), over the LLM's vocabulary, after `rounds` rounds.

    Args:
        vectors: [B, N, H] the adapter's vectors; mask: [B, N] bool, the first n of each row valid.
        frames: [B, T, D] the encoder states the CFormer read; frame_mask: [B, T] bool.
        token_embeddings: [V, H] the LLM's input embeddings (frozen).
        decoder: Whisper's decoder (transformers' WhisperDecoder, frozen); its token embedding is also its output
            layer.
        temperature: the classifier's T (the vocabulary readout's); weight: λ.
        log_prior: [V_llm] γ · log(1 + c), taken from the classifier's scores; None: no prior.
        rounds: 1, or more: round r + 1's decoder reads round r's q as its guesses (the module docstring).
    Returns:
        [B, N, V_llm] float32; padded rows 0. Differentiable in the vectors through both terms (the decoder reads
        the guesses). Batch invariant: each clip's decoder pass is its own (Whisper's cross-attention takes no
        padding mask), the rest is per vector.
    """
    log_probs = torch.zeros(*mask.shape, len(token_embeddings), device=vectors.device)
    if not mask.any():
        return log_probs
    classifier, decoder_logp = readout_terms(vectors, mask, frames, frame_mask, token_embeddings, decoder, vocabulary,
                                             temperature, log_prior)
    fused = (classifier + weight * decoder_logp).log_softmax(-1)  # [K, V_llm]
    for _ in range(rounds - 1):
        previous = whisper_inputs(fused.exp(), vocabulary, decoder.embed_tokens.weight)
        decoder_logp = decoder_log_probs(previous, mask.sum(-1).tolist(), frames, frame_mask, decoder, vocabulary)
        fused = (classifier + weight * decoder_logp).log_softmax(-1)
    return log_probs.index_put((mask,), fused)


def readout_terms(vectors: Tensor, mask: Tensor, frames: Tensor, frame_mask: Tensor, token_embeddings: Tensor,
                  decoder: torch.nn.Module, vocabulary: SharedVocabulary, temperature: float,
                  log_prior: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """(log p_c, log p_d) of the module docstring at the clips' K valid vectors, row-major (as `vectors[mask]`):
    [K, V_llm] each, the classifier and Whisper's decoder reading its guesses; arguments as `fused_log_probs`'s."""
    # the classifier and the vocabulary-sized products for all clips' K valid vectors at once; only the decoder
    # pass is per clip
    scores = token_cosines(vectors[mask], token_embeddings) / temperature  # [K, V_llm]
    classifier = (scores if log_prior is None else scores - log_prior).log_softmax(-1)
    previous = whisper_inputs(classifier.exp(), vocabulary, decoder.embed_tokens.weight)
    return classifier, decoder_log_probs(previous, mask.sum(-1).tolist(), frames, frame_mask, decoder, vocabulary)


def whisper_inputs(probs: Tensor, vocabulary: SharedVocabulary, whisper_embeddings: Tensor) -> Tensor:
    """[K, V_llm] distributions over the LLM's tokens → [K, D] the guesses Whisper's decoder reads: each one's mean
    Whisper input embedding over the strings both vocabularies spell alike (renormalised there). Row i is token i's
    guess, Whisper's input at position i + 2 of its clip."""
    to_whisper = vocabulary.to_whisper.to(probs.device)
    shared = to_whisper >= 0
    guess = probs[:, shared]
    guess = guess / guess.sum(-1, keepdim=True).clamp_min(1e-12)
    guess = torch.zeros(len(guess), len(whisper_embeddings), device=guess.device).index_add(1, to_whisper[shared],
                                                                                             guess)
    return guess.to(whisper_embeddings.dtype) @ whisper_embeddings


def decoder_log_probs(previous: Tensor, lengths: list[int], frames: Tensor, frame_mask: Tensor,
                      decoder: torch.nn.Module, vocabulary: SharedVocabulary) -> Tensor:
    """Whisper's decoder naming each of the clips' K tokens, over the LLM's vocabulary by string ([K, V_llm]
    log-probabilities; an LLM token Whisper lacks gets its row's smallest value).

    previous: [K, D] Whisper input embeddings, row i the token before token i + 1 of its clip (the clips' rows in
    order, `lengths` of them each); the decoder reads its prompt and a clip's rows but the last, so row i of the
    output names token i. One decoder pass per clip, on its own frames (frames [B, T, D], frame_mask [B, T])."""
    whisper_embeddings = decoder.embed_tokens.weight
    states = []
    for row, rows in enumerate(previous.split(lengths)):
        if len(rows) == 0:
            continue
        inputs = torch.cat([whisper_embeddings[vocabulary.prompt], rows[:-1]])[None]
        heard = frames[row][frame_mask[row]][None].to(whisper_embeddings.dtype)
        states.append(decoder(inputs_embeds=inputs, encoder_hidden_states=heard).last_hidden_state[0, 1:])
    logp = (torch.cat(states) @ whisper_embeddings.T).float().log_softmax(-1)
    return vocabulary.as_llm(logp, first_rows(lengths))


def first_rows(lengths: list[int]) -> Tensor:
    """The row of each non-empty clip's first token among the clips' rows laid end to end (`lengths` each)."""
    return torch.tensor([0] + lengths[:-1]).cumsum(0)[torch.tensor(lengths) > 0]


@torch.no_grad()
def decoder_teacher_log_probs(target_ids: Tensor, mask: Tensor, frames: Tensor, frame_mask: Tensor,
                              decoder: torch.nn.Module, vocabulary: SharedVocabulary) -> Tensor:
    """[K, V_llm] log-probabilities (normalised over the LLM's vocabulary) of Whisper's decoder at each of the
    clips' transcript tokens when it reads the transcript itself as its previous tokens (teacher forcing): what it
    expects token i to be from the audio and the true tokens before it — the `decoder_kd` loss's target.

    target_ids: [K] the LLM transcript tokens of the valid positions, row-major (as `vectors[mask]`); mask [B, N]
    bool, the first n of each row valid; frames, frame_mask as `fused_log_probs` takes them. A clip's first token is
    looked up with Whisper's leading space; a token Whisper has no spelling of reads as a zero embedding. No
    gradient: the decoder is frozen and this is a target."""
    whisper_embeddings = decoder.embed_tokens.weight
    lengths = mask.sum(-1).tolist()
    first = torch.zeros(len(target_ids), dtype=torch.bool)
    first[first_rows(lengths)] = True
    device = target_ids.device
    whisper_ids = torch.where(first.to(device), vocabulary.to_whisper_first.to(device)[target_ids],
                              vocabulary.to_whisper.to(device)[target_ids])
    previous = whisper_embeddings[whisper_ids.clamp_min(0)] * (whisper_ids >= 0)[:, None]
    return decoder_log_probs(previous, lengths, frames, frame_mask, decoder, vocabulary).log_softmax(-1)


def readout_embeddings(log_probs: Tensor, mask: Tensor, token_embeddings: Tensor) -> Tensor:
    """Σ_k q_k · E_k at each valid position of log_probs [B, N, V] (mask [B, N]): [B, N, H] float32, padded rows
    0."""
    readout = torch.zeros(*mask.shape, token_embeddings.shape[-1], device=log_probs.device)
    return readout.index_put((mask,), (log_probs[mask].exp() @ token_embeddings.detach().float()).float())

