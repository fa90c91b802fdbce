"""The input contract shared by the model, the data pipeline, training, evaluation and serving (METHOD §3).

    clips.py    what a clip is: 16 kHz mono float samples, checked (`as_clip`), at most DEFAULT_MAX_SECONDS long
    tasks.py    the tasks and their instructions (continuation, repeat, translation) and the default instruction
    prompt.py   prompt segments from the LLM's own chat template; the end-of-turn token, the pad id
    batch.py    one left-padded sequence [prefix][transcript or speech][suffix][response] for teacher and student;
                padded feature/frame batches and their masks

It imports nothing else of blsp_kd: `models/` and `data/` both build on it (tests/test_layering.py).
"""
