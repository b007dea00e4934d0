"""Mesa Bot: help-desk automation for Mesa de Ayuda N1."""

__version__ = "0.1.0"
