"""llmvigil: monitoring for LLM applications in production."""

__version__ = "0.1.0"
