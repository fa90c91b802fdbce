"""blsp-kd: BLSP-KD speech-to-LLM alignment by knowledge distillation."""

__version__ = "0.1.0"
