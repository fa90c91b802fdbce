"""The tasks a prompt asks for, and their instructions: the same words in the responses the LLM writes for
training (`blsp-kd prepare responses`), in training records without their own instruction, and in evaluation."""

INSTRUCTIONS = {
    "repeat": "Repeat what was said.",
    "continuation": "Continue the following text in a coherent style:",
    "translation": "Translate the following {source} text into {target}:",  # with language names filled in
}
# For records without an instruction of their own (training's `data.default_instruction`).
DEFAULT_INSTRUCTION = INSTRUCTIONS["continuation"]
# What `blsp-kd evaluate` measures: each instruction task, and the speech-vs-text alignment; and the systems it
# compares: the model hearing speech, its LLM reading the transcript, Whisper ASR → the same LLM.
EVALUATION_TASKS = (*INSTRUCTIONS, "alignment")
EVALUATION_SYSTEMS = ("speech", "text", "cascade")
