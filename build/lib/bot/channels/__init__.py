"""Channels: where messages come from and go to (mail backends, chat)."""
