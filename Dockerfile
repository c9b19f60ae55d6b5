FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml README.md ./
COPY mmtasks ./mmtasks
COPY bridge ./bridge
COPY configs ./configs
RUN pip install .
USER nobody
CMD ["celery", "-A", "mmtasks", "worker", "-Q", "btcusdt", "--loglevel", "INFO"]
