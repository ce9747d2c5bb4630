# syntax=docker/dockerfile:1
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml setup.cfg README.md ./
COPY gochat ./gochat
COPY sql ./sql
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
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
