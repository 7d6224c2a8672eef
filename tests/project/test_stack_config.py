"""docker-compose.yml, otel-collector.yaml and the Dockerfile, checked without Docker.

No Docker engine or Go collector is available here, so these tests parse the files and
check what can go wrong silently: unpinned images, mounts of files that do not exist,
ports that disagree between compose and the collector config, exporter/processor options
the pinned contrib release does not document, and table names that differ from the schema.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from connlog.collector.config import DEFAULT_DATABASE, ENV_CLICKHOUSE_URL, ENV_INGEST_KEYS
from connlog.collector.ingest_auth import IngestKeys
from connlog.collector.schema import names as n
from connlog.dashboards.plugin import PLUGIN_ID, PLUGIN_VERSION
from connlog.instrumentation import semconv as sc

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
OTEL: dict[str, Any] = yaml.safe_load((ROOT / "otel-collector.yaml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]

# Option keys as documented upstream (open-telemetry/opentelemetry-collector-contrib):
# exporter/clickhouseexporter/README.md ("Configuration options") and config.go (mapstructure tags).
CLICKHOUSE_EXPORTER_KEYS = {
    "endpoint",
    "username",
    "password",
    "ttl",
    "database",
    "connection_params",
    "create_schema",
    "compress",
    "async_insert",
    "tls",
    "logs_table_name",
    "traces_table_name",
    "metrics_tables",
    "cluster_name",
    "table_engine",
    "timeout",
    "sending_queue",
    "retry_on_failure",
}
SENDING_QUEUE_KEYS = {
    "enabled",
    "num_consumers",
    "queue_size",
    "sizer",
    "block_on_overflow",
    "storage",
    "batch",
}
RETRY_KEYS = {"enabled", "initial_interval", "max_interval", "max_elapsed_time"}
# processor/redactionprocessor/README.md (example config and text).
REDACTION_KEYS = {
    "allow_all_keys",
    "allowed_keys",
    "ignored_keys",
    "redact_all_types",
    "blocked_key_patterns",
    "blocked_values",
    "allowed_values",
    "hash_function",
    "summary",
    "url_sanitizer",
    "db_sanitizer",
}
# processor/transformprocessor/README.md (config: error_mode, <signal>_statements, context/statements).
TRANSFORM_KEYS = {"error_mode", "trace_statements", "metric_statements", "log_statements"}
TRANSFORM_GROUP_KEYS = {"context", "statements", "conditions", "error_mode"}
OTTL_FUNCTIONS_USED = {"set", "replace_pattern", "IsMatch"}  # pkg/ottl/ottlfuncs/README.md
# memorylimiterprocessor README (collector core): check_interval, limit_mib, spike_limit_mib, *_percentage.
MEMORY_LIMITER_KEYS = {
    "check_interval",
    "limit_mib",
    "spike_limit_mib",
    "limit_percentage",
    "spike_limit_percentage",
}
# extension/bearertokenauthextension: config.go (mapstructure tags) and README ("Configuration").
BEARERTOKENAUTH_KEYS = {"scheme", "token", "tokens", "filename", "header"}
# batchprocessor README (collector core).
BATCH_KEYS = {
    "send_batch_size",
    "send_batch_max_size",
    "timeout",
    "metadata_keys",
    "metadata_cardinality_limit",
}


def test_every_image_is_pinned() -> None:
    for name, svc in SERVICES.items():
        image = svc.get("image")
        assert image, name
        if "build" in svc:
            assert image == "connlog:local", name
            continue
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest" and re.match(r"^\d", tag), (name, image)


def test_every_mounted_path_exists() -> None:
    for name, svc in SERVICES.items():
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith("."):
                assert (ROOT / src).exists(), (name, src)
            else:
                assert src in COMPOSE["volumes"], (name, src)  # named volume, declared
    assert (ROOT / "Dockerfile").exists() and (ROOT / ".env.example").exists()


def test_no_secret_is_committed() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for var in ("CLICKHOUSE_PASSWORD", "GRAFANA_ADMIN_PASSWORD"):
        assert re.search(rf"\$\{{{var}:\?", text), var  # required from .env, no default
    for name, svc in SERVICES.items():
        env = svc.get("environment", {})
        for key, value in env.items() if isinstance(env, dict) else ():
            if "PASSWORD" in key:
                assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", str(value)), (name, key)


def test_ports_agree_with_the_collector_config() -> None:
    published = {p.split(":")[-1] for p in SERVICES["otel-collector"]["ports"]}
    grpc = OTEL["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].rsplit(":", 1)[1]
    http = OTEL["receivers"]["otlp"]["protocols"]["http"]["endpoint"].rsplit(":", 1)[1]
    health = OTEL["extensions"]["health_check"]["endpoint"].rsplit(":", 1)[1]
    assert {grpc, http, health} == published == {"4317", "4318", "13133"}
    py = SERVICES["collector"]
    assert py["profiles"] == ["python-collector"]
    cmd = py["command"]
    inner = {cmd[cmd.index("--otlp-grpc-port") + 1], cmd[cmd.index("--otlp-http-port") + 1]}
    assert {p.split(":")[-1] for p in py["ports"]} == inner
    assert not {p.split(":")[0] for p in py["ports"]} & published  # both collectors can run at once
    api = SERVICES["api"]["command"]
    assert api[api.index("--api-port") + 1] == SERVICES["api"]["ports"][0].split(":")[-1]


def test_exporter_writes_the_ingest_tables_with_documented_options_only() -> None:
    exp = OTEL["exporters"]["clickhouse"]
    assert set(exp) <= CLICKHOUSE_EXPORTER_KEYS, set(exp) - CLICKHOUSE_EXPORTER_KEYS
    assert set(exp["sending_queue"]) <= SENDING_QUEUE_KEYS
    assert set(exp["retry_on_failure"]) <= RETRY_KEYS
    assert exp["create_schema"] is False
    assert exp["traces_table_name"] == n.TRACES_INGEST and exp["logs_table_name"] == n.LOGS_INGEST
    assert exp["database"] == DEFAULT_DATABASE
    assert exp["retry_on_failure"]["enabled"] and exp["sending_queue"]["enabled"]
    assert exp["endpoint"].startswith("tcp://clickhouse:9000")


def test_processors_use_documented_options_and_cover_secret_headers() -> None:
    procs = OTEL["processors"]
    assert set(procs["memory_limiter"]) <= MEMORY_LIMITER_KEYS
    assert set(procs["batch"]) <= BATCH_KEYS
    assert set(procs["redaction"]) <= REDACTION_KEYS and procs["redaction"]["allow_all_keys"] is True
    tr = procs["transform/redact"]
    assert set(tr) <= TRANSFORM_KEYS
    statements: list[str] = []
    for signal in ("trace_statements", "log_statements"):
        for group in tr[signal]:
            assert set(group) <= TRANSFORM_GROUP_KEYS
            statements += group["statements"]
    for s in statements:
        assert re.match(r"^(\w+)\(", s) and re.match(r"^(\w+)\(", s).group(1) in OTTL_FUNCTIONS_USED, s  # type: ignore[union-attr]
    joined = "\n".join(statements)
    for header in ("authorization", "cookie", "x-api-key", "proxy-authorization"):
        assert f'"{sc.HTTP_REQUEST_HEADER_PREFIX}{header}"' in joined, header
    assert f'"{sc.HTTP_RESPONSE_HEADER_PREFIX}set-cookie"' in joined
    assert f'"{sc.URL_FULL}"' in joined and f'"{sc.URL_QUERY}"' in joined
    assert sc.REDACTED_PREFIX.replace("[", "\\\\[") in joined  # already-redacted values are kept


def test_token_query_pattern_redacts_what_it_should() -> None:
    """The url.full pattern, run with Python's re (same syntax as Go RE2 for this pattern)."""
    stmt = next(
        s
        for s in OTEL["processors"]["transform/redact"]["trace_statements"][0]["statements"]
        if f'"{sc.URL_FULL}"' in s
    )
    pattern = re.search(r'"\(\?i\)(.*?)", "', stmt)
    assert pattern
    rx = re.compile("(?i)" + pattern.group(1).replace("\\\\", "\\"))
    out = rx.sub(
        r"\1[REDACTED:collector]", "https://api.x.com/v1/items?limit=10&access_token=abc123&Key=s3&page=2"
    )
    assert (
        out
        == "https://api.x.com/v1/items?limit=10&access_token=[REDACTED:collector]&Key=[REDACTED:collector]&page=2"
    )


def test_pipelines_order_and_components_exist() -> None:
    pipes = OTEL["service"]["pipelines"]
    assert set(pipes) == {"traces", "logs"}
    for p in pipes.values():
        assert p["receivers"] == ["otlp"] and p["exporters"] == ["clickhouse"]
        assert p["processors"][0] == "memory_limiter" and p["processors"][-1] == "batch"
        assert set(p["processors"]) <= set(OTEL["processors"])
    assert OTEL["service"]["extensions"] == ["health_check", "bearertokenauth/ingest"]


def test_python_services_use_the_schema_job_and_clickhouse_url() -> None:
    assert SERVICES["schema"]["command"] == ["connlog", "schema", "apply"]
    for name in ("schema", "api", "collector"):
        env = SERVICES[name]["environment"]
        assert env[ENV_CLICKHOUSE_URL].startswith("http://") and "@clickhouse:8123" in env[ENV_CLICKHOUSE_URL]
    for name in ("otel-collector", "api", "collector"):
        assert SERVICES[name]["depends_on"]["schema"]["condition"] == "service_completed_successfully"
    for name in ("clickhouse", "grafana", "api", "collector"):
        assert SERVICES[name]["healthcheck"]["test"][0] == "CMD", name
    assert "USER connlog" in (ROOT / "Dockerfile").read_text()


def test_the_image_installs_the_locked_versions_on_the_ci_python() -> None:
    """The image runs what CI tested: the lock's versions (as constraints) on the lock's Python."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    lock = (ROOT / "requirements.lock").read_text()
    python = re.search(r"--python-version (\d+\.\d+)", lock)
    assert python, "requirements.lock says which Python it was compiled for"
    assert re.search(rf"^FROM python:{re.escape(python.group(1))}-slim$", dockerfile, re.M)
    assert "COPY pyproject.toml README.md requirements.lock ./" in dockerfile
    assert 'RUN pip install -c requirements.lock ".[server]"' in dockerfile
    assert re.search(r"--python-version \S+", (ROOT / "Makefile").read_text()).group(0) in lock  # type: ignore[union-attr]


def test_ingest_requires_a_token_on_both_collectors() -> None:
    ext = OTEL["extensions"]["bearertokenauth/ingest"]
    assert set(ext) <= BEARERTOKENAUTH_KEYS, set(ext) - BEARERTOKENAUTH_KEYS
    assert ext["scheme"] == "Bearer" and ext["token"] == "${env:CONNLOG_INGEST_TOKEN}"
    for proto in ("grpc", "http"):
        auth = OTEL["receivers"]["otlp"]["protocols"][proto]["auth"]
        assert auth == {"authenticator": "bearertokenauth/ingest"}, proto
    otel_env = SERVICES["otel-collector"]["environment"]
    assert re.fullmatch(r"\$\{CONNLOG_INGEST_TOKEN:\?[^}]+\}", otel_env["CONNLOG_INGEST_TOKEN"])
    py_env = SERVICES["collector"]["environment"]
    assert re.fullmatch(rf"\$\{{{ENV_INGEST_KEYS}:\?[^}}]+\}}", py_env[ENV_INGEST_KEYS])
    assert py_env[ENV_CLICKHOUSE_URL] == SERVICES["api"]["environment"][ENV_CLICKHOUSE_URL]


def test_env_example_has_usable_ingest_settings() -> None:
    """The example values parse as the collectors will parse them (and are placeholders)."""
    values: dict[str, str] = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value.strip("'")
    keys = IngestKeys.from_env({ENV_INGEST_KEYS: values[ENV_INGEST_KEYS]})
    assert keys.enabled
    assert "change-me" in values["CONNLOG_INGEST_TOKEN"] and len(values["CONNLOG_INGEST_TOKEN"]) >= 16


def test_deploy_doc_covers_ingest_auth_and_grafana_roles() -> None:
    doc = (ROOT / "docs/deploy.md").read_text()
    for needle in (
        ENV_INGEST_KEYS,
        "CONNLOG_INGEST_KEYS_FILE",
        "OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20",
        "bearertokenauth",
        "Admin",
        f"{PLUGIN_ID} {PLUGIN_VERSION}",
        "max_resource_bytes",
        "body_read_timeout_s",
    ):
        assert needle in doc, needle
    assert "token with the Editor role" not in doc  # creating a datasource needs Admin


def test_grafana_installs_the_plugin_and_mounts_provisioning() -> None:
    g = SERVICES["grafana"]
    # Pinned to the release the dashboards are saved for ("<id> <version>", Grafana's docker format).
    assert g["environment"]["GF_INSTALL_PLUGINS"] == f"{PLUGIN_ID} {PLUGIN_VERSION}"
    mounts = {v.split(":")[1]: v.split(":")[0] for v in g["volumes"]}
    assert mounts["/etc/grafana/provisioning/datasources"] == "./dashboards/provisioning/datasources"
    assert mounts["/etc/grafana/provisioning/dashboards"] == "./dashboards/provisioning/dashboards"
    ds = yaml.safe_load((ROOT / "dashboards/provisioning/datasources/clickhouse.yaml").read_text())[
        "datasources"
    ][0]
    for ref in re.findall(r"\$\{(\w+)\}", yaml.safe_dump(ds)):
        assert ref in g["environment"], ref  # every interpolated variable is set in the container


def test_clickhouse_image_matches_the_engine_the_tests_run_on() -> None:
    """The DDL (e.g. the `default_compression_codec` table setting) is proven on chDB's engine,
    so the production image runs the same ClickHouse major.minor."""
    import chdb  # type: ignore[import-untyped]

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    image = compose["services"]["clickhouse"]["image"]
    engine = ".".join(chdb.engine_version.split(".")[:2])
    assert image == f"clickhouse/clickhouse-server:{engine}"
