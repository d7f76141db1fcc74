"""Scoring: trustworthy reference inverses (:mod:`.reference`) and the accuracy metrics
computed against them (:mod:`.metrics`)."""
