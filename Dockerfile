# coopbot as a container: `docker build -t coopbot .`, then see README, "Running as a service".
# tests/test_container.py runs this file's CMD and health check with its ENV, in a venv.
FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Only what the package is built from: a change to the tests or docs reuses the layer.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY storage ./storage
RUN pip install --no-cache-dir . \
    && rm -rf /src \
    && useradd --system --no-log-init --user-group --uid 10001 \
        --home-dir /data --shell /usr/sbin/nologin coopbot \
    && mkdir /data \
    && chown coopbot:coopbot /data

# The SQLite file lives in the volume (a ./coopbot.yaml there is read too); with PostgreSQL,
# set COOPBOT_DATABASE_URL to it instead. Tokens only ever come from the environment.
VOLUME ["/data"]
WORKDIR /data
ENV COOPBOT_DATABASE_URL=sqlite:////data/coopbot.db \
    COOPBOT_OPS__LISTEN=0.0.0.0:9464

# 9464: /healthz, /readyz, /metrics; 3000: Slack in HTTP mode (slack.mode: http).
EXPOSE 9464 3000
# The coopbot user made above, by number: a runtime can then tell it is not root.
USER 10001:10001

# The port is read from COOPBOT_OPS__LISTEN, so moving the listener keeps the check right.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["python", "-c", \
    "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ['COOPBOT_OPS__LISTEN'].rpartition(':')[2], timeout=4)"]

# Exec form: coopbot is PID 1 and gets SIGTERM itself, finishing what is due before it exits
# (delivery.stop_seconds, 10 s by default: give `docker stop` a little longer, -t 15).
CMD ["coopbot", "run"]
