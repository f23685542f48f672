FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY worker ./worker
COPY config ./config
RUN pip install --no-cache-dir . && useradd --system --uid 10001 batchhook
USER batchhook
EXPOSE 8000
CMD ["batchhook", "web"]
