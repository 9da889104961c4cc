"""Decoding: the kit's one beam search (`hashtag_kit.decoding.beam`)."""

from hashtag_kit.decoding.beam import beam_search, compiled, log_softmax64, trigram_penalty

__all__ = ["beam_search", "compiled", "log_softmax64", "trigram_penalty"]
