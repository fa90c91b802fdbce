"""Talking to a trained model: `blsp-kd chat` (terminal), `blsp-kd generate` (a manifest in, answers out) and
`blsp-kd serve` (an OpenAI-compatible HTTP server with a web page). One function, `load_model`, turns a --model
value into a model for all three."""
