"""Training losses as pure functions (METHOD §4). Softmax/KL math runs in float32 whatever the input dtype.

Shapes: logits are [..., V] with any leading shape ([B, L, V], or rows already gathered at the used
positions, [K, V]); a mask has the leading shape of its logits and selects the positions that count.
Token-mean = sum over selected positions / their number; an empty selection gives 0 (still connected to
the student, no NaN).
"""

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F


def _check_mask(name: str, mask: torch.Tensor, leading_shape: torch.Size) -> None:
    if mask.dtype != torch.bool or mask.shape != leading_shape:
        raise ValueError(
            f"{name}: mask must be bool with the logits' leading shape {tuple(leading_shape)}, "
            f"got {mask.dtype} {tuple(mask.shape)}"
        )


def _token_mean(per_token: torch.Tensor, temperature: float, scale_by_t2: bool) -> torch.Tensor:
    """Mean of per-token values [K] (0 when K = 0), times τ² if asked."""
    factor = temperature**2 if scale_by_t2 else 1.0
    return factor * per_token.sum() / max(per_token.numel(), 1)


def kd_kl(
    teacher_logits: torch.Tensor,
    student_logits: torch.Tensor,
    mask: torch.Tensor,
    temperature: float = 1.0,
    scale_by_t2: bool = False,
) -> torch.Tensor:
    """Token-mean KL(teacher ‖ student) at temperature τ over the masked positions.

        p_T = softmax(teacher_logits / τ),  p_S = softmax(student_logits / τ)
        KL  = Σ_v p_T(v) · (log p_T(v) − log p_S(v))
        loss = (τ² if scale_by_t2 else 1) · mean over mask of KL

    Args:
        teacher_logits: [..., V]; detached (the teacher never receives gradient).
        student_logits: [..., V], same shape.
        mask: [...] bool, True where the loss counts.
    Returns:
        scalar float32 tensor.
    """
    if teacher_logits.shape != student_logits.shape:
        raise ValueError(
            f"kd_kl: teacher_logits {tuple(teacher_logits.shape)} and student_logits "
            f"{tuple(student_logits.shape)} must have the same shape"
        )
    _check_mask("kd_kl", mask, student_logits.shape[:-1])
    # Select first: masked-out rows may hold anything (even NaN) and must not reach the backward pass.
    teacher_logprobs = F.log_softmax(teacher_logits.detach()[mask].float() / temperature, dim=-1)  # [K, V]
    student_logprobs = F.log_softmax(student_logits[mask].float() / temperature, dim=-1)  # [K, V]
    per_token = (teacher_logprobs.exp() * (teacher_logprobs - student_logprobs)).sum(dim=-1)  # [K]
    return _token_mean(per_token, temperature, scale_by_t2)


def teacher_topk(
    teacher_logits: torch.Tensor, k: int, temperature: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """What a teacher cache stores per position: the k largest log p_T at temperature τ and their ids.

        log p_T = log_softmax(teacher_logits / τ)   →   (top-k values [..., k] float32, ids [..., k] long)

    The mass outside the top k is not stored: `kd_kl_topk` recovers it as 1 − Σ_k p_T.
    """
    vocab_size = teacher_logits.shape[-1]
    if not 1 <= k <= vocab_size:
        raise ValueError(f"teacher_topk: k must be in [1, {vocab_size}] (the vocabulary size), got {k}")
    teacher_logprobs = F.log_softmax(teacher_logits.detach().float() / temperature, dim=-1)
    topk_logprobs, topk_ids = teacher_logprobs.topk(k, dim=-1)
    return topk_logprobs, topk_ids


def _log_rest_mass(topk_logprobs: torch.Tensor) -> torch.Tensor:
    """log(1 − Σ_k exp(topk_logprobs)) over the last dim, i.e. the log of the mass outside the top k.

    With m = logsumexp(topk_logprobs) ≤ 0: log(1 − e^m) = log(−expm1(m)). m is clamped to ≤ −1e-6 so that
    rounding (Σ_k p slightly ≥ 1 when k covers the vocabulary) gives a rest mass of ~1e-6, not log(0) = −∞.
    """
    log_topk_mass = torch.logsumexp(topk_logprobs, dim=-1).clamp(max=-1e-6)
    return torch.log(-torch.expm1(log_topk_mass))


def kd_kl_topk(
    teacher_topk_logprobs: torch.Tensor,
    teacher_topk_ids: torch.Tensor,
    student_logits: torch.Tensor,
    mask: torch.Tensor,
    temperature: float = 1.0,
    scale_by_t2: bool = False,
) -> torch.Tensor:
    """Token-mean KL(teacher ‖ student) from a cached teacher: top-k log-probs plus one bucket for the rest.

    With K = the teacher's top-k ids, p_T(v) = exp(teacher_topk_logprobs) for v in K (already at τ),
    p_S = softmax(student_logits / τ), and the rest-of-vocabulary buckets
        r_T = 1 − Σ_{v∈K} p_T(v),   r_S = 1 − Σ_{v∈K} p_S(v)   (computed in log space, see `_log_rest_mass`)
    the KL of the two (k+1)-way distributions is
        KL ≈ Σ_{v∈K} p_T(v) · (log p_T(v) − log p_S(v)) + r_T · (log r_T − log r_S)
    It never exceeds the full KL (merging outcomes cannot increase KL) and equals it when k = V.
    loss = (τ² if scale_by_t2 else 1) · mean over mask.

    Args:
        teacher_topk_logprobs: [..., k] log p_T at temperature τ (from `teacher_topk`).
        teacher_topk_ids: [..., k] long vocabulary ids of those entries.
        student_logits: [..., V].
        mask: [...] bool, True where the loss counts.
    Returns:
        scalar float32 tensor.
    """
    if teacher_topk_logprobs.shape != teacher_topk_ids.shape:
        raise ValueError(
            f"kd_kl_topk: teacher_topk_logprobs {tuple(teacher_topk_logprobs.shape)} and teacher_topk_ids "
            f"{tuple(teacher_topk_ids.shape)} must have the same shape"
        )
    if teacher_topk_ids.shape[:-1] != student_logits.shape[:-1]:
        raise ValueError(
            f"kd_kl_topk: teacher top-k {tuple(teacher_topk_ids.shape)} and student_logits "
            f"{tuple(student_logits.shape)} must share their leading shape"
        )
    _check_mask("kd_kl_topk", mask, student_logits.shape[:-1])
    teacher_logprobs = teacher_topk_logprobs.detach()[mask].float()  # [K, k]
    topk_ids = teacher_topk_ids[mask]  # [K, k]
    student_logprobs = F.log_softmax(student_logits[mask].float() / temperature, dim=-1)  # [K, V]
    student_topk_logprobs = student_logprobs.gather(-1, topk_ids)  # [K, k]

    topk_part = (teacher_logprobs.exp() * (teacher_logprobs - student_topk_logprobs)).sum(dim=-1)
    teacher_log_rest = _log_rest_mass(teacher_logprobs)
    student_log_rest = _log_rest_mass(student_topk_logprobs)
    rest_part = teacher_log_rest.exp() * (teacher_log_rest - student_log_rest)
    return _token_mean(topk_part + rest_part, temperature, scale_by_t2)


def response_logit_mask(response_target_mask: torch.Tensor) -> torch.Tensor:
    """Positions whose logits predict the response targets: the target at position p is predicted at p − 1.

        logit_mask[b, p] = response_target_mask[b, p + 1],   logit_mask[b, L − 1] = False

    Example (METHOD §4): prompt at 0..9, response y1 y2 y3 at 10, 11, 12, end-of-turn at 13
    → targets at 10..13 → logits at 9..12.

    Args:
        response_target_mask: [B, L] bool, True at the response targets (y_1..y_m and end-of-turn, if any).
    Returns:
        [B, L] bool.
    """
    if response_target_mask.dim() != 2 or response_target_mask.dtype != torch.bool:
        raise ValueError(
            f"response_logit_mask: expected a [B, L] bool mask, got {response_target_mask.dtype} "
            f"{tuple(response_target_mask.shape)}"
        )
    rows_with_first_target = response_target_mask[:, 0].nonzero().flatten().tolist()
    if rows_with_first_target:
        raise ValueError(
            "response_logit_mask: a target at position 0 has no logit before it "
            f"(batch rows {rows_with_first_target})"
        )
    return F.pad(response_target_mask[:, 1:], (0, 1), value=False)


def response_ce(student_logits: torch.Tensor, target_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Token-mean cross-entropy of the student on given targets.

        loss = mean over mask of −log softmax(student_logits)[target_ids]

    The logits at each masked position predict target_ids at the same index; the caller aligns them (e.g.
    with `response_logit_mask` and targets shifted by one).

    Args:
        student_logits: [..., V].
        target_ids: [...] long.
        mask: [...] bool.
    Returns:
        scalar float32 tensor.
    """
    if target_ids.shape != student_logits.shape[:-1]:
        raise ValueError(
            f"response_ce: target_ids {tuple(target_ids.shape)} must match the leading shape of "
            f"student_logits {tuple(student_logits.shape)}"
        )
    _check_mask("response_ce", mask, target_ids.shape)
    per_token = F.cross_entropy(student_logits[mask].float(), target_ids[mask], reduction="none")
    return _token_mean(per_token, temperature=1.0, scale_by_t2=False)


def cif_quantity_loss(alpha_sum: torch.Tensor, num_tokens: torch.Tensor) -> torch.Tensor:
    """CIF length loss: mean over the batch of |Σ_t α_t − n| / n, with unscaled Σα (`CifOutput.alpha_sum`).

    Args:
        alpha_sum: [B] float.
        num_tokens: [B] long, each ≥ 1.
    Returns:
        scalar float32 tensor.
    """
    if alpha_sum.shape != num_tokens.shape or alpha_sum.dim() != 1:
        raise ValueError(
            f"cif_quantity_loss: alpha_sum {tuple(alpha_sum.shape)} and num_tokens {tuple(num_tokens.shape)} "
            "must both be [B]"
        )
    bad_samples = (num_tokens < 1).nonzero().flatten().tolist()
    if bad_samples:
        raise ValueError(f"cif_quantity_loss: num_tokens must be >= 1, batch samples {bad_samples} are not")
    target = num_tokens.float()
    return ((alpha_sum.float() - target).abs() / target).mean()


def speech_rms_loss(speech_embeds: torch.Tensor, mask: torch.Tensor, target_rms: float) -> torch.Tensor:
    """Keeps speech vectors at the loudness of token embeddings: mean over the valid vectors of

        (log(rms(v) / target_rms))²,   rms(v) = sqrt(mean_h v_h²)

    0 when every vector has the target RMS; it grows with the log-ratio, so 10× too loud and 10× too quiet cost
    the same.

    Args:
        speech_embeds: [B, N, H] speech vectors.
        mask: [B, N] bool, True for valid vectors.
        target_rms: e.g. the median RMS of the LLM's token embeddings.
    Returns:
        scalar float32 tensor.
    """
    _check_mask("speech_rms_loss", mask, speech_embeds.shape[:-1])
    rms = speech_embeds[mask].float().pow(2).mean(dim=-1).clamp(min=1e-12).sqrt()  # [K]
    return _token_mean(torch.log(rms / target_rms).pow(2), temperature=1.0, scale_by_t2=False)


def token_cosines(vectors: torch.Tensor, token_embeddings: torch.Tensor) -> torch.Tensor:
    """cos(v, E_k) of each vector [..., H] with every token embedding E [V, H] (detached: it is frozen) → [..., V],
    float32: the scores of the token classifier that `speech_token_ce` trains and `vocabulary_readout` reads. The
    embeddings' norms divide the dot products rather than a normalised copy of E (V × H) being made: the same
    numbers (to ~1e-7), 3× faster for a clip's few vectors on a CPU."""
    token_embeddings = token_embeddings.detach().float()
    norms = torch.linalg.vector_norm(token_embeddings, dim=-1).clamp_min(1e-12)  # F.normalize's eps
    return (F.normalize(vectors.float(), dim=-1) @ token_embeddings.T) / norms


def speech_token_ce(
    speech_vectors: torch.Tensor, target_ids: torch.Tensor, token_embeddings: torch.Tensor, temperature: float = 0.05
) -> torch.Tensor:
    """Each speech vector should look like the embedding of the transcript token it stands for: cross-entropy of
    a nearest-token-embedding classifier over the LLM's vocabulary,

        logits_k(v) = cos(v, E_k) / τ,   loss = mean over vectors of −log softmax(logits(v))[x]

    with E the LLM's (frozen) input embeddings and x the transcript token at the vector's position. It is the
    authors' CFormer `lm_head` on the post-CIF states, but with the LLM's own embeddings as the classifier, so
    the vectors move towards words the frozen LLM already knows how to read and copy. Cosine, not dot product:
    the direction is what names a token, the loudness is left to the KD terms (and `speech_rms_loss`). τ = 0.05
    lets the target's probability reach ≈ 1 (cosines lie in [−1, 1], so logits span ±20).

    Args:
        speech_vectors: [K, H] the valid speech vectors, row-major (`embeds[mask]`).
        target_ids: [K] long, the transcript token at each vector's position.
        token_embeddings: [V, H] the LLM's input embedding matrix (detached: it is frozen).
    Returns:
        scalar float32 tensor (0 when K = 0).
    """
    if speech_vectors.dim() != 2 or target_ids.shape != speech_vectors.shape[:1]:
        raise ValueError(
            f"speech_token_ce: expected speech_vectors [K, H] and target_ids [K], got "
            f"{tuple(speech_vectors.shape)} and {tuple(target_ids.shape)}"
        )
    if token_embeddings.shape[-1] != speech_vectors.shape[-1]:
        raise ValueError(
            f"speech_token_ce: token_embeddings {tuple(token_embeddings.shape)} and speech_vectors "
            f"{tuple(speech_vectors.shape)} differ in width"
        )
    logits = token_cosines(speech_vectors, token_embeddings) / temperature  # [K, V]
    per_token = F.cross_entropy(logits, target_ids, reduction="none")
    return _token_mean(per_token, temperature=1.0, scale_by_t2=False)


def speech_decoder_kd(speech_vectors: torch.Tensor, teacher_log_probs: torch.Tensor, token_embeddings: torch.Tensor,
                      temperature: float) -> torch.Tensor:
    """The token classifier (`token_cosines` / τ, the vocabulary readout's) taught by a teacher's distribution at
    each vector instead of the transcript token alone:

        loss = mean over vectors of KL(p_teacher ‖ softmax(cos(v, E) / τ))

    With Whisper's decoder reading the true previous tokens as the teacher (`decoder_teacher_log_probs`), the
    classifier gets, at every position, what a recogniser trained on 680k hours expects there — mass on the rare
    words the transcripts hold a few examples of (docs/RESULTS.md, "What Whisper's decoder knows of the missed
    words").

    Args:
        speech_vectors: [K, H] the valid speech vectors, row-major.
        teacher_log_probs: [K, V] the teacher's log-probabilities over the LLM's vocabulary (no gradient).
        token_embeddings: [V, H] the LLM's input embeddings (frozen).
    Returns:
        scalar float32 tensor (0 when K = 0).
    """
    if teacher_log_probs.shape != (speech_vectors.shape[0], token_embeddings.shape[0]):
        raise ValueError(f"speech_decoder_kd: expected teacher_log_probs [K, V] = [{speech_vectors.shape[0]}, "
                         f"{token_embeddings.shape[0]}], got {tuple(teacher_log_probs.shape)}")
    student = (token_cosines(speech_vectors, token_embeddings) / temperature).log_softmax(-1)
    teacher = teacher_log_probs.detach().float()
    per_token = (teacher.exp() * (teacher - student)).sum(-1)
    return _token_mean(per_token, temperature=1.0, scale_by_t2=False)


@dataclass
class LossWeights:
    """Weight of each loss component in the total; a field name is a component name."""

    input_kl: float = 1.0
    response_kl: float = 1.0
    cif: float = 1.0
    response_ce: float = 0.0
    speech_rms: float = 0.0  # not in METHOD: an optional pull of the speech vectors towards token-embedding loudness
    token_ce: float = 0.0  # not in METHOD: each speech vector should name its transcript token (`speech_token_ce`)
    # not in METHOD: each speech vector's transcript token under the decoder readout's fused distribution q
    # (models/decoder_readout.py), the distribution whose mean embedding the LLM reads; needs a decoder readout
    readout_ce: float = 0.0
    # not in METHOD: the classifier taught by Whisper's decoder reading the true transcript (`speech_decoder_kd`);
    # needs a decoder readout
    decoder_kd: float = 0.0
    # not in METHOD: each speech vector's transcript token under the decoder readout's Whisper decoder alone, reading
    # the classifier's guesses (p_d of models/decoder_readout.py); trains `readout_lora`; needs a decoder readout
    decoder_ce: float = 0.0


def weighted_total(components: dict[str, torch.Tensor], weights: LossWeights) -> torch.Tensor:
    """total = Σ_name weights.name · components[name] over the components present."""
    known_names = {field.name for field in fields(LossWeights)}
    unknown_names = sorted(set(components) - known_names)
    if unknown_names:
        raise ValueError(
            f"weighted_total: unknown loss components {unknown_names}; known: {sorted(known_names)}"
        )
    if not components:
        raise ValueError("weighted_total: no loss components given")
    return sum(getattr(weights, name) * value for name, value in components.items())
