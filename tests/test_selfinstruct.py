import pytest

from blsp_kd.data.selfinstruct import (
    SEED_QUESTIONS,
    clean_question,
    list_prompt,
    question_problem,
    word_set,
    write_questions,
)

KEPT = [word_set(question) for question in ("How do I keep my houseplants alive?", "Why is the sky blue?")]


@pytest.mark.parametrize(
    "question, kind",
    [
        ("What should I pack for a weekend of camping?", None),
        ("Tell me a story about a brave little fox.", None),
        ("Please explain how a bicycle gear works.", None),
        ("I'm sorry, but I cannot help with that request?", "refusal"),
        ("As an AI, what do you think about dogs?", "refusal"),
        ("Why not?", "length"),
        ("What " + "very " * 20 + "big dog?", "length"),
        ("How much is 20 dollars in euros?", "characters"),  # digits are said differently by each engine
        ('What does "hello" mean in French?', "characters"),
        ("how do I start a garden?", "characters"),  # no capital: a fragment
        ("Estas son las mejores recetas de la casa?", "language"),
        ("The perfect cake needs a lot of butter and sugar.", "not a question"),
        ("I'm an AI designed to help you with your questions.", "not a question"),
        ("How do I keep my houseplants alive?", "duplicate"),
        ("How do I keep my houseplants alive and green?", "duplicate"),  # 6 of 8 words shared: a near copy
        ("Is the sky blue, and why?", "duplicate"),  # the same words in another order
    ],
)
def test_question_problem(question, kind):
    problem = question_problem(question, KEPT)
    assert (problem if problem is None else problem.split(":")[0]) == kind


def test_clean_question_takes_the_first_line_without_list_marks_or_labels():
    assert clean_question(" Question: What is jazz?\n- How is bread made?") == "What is jazz?"
    assert clean_question('2. "Where do penguins live?"') == "Where do penguins live?"
    assert clean_question("How tall is a giraffe?") == "How tall is a giraffe?"


@pytest.mark.real
def test_write_questions_with_the_embedded_llm_filters_and_resumes(tmp_path):
    import torch

    from blsp_kd.models.pretrained import load_llm

    torch.set_num_threads(1)
    llm, tokenizer = load_llm()
    prompt = list_prompt(tokenizer, "cooking", list(SEED_QUESTIONS[:3]))
    assert prompt.endswith(f"- {SEED_QUESTIONS[2]}\n-")  # the model continues the list

    out = tmp_path / "questions.txt"
    counts = write_questions(llm, tokenizer, out, num=3, seed=0, batch_size=8, progress=False)
    first = out.read_text().splitlines()
    assert counts["kept"] == len(first) == 3
    counts = write_questions(llm, tokenizer, out, num=5, seed=0, batch_size=8, progress=False)
    lines = out.read_text().splitlines()
    assert lines[:3] == first and len(lines) == 5 and counts["kept"] == 2
    kept = [word_set(question) for question in SEED_QUESTIONS]
    for line in lines:
        assert question_problem(line, kept) is None, line
        kept.append(word_set(line))
