# One image for every edocta process: web, worker, worker-large, beat, flower and the one-shot migrate.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# WeasyPrint's libraries and the fonts the statements are printed with.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core fonts-liberation curl \
    && rm -rf /var/lib/apt/lists/*

COPY --from=ghcr.io/astral-sh/uv:0.5 /uv /usr/local/bin/uv

WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY beat_schedule.py ./
COPY shared ./shared
COPY web ./web
COPY worker ./worker
RUN uv sync --frozen --no-dev

RUN useradd --system --uid 1000 --home-dir /app edocta \
    && mkdir -p /data/var /data/statements \
    && chown -R edocta /data
USER edocta
ENV EDOCTA_VAR_DIR=/data/var \
    EDOCTA_STORE_DIR=/data/statements

EXPOSE 8000
CMD ["edocta", "serve", "--host", "0.0.0.0", "--port", "8000"]
