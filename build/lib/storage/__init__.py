"""Persistence: models, migrations, repositories and the attachment archive."""
