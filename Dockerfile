# newscat: the ingest job and the HTTP API in one image (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATABASE_URL=sqlite:////data/catalogue.db

RUN useradd --system --uid 10001 --user-group --home-dir /nonexistent --no-create-home newscat \
    && install -d -o newscat -g newscat /data

WORKDIR /srv/newscat
COPY pyproject.toml README.md alembic.ini ./
COPY migrations ./migrations
COPY app ./app
# Editable, so the package stays next to alembic.ini and migrations/, which `newscat migrate`
# and /readyz read from the source tree.
RUN pip install -e . && newscat --help > /dev/null

USER newscat
EXPOSE 8000
CMD ["newscat", "serve", "--host", "0.0.0.0", "--port", "8000"]
