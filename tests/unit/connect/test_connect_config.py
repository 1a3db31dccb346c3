"""Worker and connector configs: Kafka's keys, defaults and errors naming the key."""

from __future__ import annotations

import pytest

from riverlog.common.configdef import ConfigError
from riverlog.connect import connector_config as cc
from riverlog.connect.plugins import PLUGINS
from riverlog.connect.worker_config import WorkerConfig

BASE = {
    "key.converter": "org.apache.kafka.connect.storage.StringConverter",
    "value.converter": "org.apache.kafka.connect.json.JsonConverter",
    "offset.storage.file.filename": "/tmp/x.offsets",
}


def test_worker_defaults() -> None:
    cfg = WorkerConfig.parse(BASE, distributed=False)
    assert cfg.get("listeners") == ["http://0.0.0.0:8083"]
    assert cfg.get("offset.flush.interval.ms") == 60000
    assert cfg.get("bootstrap.servers") == ["localhost:9092"]
    assert cfg.get("connector.client.config.override.policy") == "All"


def test_unknown_and_invalid_keys_are_named() -> None:
    with pytest.raises(ConfigError) as exc:
        WorkerConfig.parse({**BASE, "offset.flush.intervl.ms": "5"}, distributed=False)
    assert exc.value.key == "offset.flush.intervl.ms"
    with pytest.raises(ConfigError) as exc:
        WorkerConfig.parse({**BASE, "offset.flush.interval.ms": "soon"}, distributed=False)
    assert exc.value.key == "offset.flush.interval.ms"
    with pytest.raises(ConfigError) as exc:
        WorkerConfig.parse(
            {k: v for k, v in BASE.items() if k != "value.converter"}, distributed=False
        )
    assert exc.value.key == "value.converter"
    with pytest.raises(ConfigError) as exc:
        WorkerConfig.parse({**BASE, "group.id": "g"}, distributed=True)
    assert exc.value.key == "offset.storage.file.filename"  # a standalone key is unknown here
    distributed = {k: v for k, v in BASE.items() if k != "offset.storage.file.filename"}
    with pytest.raises(ConfigError) as exc:
        WorkerConfig.parse({**distributed, "group.id": "g"}, distributed=True)
    assert exc.value.key == "config.storage.topic"


def test_prefixed_pass_through() -> None:
    cfg = WorkerConfig.parse(
        {**BASE, "producer.linger.ms": "7", "value.converter.schemas.enable": "false"},
        distributed=False,
    )
    assert cfg.with_prefix("producer.") == {"linger.ms": "7"}
    assert cfg.with_prefix("value.converter.") == {"schemas.enable": "false"}


def test_aliases_resolve() -> None:
    full = "org.apache.kafka.connect.file.FileStreamSourceConnector"
    for alias in ("FileStreamSource", "FileStreamSourceConnector", full):
        assert PLUGINS.resolve(alias).class_name == full
    assert PLUGINS.resolve("JsonConverter").type == "converter"


def test_validate_lists_every_bad_key() -> None:
    infos = cc.validate(
        {
            "name": "s",
            "connector.class": "FileStreamSink",
            "tasks.max": "zero",
            "errors.tolerance": "some",
        },
        PLUGINS,
    )
    bad = {
        c["value"]["name"]: c["value"]["errors"] for c in infos["configs"] if c["value"]["errors"]
    }
    assert set(bad) == {"tasks.max", "errors.tolerance", "topics", "topics.regex"}
    assert infos["error_count"] == 4
    assert infos["name"] == "org.apache.kafka.connect.file.FileStreamSinkConnector"
    message = cc.invalid_message(infos)
    assert "contains the following 4 error(s)" in message and "tasks.max" in message


def test_unknown_connector_class() -> None:
    infos = cc.validate({"name": "s", "connector.class": "NoSuchThing"}, PLUGINS)
    assert infos["error_count"] >= 1
    assert any(
        c["value"]["name"] == "connector.class" and c["value"]["errors"] for c in infos["configs"]
    )


def test_config_providers_resolve_file_env_and_directory(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathlib import Path

    from riverlog.connect.config_providers import resolve

    base = Path(str(tmp_path))
    (base / "creds.properties").write_text("password=s3cret\n")
    (base / "token").write_text("tok")
    monkeypatch.setenv("PG_USER", "app")
    cfg = WorkerConfig.parse(
        {
            **BASE,
            "config.providers": "file,env,dir",
            "config.providers.file.class": "org.apache.kafka.common.config.provider.FileConfigProvider",
            "config.providers.env.class": "EnvVarConfigProvider",
            "config.providers.dir.class": "DirectoryConfigProvider",
        },
        distributed=False,
    )
    props = {
        "connection.password": f"${{file:{base}/creds.properties:password}}",
        "connection.user": "${env:PG_USER}",
        "t": f"${{dir:{base}:token}}",
        "x": "${nope:a}",
    }
    assert resolve(props, cfg.config_providers()) == {
        "connection.password": "s3cret",
        "connection.user": "app",
        "t": "tok",
        "x": "${nope:a}",
    }
    with pytest.raises(ConfigError) as exc:
        WorkerConfig.parse(
            {
                **BASE,
                "config.providers": "vault",
                "config.providers.vault.class": "com.example.Vault",
            },
            distributed=False,
        )
    assert exc.value.key == "config.providers.vault.class"


def test_third_party_plugin_found_through_entry_points(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `pip install`ed package declaring `[riverlog.connectors]` entry points adds its connector."""
    import sys
    from pathlib import Path

    from riverlog.connect.plugins import Plugins

    site = Path(str(tmp_path))
    (site / "acme_connect.py").write_text(
        "from riverlog.connect.api import SourceConnector\n"
        "class AcmeSourceConnector(SourceConnector):\n"
        "    VERSION = '1.2.3'\n"
    )
    dist = site / "acme_connect-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-connect\nVersion: 1.2.3\n")
    (dist / "entry_points.txt").write_text(
        "[riverlog.connectors]\nAcmeSource = acme_connect:AcmeSourceConnector\n"
    )
    monkeypatch.syspath_prepend(str(site))
    plugins = Plugins()
    desc = plugins.resolve("AcmeSource")
    assert desc.type == "source" and desc.version == "1.2.3"
    assert plugins.resolve("AcmeSourceConnector") == desc
    assert any(p.class_name == desc.class_name for p in plugins.all())
    sys.modules.pop("acme_connect", None)
