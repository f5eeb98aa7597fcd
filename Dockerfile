# newsbot container image: slim Python, non-root user, data in a volume, health check on /readyz.
# Build: docker build -t newsbot .    Run: see compose.yaml and docs/operations.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NEWSBOT_DB=/data/newsbot.db \
    NEWSBOT_HTTP_LISTEN=127.0.0.1:8787

RUN groupadd --system --gid 10001 newsbot \
 && useradd --system --uid 10001 --gid newsbot --home-dir /data --shell /usr/sbin/nologin newsbot \
 && mkdir -p /data /app \
 && chown newsbot:newsbot /data

WORKDIR /app
# dependencies first (cached while only the code changes), pinned by constraints.txt
COPY pyproject.toml constraints.txt README.md ./
COPY bot ./bot
RUN pip install -c constraints.txt . \
 && rm -rf /root/.cache

COPY seeds ./seeds
COPY config.example.toml ./

USER newsbot
WORKDIR /data
VOLUME ["/data"]

# /readyz: database reachable, gateway connected, scheduler ticking, nothing stuck
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8787/readyz', timeout=4).status == 200 else 1)"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["newsbot"]
CMD ["run"]
