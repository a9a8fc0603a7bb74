# newsbot: slim, non-root, data in a volume.
#   docker build -t newsbot .
#   docker run -e TELEGRAM_BOT_TOKEN=... -v newsbot-data:/data newsbot
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
RUN python -m venv /opt/newsbot \
 && /opt/newsbot/bin/pip install --upgrade pip \
 && /opt/newsbot/bin/pip install ".[postgres]"

FROM python:3.11-slim
ENV PATH=/opt/newsbot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DATABASE_URL=sqlite:////data/newsbot.db \
    NEWSBOT_FEEDS=/app/feeds.yaml
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin newsbot \
 && mkdir -p /data /app && chown newsbot:newsbot /data
COPY --from=build /opt/newsbot /opt/newsbot
COPY feeds.yaml /app/feeds.yaml
USER newsbot
WORKDIR /app
VOLUME ["/data"]
ENTRYPOINT ["newsbot"]
CMD ["run"]
