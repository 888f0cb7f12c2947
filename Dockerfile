# One image for every fraudit process of docker-compose.yml (each runs one `fraudit ...`).
FROM python:3.11-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless nodejs npm make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
COPY frontend ./frontend
COPY scripts ./scripts
# The committed real rows: training and replay use them when no dataset is mounted.
COPY dataset/samples ./dataset/samples
RUN pip install --no-cache-dir -c constraints.txt ".[all]"
ENV PYTHONUNBUFFERED=1
# kinesalite's npm modules are installed at build time, not on first run.
RUN python -c "from fraudit.local.kinesis_emulator import ensure_kinesalite; from pathlib import Path; ensure_kinesalite(Path('/app/.fraudit/node'))"
