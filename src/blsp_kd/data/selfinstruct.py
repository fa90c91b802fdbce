"""Spoken questions and requests a chat user would say, written by the LLM itself (self-instruct style).

For each attempt we pick a topic seed and three example questions (from the hand-written seeds and, once there
are some, the questions accepted so far), ask the chat LLM for questions about the topic and start its answer
with the examples as a list, so that it continues the list (self-instruct's prompt, in the chat template). The
sampled next line is kept only if `question_problem` finds nothing wrong: not a refusal (the same phrases as
data/responses.py), 4-20 words, English letters and basic punctuation only (digits and symbols would be said
differently by each engine), a question ("?") or a request (starts with a request word such as "Tell" or
"Please"), and new: at most `MAX_OVERLAP` of its words shared with a question kept before (Jaccard).

`write_questions` appends to a text file, one question a line, and resumes from what is there.
"""

import random
import re
from pathlib import Path

import torch
from tqdm import tqdm

from blsp_kd.data.responses import refusal_reason
from blsp_kd.data.texts import COMMON_ENGLISH_WORDS, MAX_WORDS, MIN_WORDS

TOPICS = (
    "cooking dinner", "baking bread", "the weather", "gardening", "travel plans", "learning a language",
    "personal finance", "saving money", "fitness and exercise", "sleep", "healthy eating", "pets", "dogs",
    "cats", "music", "learning the guitar", "movies", "books to read", "history", "space and the planets",
    "the ocean", "animals", "cars", "bicycles", "public transport", "job interviews", "writing an email",
    "study tips", "mathematics", "science experiments", "computers", "smartphones", "the internet",
    "photography", "painting", "birthdays", "weddings", "holidays", "camping", "hiking", "the beach",
    "coffee and tea", "house cleaning", "moving house", "furniture", "shopping", "clothes", "football",
    "tennis", "chess", "board games", "video games", "children", "parenting", "friendship", "time management",
    "stress", "the human body", "geography", "famous cities", "rivers and mountains", "recipes for breakfast",
)
SEED_QUESTIONS = (
    "What should I cook for dinner tonight?",
    "How do I keep my houseplants alive?",
    "Can you explain how rainbows form?",
    "What is a good way to start running?",
    "Tell me a fun fact about octopuses.",
    "How can I save money on groceries?",
    "Why is the sky blue?",
    "Give me some tips for a job interview.",
    "What is the difference between weather and climate?",
    "How long should I boil an egg?",
    "Suggest a good book for a long train ride.",
    "How do I teach my dog to sit?",
)
PROMPT = "List short questions and requests that people say to a voice assistant about {topic}."
SPEAKABLE_QUESTION = re.compile(r"[A-Z][A-Za-z ,'\-]*[A-Za-z][?.]")
REQUEST_WORDS = frozenset(
    "tell give explain suggest recommend help show describe please name list teach remind find play set "
    "describe compare summarize summarise write make plan".split()
)
LEADING_DEBRIS = re.compile(r"^(?:[-*\d.)\s]+|(?:new )?(?:question|request)\s*:\s*)+", re.IGNORECASE)
MAX_OVERLAP = 0.7  # Jaccard similarity of the word sets above which a question counts as a duplicate


def word_set(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"[a-z']+", text.lower()))


def is_duplicate(question: str, kept: list[frozenset[str]]) -> bool:
    words = word_set(question)
    return any(len(words & other) > MAX_OVERLAP * len(words | other) for other in kept)


def clean_question(text: str) -> str:
    """The first line of a reply without list marks, "Question:" labels or quotes."""
    line = text.strip().split("\n", 1)[0].strip()
    return LEADING_DEBRIS.sub("", line).strip().strip("\"'").strip()


def question_problem(question: str, kept: list[frozenset[str]]) -> str | None:
    """Why `question` is rejected, or None. `kept` holds the word sets of the questions kept so far."""
    refusal = refusal_reason(question, "")
    if refusal:
        return refusal
    words = question.split()
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        return f"length: {len(words)} words"
    if not SPEAKABLE_QUESTION.fullmatch(question):
        return "characters: not a sentence of letters and , ' - ending in ? or ."
    if not any(word.strip(",.?").lower() in COMMON_ENGLISH_WORDS for word in words):
        return "language: no common English word"
    if not question.endswith("?") and words[0].lower() not in REQUEST_WORDS:
        return "not a question: neither ends with ? nor starts with a request word"
    if is_duplicate(question, kept):
        return "duplicate"
    return None


def list_prompt(tokenizer, topic: str, examples: list[str]) -> str:
    """The chat-template text that ends inside the assistant's answer, after a list of examples and a "-" (no space:
    the model's next token brings its own, as English words do in its vocabulary)."""
    answer = "".join(f"- {example}\n" for example in examples) + "-"
    messages = [{"role": "user", "content": PROMPT.format(topic=topic)}, {"role": "assistant", "content": answer}]
    return tokenizer.apply_chat_template(messages, continue_final_message=True, tokenize=False)


@torch.inference_mode()
def sample_continuations(llm, tokenizer, texts: list[str], max_new_tokens: int = 32, temperature: float = 0.9
                         ) -> list[str]:
    """One sampled continuation per prompt text, decoded, in order."""
    tokenizer.padding_side = "left"
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(llm.device)
    output = llm.generate(**batch, max_new_tokens=max_new_tokens, do_sample=True, temperature=temperature,
                          top_p=0.95, stop_strings=["\n"], tokenizer=tokenizer,
                          pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
    return tokenizer.batch_decode(output[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)


def write_questions(llm, tokenizer, out: str | Path, num: int, seed: int = 0, batch_size: int = 16,
                    max_attempts_per_question: int = 8, progress: bool = True) -> dict[str, int]:
    """Append questions to `out` until it holds `num`; returns {"kept": n, reason kind: count, ...} of this run.
    Stops after `max_attempts_per_question` × `num` attempts when the model cannot produce enough."""
    out = Path(out)
    kept = [line.strip() for line in out.read_text().splitlines() if line.strip()] if out.is_file() else []
    kept_words = [word_set(question) for question in (*SEED_QUESTIONS, *kept)]
    torch.manual_seed(seed + len(kept))  # a resumed run samples differently from the run it continues
    rng = random.Random(f"{seed}-{len(kept)}")
    counts = {"kept": 0}
    out.parent.mkdir(parents=True, exist_ok=True)
    attempts = 0
    with out.open("a", encoding="utf-8") as file, tqdm(total=num, initial=min(len(kept), num), desc="questions",
                                                       disable=not progress) as bar:
        while len(kept) < num and attempts < max_attempts_per_question * num:
            prompts = []
            for _ in range(batch_size):
                examples = rng.sample(list(SEED_QUESTIONS) + kept[-200:], 3)
                prompts.append(list_prompt(tokenizer, rng.choice(TOPICS), examples))
            attempts += batch_size
            for reply in sample_continuations(llm, tokenizer, prompts):
                question = clean_question(reply)
                problem = question_problem(question, kept_words)
                if problem:
                    kind = problem.split(":")[0]
                    counts[kind] = counts.get(kind, 0) + 1
                    continue
                if len(kept) == num:
                    break
                kept_words.append(word_set(question))
                kept.append(question)
                file.write(question + "\n")
                counts["kept"] += 1
                bar.update(1)
            file.flush()
    return counts
