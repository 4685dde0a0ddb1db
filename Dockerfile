# syntax=docker/dockerfile:1
# apitest image: a wheel built in one stage, installed into a clean venv in a slim, non-root runtime.
#   docker build -t apitest .
#   docker run --rm -p 8080:8080 -e APITEST_COOKIE_SECRET=... -e APITEST_DB_URL=... apitest
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY apitest ./apitest
# Wheels for apitest and every dependency, so the runtime stage installs offline and needs no compiler.
RUN pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/apitest \
    PATH=/opt/apitest/bin:$PATH \
    APITEST_MIGRATIONS_DIR=/app/migrations \
    APITEST_TEMPLATES_DIR=/app/templates \
    APITEST_HEALTHCHECK_URL=http://127.0.0.1:8080/healthz
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv /opt/apitest \
    && /opt/apitest/bin/pip install --no-index --find-links=/wheels apitest \
    && groupadd --system --gid 10001 apitest \
    && useradd --system --uid 10001 --gid apitest --home-dir /app --no-create-home --shell /usr/sbin/nologin apitest
WORKDIR /app
COPY migrations ./migrations
COPY configs ./configs
COPY templates ./templates
COPY configs/apitest.example.yaml /etc/apitest/apitest.yaml
# data/ holds the SQLite file of the embedded profile; the only directory the server writes to.
RUN mkdir -p /app/data && chown apitest:apitest /app/data
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 CMD ["apitest", "healthcheck"]
CMD ["apitest", "serve", "--config", "/etc/apitest/apitest.yaml"]
