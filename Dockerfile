# graphfetch worker image: one image for workers, the demo upstreams and the CLI.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml constraints.txt README.md ./
COPY planner ./planner
COPY connectors ./connectors
COPY streams ./streams
COPY devkit ./devkit
# The dev extra: this image also serves the demo upstreams (docker-compose.yml).
RUN pip install --no-cache-dir -c constraints.txt '.[dev]' && useradd --create-home graphfetch \
    && mkdir /data && chown graphfetch /data
COPY configs ./configs
USER graphfetch
ENV GRAPHFETCH_CONFIGS=/app/configs
ENTRYPOINT ["graphfetch"]
CMD ["worker"]
