# syntax=docker/dockerfile:1
# Stage 1 builds the project as a wheel and installs it, with its dependencies, into a
# virtualenv; stage 2 is a slim runtime with only that virtualenv and a non-root user.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY app ./app
COPY numberpool ./numberpool
COPY pbx_webhooks ./pbx_webhooks
COPY crm_push ./crm_push
COPY migrations ./migrations
COPY static ./static
# Not editable: the wheel carries the migrations and the snippet inside the package
# (setup.py), as a `pip install .` in production does.
RUN /opt/venv/bin/pip install --no-cache-dir .

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 callsource \
    && useradd --system --uid 10001 --gid 10001 --home /srv callsource
WORKDIR /srv
COPY --from=build /opt/venv /opt/venv
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
# Migrate, then serve: each release brings its schema with it.
CMD ["sh", "-c", "callsource migrate && exec callsource serve --host 0.0.0.0 --port 8000"]
