"""Flagship clients behind one Protocol: OpenAI-compatible, in-process llama.cpp, recorded.

The only package that imports ``openai`` and ``llama_cpp``; both are imported lazily by the
factory so that importing :mod:`shadowgap.llm` costs nothing.
"""

from shadowgap.llm.base import ChatClient, Completion, FlagshipCallError, attempts_of
from shadowgap.llm.factory import make_flagship_client

__all__ = ["ChatClient", "Completion", "FlagshipCallError", "attempts_of", "make_flagship_client"]
