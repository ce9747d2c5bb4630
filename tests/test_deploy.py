"""The deployment files parse and agree with the code: fly.toml's checks and release command, the
Compose cluster and its balancer, and the Grafana dashboard's and alert rules' queries name only
metrics that /metrics really exposes. (Docker cannot run here: the files are checked by parsers.)"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from conftest import TEST_SECRET
from prometheus_client.parser import text_string_to_metric_families

from gochat.api.openapi import is_public
from gochat.app import create_app
from gochat.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
OURS = re.compile(r"\b(?:gochat_|websocket_|messages_|db_write_|redis_pubsub_)[a-z0-9_]+\b")
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum")}


def routes_of_app(settings: Settings) -> set[tuple[str, str]]:
    app = create_app(settings)
    return {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None}


def test_fly_migrates_on_release_checks_readiness_and_stops_gracefully(settings: Settings) -> None:
    fly = tomllib.loads((ROOT / "fly.toml").read_text())
    assert fly["deploy"]["release_command"] == "gochat migrate"
    assert fly["env"]["GOCHAT_MIGRATE_ON_START"] == "off"
    assert fly["kill_signal"] == "SIGTERM"
    assert fly["kill_timeout"] > float(fly["env"]["GOCHAT_SHUTDOWN_TIMEOUT"])
    assert fly["http_service"]["internal_port"] == int(fly["env"]["PORT"])
    routes = routes_of_app(settings)
    paths = [c["path"] for c in fly["http_service"]["checks"]] + [c["path"] for c in fly["checks"].values()]
    paths.append(fly["metrics"]["path"])
    assert set(paths) == {"/readyz", "/healthz", "/metrics"}
    for path in paths:
        assert ("GET", path) in routes
        assert is_public(path)  # probes carry no token
    env = dict(fly["env"]) | {"JWT_SECRET": TEST_SECRET, "DATABASE_URL": "postgresql://neon/db"}
    shipped = Settings.from_env(env)  # the shipped values are valid settings
    # Two machines or more: uploads go to one bucket, so every machine serves every file.
    assert fly["http_service"]["min_machines_running"] >= 2
    assert shipped.s3_url is not None


def unset(value: str) -> str:
    """A Compose value as Compose makes it when the variables it names are unset: `${X:-d}` is d."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", value)


def test_compose_runs_two_nodes_on_postgres_and_redis_behind_a_balancer() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services: dict[str, Any] = compose["services"]
    assert {"postgres", "redis", "migrate", "lb"} <= services.keys()
    nodes = [name for name, s in services.items() if s.get("build") == "." and name != "migrate"]
    assert len(nodes) == 2
    assert services["migrate"]["command"] == ["gochat", "migrate"]
    for name in nodes:
        node = services[name]
        env = {k: unset(str(v)) for k, v in node["environment"].items()} | {"JWT_SECRET": TEST_SECRET}
        settings = Settings.from_env(env)
        assert settings.redis_url is not None
        assert settings.database_url is not None
        assert settings.node_id == name
        assert node["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert node["stop_signal"] == "SIGTERM"
        # Every node serves every file: one S3 bucket (MinIO here), made before the nodes start.
        assert settings.s3_url == "http://minio:9000"
        assert node["depends_on"]["bucket"]["condition"] == "service_completed_successfully"
        assert f"mb --ignore-existing files/{settings.s3_bucket}" in " ".join(services["bucket"]["command"])
        # One key-encryption key for every node: each reads what the others sealed.
        assert node["environment"]["GOCHAT_KEY_ENCRYPTION_KEYS"] == "${GOCHAT_KEY_ENCRYPTION_KEYS:-}"
    nginx = (ROOT / "deploy/nginx.conf").read_text()
    upstream = re.findall(r"server (\w+):8080", nginx)
    assert sorted(upstream) == sorted(nodes)
    assert "proxy_set_header Upgrade $http_upgrade" in nginx
    assert "X-Forwarded-Proto" in nginx
    (body_limit,) = re.findall(r"client_max_body_size (\d+)m;", nginx)
    assert int(body_limit) * 1024 * 1024 > Settings().max_upload_bytes  # an upload passes the balancer
    targets = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())["scrape_configs"][0]
    assert sorted(targets["static_configs"][0]["targets"]) == sorted(f"{n}:8080" for n in nodes)


def test_the_image_carries_the_media_tools_the_file_routes_use() -> None:
    """Audio duration and waveforms need ffmpeg/ffprobe (gochat/media/audio.py): in the image by default."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    runtime = dockerfile.split("\nFROM ")[-1]  # the last stage is the image
    assert re.search(r"^ARG MEDIA_TOOLS=ffmpeg$", runtime, re.M)
    assert "apt-get install -y --no-install-recommends $MEDIA_TOOLS" in runtime


async def _exposed(aiohttp_client: Callable[..., Any], settings: Settings) -> set[str]:
    """Every sample name /metrics can show (a family and its type's suffixes)."""
    client = await aiohttp_client(create_app(settings))
    text = await (await client.get("/metrics")).text()
    return {f.name + suffix for f in text_string_to_metric_families(text) for suffix in SUFFIXES.get(f.type, ("",))}


def _queries_of_dashboard() -> list[str]:
    dashboard = json.loads((ROOT / "deploy/grafana/gochat.json").read_text())
    assert dashboard["uid"] == "gochat"
    return [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]


def _queries_of_alerts() -> list[str]:
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    out = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert {"alert", "expr", "for", "labels", "annotations"} <= rule.keys(), rule
            out.append(rule["expr"])
    return out


async def test_the_dashboard_and_alerts_query_only_metrics_that_exist(
    aiohttp_client: Callable[..., Any], settings: Settings, redis_url: str, redis_prefix: str
) -> None:
    exposed = await _exposed(aiohttp_client, settings.with_overrides(redis_url=redis_url, redis_prefix=redis_prefix))
    dashboard, alerts = _queries_of_dashboard(), _queries_of_alerts()
    assert len(dashboard) >= 15
    assert len(alerts) >= 8
    named = {name for expr in dashboard + alerts for name in OURS.findall(expr)}
    assert named - exposed == set()
    # Each seed name is on the dashboard.
    assert {"websocket_connections_total", "messages_per_second", "db_write_latency_ms", "redis_pubsub_lag"} <= named
