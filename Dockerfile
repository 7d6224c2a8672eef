# connlog Python services (schema job, query API, optional collector).
# Python 3.11 and the exact versions of requirements.lock: what CI tests (Makefile, .ci/run).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

RUN useradd --create-home --uid 10001 connlog

COPY pyproject.toml README.md requirements.lock ./
COPY instrumentation ./instrumentation
COPY collector ./collector
COPY query_api ./query_api
COPY dashboards ./dashboards
COPY connlog ./connlog
# The lock is the constraint set: only the `server` extra is installed, every package at the
# version CI ran (the lock covers all extras, so nothing is resolved afresh).
RUN pip install -c requirements.lock ".[server]"

USER connlog
EXPOSE 4317 4318 8080
CMD ["connlog", "--help"]
