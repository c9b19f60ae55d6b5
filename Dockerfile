FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 MMTASKS_DATA_DIR=/data
# Exactly what requirements-deploy.lock pins (hash-checked), then the project without resolving.
COPY requirements-pip.lock requirements-deploy.lock ./
RUN pip install --require-hashes -r requirements-pip.lock \
    && pip install --require-hashes -r requirements-deploy.lock
COPY pyproject.toml README.md ./
COPY mmtasks ./mmtasks
COPY bridge ./bridge
COPY configs ./configs
RUN pip install --no-deps --no-build-isolation .
# The runtime user owns its data folder (beat's schedule, lock files): mount a volume at /data
# to keep it; a fresh named volume takes this ownership from the image.
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin mmtasks \
    && mkdir -p /data && chown mmtasks:mmtasks /data
VOLUME /data
USER mmtasks
# One image for every process, so no HEALTHCHECK here: only the web process serves /health
# (docker-compose.yml checks it on the web service).
CMD ["celery", "-A", "mmtasks", "worker", "-Q", "btcusdt", "--loglevel", "INFO"]
