# One image for every Dagster process of this project: the code server, the webserver and
# the daemon (choose with the command). Secrets come from the environment or mounted files,
# never from the image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/home

WORKDIR /opt/dagster/app

COPY pyproject.toml README.md ./
COPY pipelines ./pipelines
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 dagster \
    && mkdir -p "$DAGSTER_HOME" \
    && chown dagster "$DAGSTER_HOME"

COPY config ./config
COPY workspace.yaml ./
COPY config/dagster.yaml "$DAGSTER_HOME/dagster.yaml"

USER dagster
EXPOSE 4000

# The gRPC code server; run `dagster-webserver -h 0.0.0.0 -p 3000 -w workspace.yaml` or
# `dagster-daemon run` from the same image for the other processes.
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "pipelines.definitions"]
