# syntax=docker/dockerfile:1
# One image for every Aqkol service (migrate, ingest, api, dashboard, simulator);
# docker-compose.yml picks the command. Multi-stage: the build stage installs the
# dependencies into a virtualenv, the runtime stage copies only that and the source,
# and runs as an unprivileged user.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
RUN python -m venv /opt/venv
# the dependencies from the lock (pinned, hashes checked): the versions the tests passed on
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY services services
COPY simulator simulator
COPY dashboard dashboard
# editable: the rules/, policies/ and scenarios/ folders are found next to the source
RUN /opt/venv/bin/pip install --no-deps -e . && /opt/venv/bin/pip check

FROM python:3.11-slim AS runtime
RUN groupadd --system --gid 10001 aqkol \
 && useradd --system --uid 10001 --gid aqkol --home-dir /app --shell /usr/sbin/nologin aqkol
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# the code stays root-owned and read-only for the service user
COPY pyproject.toml README.md alembic.ini ./
COPY services services
COPY simulator simulator
COPY dashboard dashboard
# the alert rules are data the teacher edits through the API: owned by the service user, so
# the compose volume made from this folder is writable by the API (read-only in the ingest)
COPY --chown=aqkol:aqkol rules rules
COPY policies policies
COPY scenarios scenarios
RUN mkdir -p /app/var /app/runs && chown aqkol:aqkol /app/var /app/runs
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    AQKOL_ENV=production \
    AQKOL_VAR_DIR=/app/var \
    AQKOL_RUNS_DIR=/app/runs
USER aqkol
CMD ["aqkol", "--help"]
