# syntax=docker/dockerfile:1
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml setup.cfg README.md ./
COPY gochat ./gochat
COPY sql ./sql
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
# ffmpeg/ffprobe: duration and waveform of audio, probing of video (docs/api.md, Files). Without
# them uploads still work, audio without a waveform: `--build-arg MEDIA_TOOLS=` for a slimmer image.
ARG MEDIA_TOOLS=ffmpeg
RUN if [ -n "$MEDIA_TOOLS" ]; then \
      apt-get update && apt-get install -y --no-install-recommends $MEDIA_TOOLS && rm -rf /var/lib/apt/lists/*; \
    fi
RUN useradd --create-home --uid 10001 gochat
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER gochat
WORKDIR /home/gochat
ENV PORT=8080 GOCHAT_DATA_DIR=/home/gochat/var
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import os,urllib.request;urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"8080\")}/healthz')"
# DATABASE_URL and JWT_SECRET come from the platform (fly secrets set ...). SIGTERM drains (docs/deploy.md).
STOPSIGNAL SIGTERM
CMD ["gochat", "serve"]
