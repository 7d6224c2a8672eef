# connlog Python services (schema job, query API, optional collector).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

RUN useradd --create-home --uid 10001 connlog

COPY pyproject.toml README.md ./
COPY instrumentation ./instrumentation
COPY collector ./collector
COPY query_api ./query_api
COPY dashboards ./dashboards
COPY connlog ./connlog
RUN pip install ".[server]"

USER connlog
EXPOSE 4317 4318 8080
CMD ["connlog", "--help"]
