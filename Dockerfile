# The HTTP API on CPU: `python -m pipeline serve` over a mounted data folder.
#   docker build -t imagesearch .
#   docker run --rm -p 127.0.0.1:8000:8000 -v "$PWD/data:/data" \
#       -v "$PWD/keys.txt:/run/keys.txt:ro" -e IMAGESEARCH_API_KEYS_FILE=/run/keys.txt imagesearch
# A container must bind 0.0.0.0 to be reachable, and the server refuses that without API keys:
# mount a keys file (one `KEY SCOPE [name]` a line) or set IMAGESEARCH_API_KEYS. Models: mount a
# local model directory and set IMAGESEARCH_MODEL to it, or let the hub cache under /data/hf fill once.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY requirements.txt .
# torch from PyTorch's CPU index first: a free choice would pull several GB of CUDA wheels.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
    && pip install -r requirements.txt \
    && python -m compileall -q /usr/local/lib/python3.11/site-packages
COPY pipeline pipeline
COPY store store

RUN useradd --create-home --uid 1000 imagesearch && mkdir -p /data && chown imagesearch /data
USER imagesearch
# One torch thread per request: concurrency comes from requests (docs/api.md, Speed).
ENV IMAGESEARCH_DB=/data/lancedb IMAGESEARCH_MEDIA=/data/media HF_HOME=/data/hf OMP_NUM_THREADS=1
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"
CMD ["python", "-m", "pipeline", "serve", "--host", "0.0.0.0", "--port", "8000"]
