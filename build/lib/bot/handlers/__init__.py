"""Inbound pipeline steps and specialist commands (the ordered PIPELINE)."""
