# Mesa Bot daemon image: SQLite, Maildir and archive live on the /data volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    MESABOT_CONFIG=/data/config.toml

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY storage ./storage
COPY templates ./templates
COPY config.toml ./config.toml
# The same package `make run` installs (without the editable flag).
RUN pip install . \
    && useradd --system --create-home --home-dir /home/mesabot --uid 10001 mesabot \
    && mkdir -p /data \
    && cp /app/config.toml /data/config.toml \
    && cp -r /app/templates /data/templates \
    && chown -R mesabot:mesabot /data

USER mesabot
# config.toml, var/mesabot.db, var/mail (Maildir) and var/archive, relative to /data.
VOLUME ["/data"]
WORKDIR /data

HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 \
    CMD ["mesabot", "health"]

CMD ["mesabot", "run"]
