"""Losses: KD KL (full and cached top-k), response masks, CE, CIF quantity loss, weighted total."""

import math

import pytest
import torch

from blsp_kd.losses import (
    LossWeights,
    cif_quantity_loss,
    kd_kl,
    kd_kl_topk,
    response_ce,
    response_logit_mask,
    speech_rms_loss,
    speech_token_ce,
    teacher_topk,
    weighted_total,
)


def kl(p, q):
    return sum(pv * math.log(pv / qv) for pv, qv in zip(p, q, strict=True))


def softmax(values):
    exps = [math.exp(v) for v in values]
    return [e / sum(exps) for e in exps]


def test_kd_kl_zero_when_student_equals_teacher():
    logits = torch.randn(2, 5, 64, generator=torch.Generator().manual_seed(0))
    mask = torch.ones(2, 5, dtype=torch.bool)
    for temperature in (1.0, 2.0):
        assert abs(kd_kl(logits, logits.clone(), mask, temperature).item()) <= 1e-7


def test_kd_kl_hand_computed_two_tokens_three_words():
    # Logits = log-probs, so softmax gives back exactly these distributions.
    teacher_probs = [[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]
    student_probs = [[0.5, 0.3, 0.2], [0.3, 0.3, 0.4]]
    teacher_logits = torch.tensor(teacher_probs).log().reshape(1, 2, 3)
    student_logits = torch.tensor(student_probs).log().reshape(1, 2, 3)
    mask = torch.ones(1, 2, dtype=torch.bool)

    # Token 1: .7 ln(.7/.5) + .2 ln(.2/.3) + .1 ln(.1/.2) = .23553 − .08109 − .06931 = .08512
    # Token 2: .1 ln(.1/.3) · 2 + .8 ln(.8/.4) = −.21972 + .55452 = .33480
    token_kls = [kl(teacher_probs[0], student_probs[0]), kl(teacher_probs[1], student_probs[1])]
    assert token_kls == pytest.approx([0.08512, 0.33480], abs=1e-5)
    expected = sum(token_kls) / 2
    assert kd_kl(teacher_logits, student_logits, mask).item() == pytest.approx(expected, rel=1e-5)

    # Temperature τ = 2: softmax(logits / 2) = normalised √p, both sides; τ² scales the value by 4.
    tempered_kls = [
        kl(softmax([math.log(p) / 2 for p in teacher]), softmax([math.log(q) / 2 for q in student]))
        for teacher, student in zip(teacher_probs, student_probs, strict=True)
    ]
    expected_tempered = sum(tempered_kls) / 2
    assert kd_kl(teacher_logits, student_logits, mask, temperature=2.0).item() == pytest.approx(
        expected_tempered, rel=1e-5
    )
    assert kd_kl(
        teacher_logits, student_logits, mask, temperature=2.0, scale_by_t2=True
    ).item() == pytest.approx(4 * expected_tempered, rel=1e-5)
    assert expected_tempered < expected  # softening brings the two distributions closer


def test_kd_kl_masked_positions_ignored_and_gradient_only_to_student():
    generator = torch.Generator().manual_seed(1)
    teacher_logits = torch.randn(2, 4, 16, generator=generator, requires_grad=True)
    student_logits = torch.randn(2, 4, 16, generator=generator, requires_grad=True)
    mask = torch.tensor([[True, True, False, False], [False, True, True, False]])

    loss = kd_kl(teacher_logits, student_logits, mask, temperature=2.0)
    loss.backward()
    assert teacher_logits.grad is None
    assert torch.all(student_logits.grad[~mask] == 0)
    assert torch.all(student_logits.grad[mask].abs().sum(-1) > 0)

    # Garbage (even NaN) at masked positions changes neither the value nor the gradient.
    noisy_student = student_logits.detach().clone()
    noisy_student[~mask] = float("nan")
    noisy_student.requires_grad_()
    noisy_loss = kd_kl(teacher_logits.detach(), noisy_student, mask, temperature=2.0)
    noisy_loss.backward()
    assert noisy_loss.item() == pytest.approx(loss.item(), rel=1e-6)
    torch.testing.assert_close(noisy_student.grad[mask], student_logits.grad[mask])
    assert torch.all(noisy_student.grad[~mask] == 0)

    # Gathered rows [K, V] give the same value as the [B, L, V] form.
    gathered = kd_kl(
        teacher_logits[mask], student_logits[mask], torch.ones(4, dtype=torch.bool), temperature=2.0
    )
    assert gathered.item() == pytest.approx(loss.item(), rel=1e-6)


def test_kd_kl_empty_mask_is_zero_with_gradient_path():
    student_logits = torch.randn(2, 3, 8, requires_grad=True)
    loss = kd_kl(torch.randn(2, 3, 8), student_logits, torch.zeros(2, 3, dtype=torch.bool))
    loss.backward()
    assert loss.item() == 0.0
    assert torch.all(student_logits.grad == 0)


def test_kd_kl_low_precision_inputs_use_float32_math():
    generator = torch.Generator().manual_seed(2)
    teacher_logits = torch.randn(3, 32, generator=generator) * 4
    student_logits = torch.randn(3, 32, generator=generator) * 4
    mask = torch.ones(3, dtype=torch.bool)
    reference = kd_kl(teacher_logits.bfloat16().float(), student_logits.bfloat16().float(), mask)
    loss = kd_kl(teacher_logits.bfloat16(), student_logits.bfloat16(), mask)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(reference.item(), rel=1e-6)


def test_kd_kl_topk_with_full_vocabulary_equals_kd_kl():
    generator = torch.Generator().manual_seed(3)
    teacher_logits = torch.randn(2, 6, 50, generator=generator) * 3
    student_logits = torch.randn(2, 6, 50, generator=generator) * 3
    mask = torch.rand(2, 6, generator=generator) > 0.3
    for temperature, scale_by_t2 in ((1.0, False), (2.0, True)):
        topk_logprobs, topk_ids = teacher_topk(teacher_logits, k=50, temperature=temperature)
        full = kd_kl(teacher_logits, student_logits, mask, temperature, scale_by_t2)
        cached = kd_kl_topk(topk_logprobs, topk_ids, student_logits, mask, temperature, scale_by_t2)
        assert cached.item() == pytest.approx(full.item(), rel=1e-5, abs=1e-6)


def test_kd_kl_topk_close_to_full_kl_on_peaked_teacher():
    generator = torch.Generator().manual_seed(4)
    vocab_size = 512
    teacher_logits = torch.randn(4, 8, vocab_size, generator=generator) * 4
    student_logits = teacher_logits + torch.randn(4, 8, vocab_size, generator=generator) * 1.5
    student_logits.requires_grad_()
    mask = torch.ones(4, 8, dtype=torch.bool)

    topk_logprobs, topk_ids = teacher_topk(teacher_logits, k=64, temperature=1.0)
    assert topk_logprobs.shape == topk_ids.shape == (4, 8, 64)
    rest_mass = 1 - topk_logprobs.exp().sum(-1)
    assert 1e-4 < rest_mass.mean().item() < 0.1  # the top k miss some, but little, of the teacher's mass

    full = kd_kl(teacher_logits, student_logits, mask)
    cached = kd_kl_topk(topk_logprobs, topk_ids, student_logits, mask)
    assert cached.item() <= full.item() + 1e-6  # merging outcomes cannot increase KL
    assert cached.item() == pytest.approx(full.item(), rel=0.03)

    cached.backward()
    assert torch.isfinite(student_logits.grad).all() and student_logits.grad.abs().sum() > 0


def test_kd_kl_topk_hand_computed_rest_bucket():
    # V = 4, k = 2: the teacher's top 2 are words 0 and 1; words 2 and 3 form one bucket on each side.
    teacher_probs = [0.5, 0.3, 0.15, 0.05]
    student_probs = [0.4, 0.2, 0.25, 0.15]
    topk_logprobs, topk_ids = teacher_topk(torch.tensor(teacher_probs).log(), k=2)
    assert topk_ids.tolist() == [0, 1]
    cached = kd_kl_topk(topk_logprobs, topk_ids, torch.tensor(student_probs).log(), torch.tensor(True))
    # r_T = .2, r_S = .4:  .5 ln(.5/.4) + .3 ln(.3/.2) + .2 ln(.2/.4)
    expected = kl([0.5, 0.3, 0.2], [0.4, 0.2, 0.4])
    assert cached.item() == pytest.approx(expected, rel=1e-5)


def test_teacher_topk_rejects_bad_k():
    with pytest.raises(ValueError, match="k must be in"):
        teacher_topk(torch.randn(2, 10), k=11)


def test_response_logit_mask_worked_example():
    # Prompt at 0..9, y1 y2 y3 at 10, 11, 12, end-of-turn at 13, padding after → logits at 9..12.
    targets = torch.zeros(1, 16, dtype=torch.bool)
    targets[0, 10:14] = True
    logit_mask = response_logit_mask(targets)
    assert logit_mask.nonzero()[:, 1].tolist() == [9, 10, 11, 12]

    # Batch of 2 with left padding: row 1 is the same sequence shifted right by 3 (padding at 0..2).
    batch_targets = torch.zeros(2, 17, dtype=torch.bool)
    batch_targets[0, 10:14] = True
    batch_targets[1, 13:17] = True
    batch_logit_mask = response_logit_mask(batch_targets)
    assert batch_logit_mask[0].nonzero().flatten().tolist() == [9, 10, 11, 12]
    assert batch_logit_mask[1].nonzero().flatten().tolist() == [12, 13, 14, 15]


def test_response_logit_mask_rejects_target_at_position_zero():
    targets = torch.zeros(2, 5, dtype=torch.bool)
    targets[1, 0] = True
    with pytest.raises(ValueError, match=r"batch rows \[1\]"):
        response_logit_mask(targets)


def test_response_ce_hand_value_and_mask():
    student_logits = torch.tensor([[[0.5, 0.3, 0.2], [0.1, 0.6, 0.3], [0.9, 0.05, 0.05]]]).log()
    target_ids = torch.tensor([[0, 2, 1]])
    mask = torch.tensor([[True, True, False]])
    expected = -(math.log(0.5) + math.log(0.3)) / 2
    assert response_ce(student_logits, target_ids, mask).item() == pytest.approx(expected, rel=1e-6)
    assert response_ce(student_logits, target_ids, torch.zeros(1, 3, dtype=torch.bool)).item() == 0.0


def test_cif_quantity_loss_hand_value():
    alpha_sum = torch.tensor([4.5, 10.0, 1.0], requires_grad=True)
    num_tokens = torch.tensor([5, 8, 2])
    loss = cif_quantity_loss(alpha_sum, num_tokens)
    # (|4.5−5|/5 + |10−8|/8 + |1−2|/2) / 3 = (0.1 + 0.25 + 0.5) / 3
    assert loss.item() == pytest.approx(0.85 / 3, rel=1e-6)
    loss.backward()
    torch.testing.assert_close(alpha_sum.grad, torch.tensor([-1 / 5, 1 / 8, -1 / 2]) / 3)
    with pytest.raises(ValueError, match=r"batch samples \[1\]"):
        cif_quantity_loss(alpha_sum, torch.tensor([5, 0, 2]))


def test_speech_rms_loss_hand_values_mask_and_gradient():
    # Sample 0: a vector at the target RMS (0.5) and one 10× too loud; sample 1: one 10× too quiet, one padded row.
    embeds = torch.stack([
        torch.stack([torch.full((4,), 0.5), torch.full((4,), 5.0)]),
        torch.stack([torch.full((4,), 0.05), torch.full((4,), float("nan"))]),
    ]).requires_grad_(True)
    mask = torch.tensor([[True, True], [True, False]])
    loss = speech_rms_loss(embeds, mask, target_rms=0.5)
    # (0 + log(10)² + log(0.1)²) / 3
    assert loss.item() == pytest.approx(2 * math.log(10) ** 2 / 3, rel=1e-5)
    loss.backward()
    assert torch.isfinite(embeds.grad).all() and embeds.grad[1, 1].abs().sum() == 0
    assert embeds.grad[0, 0].abs().max() < 1e-6  # at the target: no pull
    assert (embeds.grad[0, 1] > 0).all() and (embeds.grad[1, 0] < 0).all()  # descent shrinks loud, grows quiet
    with pytest.raises(ValueError, match="speech_rms_loss"):
        speech_rms_loss(embeds, mask[:, :1], target_rms=0.5)


def test_speech_token_ce_against_a_hand_computed_softmax_and_its_pull():
    embeddings = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]])  # cosines only see directions
    vectors = torch.tensor([[2.0, 0.0], [1.0, 1.0]], requires_grad=True)
    targets = torch.tensor([0, 1])
    loss = speech_token_ce(vectors, targets, embeddings, temperature=0.5)
    # vector 0: cosines (1, 0, −1); vector 1: (1/√2, 1/√2, −1/√2); logits = cosines / 0.5
    cosines = torch.tensor([[1.0, 0.0, -1.0], [2**-0.5, 2**-0.5, -(2**-0.5)]])
    expected = -(torch.log_softmax(cosines / 0.5, dim=-1)[[0, 1], [0, 1]]).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    loss.backward()
    # Vector 1 sits between tokens 0 and 1; descent turns it towards its target (token 1: the second axis).
    assert vectors.grad[1, 1] < 0 < vectors.grad[1, 0]
    # Scaling a vector changes nothing (cosine): no radial gradient.
    assert torch.dot(vectors.grad[0], vectors[0].detach()).abs() < 1e-6
    assert speech_token_ce(vectors[:0], targets[:0], embeddings).item() == 0
    with pytest.raises(ValueError, match="speech_token_ce"):
        speech_token_ce(vectors, targets[:1], embeddings)


def test_weighted_total():
    components = {
        "input_kl": torch.tensor(0.5, requires_grad=True),
        "response_kl": torch.tensor(2.0),
        "cif": torch.tensor(0.25),
    }
    total = weighted_total(components, LossWeights(input_kl=1.0, response_kl=0.5, cif=4.0))
    assert total.item() == pytest.approx(0.5 + 1.0 + 1.0)
    total.backward()
    assert components["input_kl"].grad.item() == 1.0

    with pytest.raises(ValueError, match="unknown loss components"):
        weighted_total({"input_kll": torch.tensor(1.0)}, LossWeights())
