"""`blsp-kd smoke`: proves the installation end to end with the real embedded models.

espeak-ng speaks a question → the converted Whisper tiny.en transcribes it → SmolLM2 answers the transcript.
"""

import time

from blsp_kd.data.synth import speak
from blsp_kd.eval.cascade import chat, transcribe
from blsp_kd.models.pretrained import EMBEDDED, load_llm, load_whisper

QUESTION = "What is the capital of France?"


def run_smoke(whisper_name: str = EMBEDDED, llm_name: str = EMBEDDED, text: str = QUESTION) -> dict:
    started = time.perf_counter()
    print(f"[1/4] speaking with espeak-ng: {text!r}")
    audio = speak(text, voice="en-us")
    print(f"[2/4] loading Whisper ({whisper_name}) and the LLM ({llm_name}); the first run converts them once")
    whisper, processor = load_whisper(whisper_name)
    llm, tokenizer = load_llm(llm_name)
    print("[3/4] transcribing")
    (transcript,) = transcribe(whisper, processor, [audio])
    print(f"      Whisper heard: {transcript!r}")
    print("[4/4] asking the LLM")
    (answer,) = chat(llm, tokenizer, [transcript])
    print(f"      LLM answered:  {answer!r}")
    print(f"smoke test done in {time.perf_counter() - started:.1f} s")
    return {"transcript": transcript, "answer": answer}
