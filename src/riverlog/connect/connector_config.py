"""Connector configuration: Kafka's `ConnectorConfig` / `SourceConnectorConfig` / `SinkConnectorConfig`
keys, the transform and predicate chain they declare, and the `/validate` answer (`ConfigInfos`).

A connector config is valid when its class resolves, every declared key (common, connector-specific,
`transforms.<alias>.*`, `predicates.<alias>.*`) parses, and a sink names exactly one of `topics` /
`topics.regex`. `validate` returns every error at once so a REST create can refuse naming each bad key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from riverlog.common.configdef import (
    NO_DEFAULT,
    ConfigDef,
    ConfigKey,
    Importance,
    Type,
    in_range,
    one_of,
)
from riverlog.connect.api import Connector, SinkConnector
from riverlog.connect.errors import NotFoundException
from riverlog.connect.plugins import Plugins
from riverlog.connect.transforms.base import Predicate, Stage, Transformation, TransformationChain

H, M, L = Importance.HIGH, Importance.MEDIUM, Importance.LOW
COMMON_GROUP, TRANSFORMS_GROUP, PREDICATES_GROUP, ERROR_GROUP = (
    "Common",
    "Transforms",
    "Predicates",
    "Error Handling",
)


def _def(
    name: str,
    type_: Type,
    default: Any,
    validator: Any,
    imp: Importance,
    doc: str,
    group: str,
    order: int,
    display: str,
) -> ConfigKey:
    return ConfigKey(name, type_, default, validator, imp, doc, group, order, display)


def _common_keys() -> list[ConfigKey]:
    g, e = COMMON_GROUP, ERROR_GROUP
    return [
        _def(
            "name",
            Type.STRING,
            NO_DEFAULT,
            None,
            H,
            "Globally unique name to use for this connector.",
            g,
            1,
            "Connector name",
        ),
        _def(
            "connector.class",
            Type.STRING,
            NO_DEFAULT,
            None,
            H,
            "Name or alias of the class for this connector.",
            g,
            2,
            "Connector class",
        ),
        _def(
            "tasks.max",
            Type.INT,
            1,
            in_range(1),
            H,
            "Maximum number of tasks to use for this connector.",
            g,
            3,
            "Tasks max",
        ),
        _def(
            "tasks.max.enforce",
            Type.BOOLEAN,
            True,
            None,
            L,
            "Fail tasks beyond tasks.max.",
            g,
            4,
            "Enforce tasks max",
        ),
        _def(
            "key.converter",
            Type.CLASS,
            None,
            None,
            L,
            "Converter class for keys (overrides the worker's).",
            g,
            5,
            "Key converter class",
        ),
        _def(
            "value.converter",
            Type.CLASS,
            None,
            None,
            L,
            "Converter class for values (overrides the worker's).",
            g,
            6,
            "Value converter class",
        ),
        _def(
            "header.converter",
            Type.CLASS,
            None,
            None,
            L,
            "HeaderConverter class (overrides the worker's).",
            g,
            7,
            "Header converter class",
        ),
        _def(
            "config.action.reload",
            Type.STRING,
            "restart",
            one_of("none", "restart", case_sensitive=False),
            L,
            "Action on external config change.",
            g,
            8,
            "Reload Action",
        ),
        _def(
            "transforms",
            Type.LIST,
            [],
            None,
            L,
            "Aliases for the transformations to be applied to records.",
            TRANSFORMS_GROUP,
            9,
            "Transforms",
        ),
        _def(
            "predicates",
            Type.LIST,
            [],
            None,
            L,
            "Aliases for the predicates used by transformations.",
            PREDICATES_GROUP,
            10,
            "Predicates",
        ),
        _def(
            "errors.retry.timeout",
            Type.LONG,
            0,
            in_range(-1),
            M,
            "Maximum duration in milliseconds that a failed operation will be reattempted (-1: forever).",
            e,
            1,
            "Retry Timeout for Errors",
        ),
        _def(
            "errors.retry.delay.max.ms",
            Type.LONG,
            60000,
            in_range(1),
            M,
            "Maximum duration in milliseconds between consecutive retry attempts.",
            e,
            2,
            "Maximum Delay Between Retries for Errors",
        ),
        _def(
            "errors.tolerance",
            Type.STRING,
            "none",
            one_of("none", "all", case_sensitive=False),
            M,
            "Behavior for tolerating errors during connector operation.",
            e,
            3,
            "Error Tolerance",
        ),
        _def(
            "errors.log.enable",
            Type.BOOLEAN,
            False,
            None,
            M,
            "Log each error and the details of the failed operation.",
            e,
            4,
            "Log Errors",
        ),
        _def(
            "errors.log.include.messages",
            Type.BOOLEAN,
            False,
            None,
            M,
            "Include the failed record in the log.",
            e,
            5,
            "Log Error Details",
        ),
    ]


def _sink_keys() -> list[ConfigKey]:
    g, e = COMMON_GROUP, ERROR_GROUP
    return [
        _def("topics", Type.LIST, [], None, H, "List of topics to consume.", g, 4, "Topics"),
        _def(
            "topics.regex",
            Type.STRING,
            "",
            None,
            H,
            "Regular expression giving topics to consume.",
            g,
            4,
            "Topics regex",
        ),
        _def(
            "errors.deadletterqueue.topic.name",
            Type.STRING,
            "",
            None,
            M,
            "The name of the topic to be used as the dead letter queue (DLQ).",
            e,
            6,
            "Dead Letter Queue Topic Name",
        ),
        _def(
            "errors.deadletterqueue.topic.replication.factor",
            Type.SHORT,
            3,
            None,
            M,
            "Replication factor used to create the dead letter queue topic.",
            e,
            7,
            "Dead Letter Queue Topic Replication Factor",
        ),
        _def(
            "errors.deadletterqueue.context.headers.enable",
            Type.BOOLEAN,
            False,
            None,
            M,
            "Add headers with error context to DLQ records.",
            e,
            8,
            "Enable Error Context Headers",
        ),
    ]


def _source_keys() -> list[ConfigKey]:
    g = COMMON_GROUP
    return [
        _def(
            "topic.creation.groups",
            Type.LIST,
            [],
            None,
            L,
            "Groups of configurations for topics created by source connectors.",
            g,
            11,
            "Topic Creation Groups",
        ),
        _def(
            "exactly.once.support",
            Type.STRING,
            "requested",
            one_of("requested", "required", case_sensitive=False),
            M,
            "Whether exactly-once is required.",
            g,
            12,
            "Exactly once support",
        ),
        _def(
            "transaction.boundary",
            Type.STRING,
            "poll",
            one_of("poll", "interval", "connector", case_sensitive=False),
            M,
            "Transaction boundaries for exactly-once source tasks.",
            g,
            13,
            "Transaction Boundary",
        ),
        _def(
            "transaction.boundary.interval.ms",
            Type.LONG,
            None,
            None,
            L,
            "Interval for interval transaction boundaries.",
            g,
            14,
            "Transaction boundary interval",
        ),
        _def(
            "offsets.storage.topic",
            Type.STRING,
            None,
            None,
            L,
            "A separate offsets topic for this connector.",
            g,
            15,
            "Offsets topic",
        ),
    ]


def base_def(is_sink: bool) -> ConfigDef:
    keys = _common_keys() + (_sink_keys() if is_sink else _source_keys())
    return ConfigDef({k.name: k for k in keys})


def _prefixed(prefix: str, definition: ConfigDef, group: str) -> list[ConfigKey]:
    out = []
    for i, key in enumerate(definition.keys.values()):
        out.append(
            ConfigKey(
                prefix + key.name,
                key.type,
                key.default,
                key.validator,
                key.importance,
                key.doc,
                group,
                i,
                key.name,
            )
        )
    return out


def full_def(
    props: Mapping[str, str], plugins: Plugins, connector_cls: type[Connector]
) -> tuple[ConfigDef, dict[str, list[str]]]:
    """The enriched definition (common + connector + transforms + predicates) and plugin lookup errors."""
    is_sink = issubclass(connector_cls, SinkConnector)
    keys = dict(base_def(is_sink).keys)
    extra_errors: dict[str, list[str]] = {}
    for k in connector_cls.config_def.keys.values():
        keys.setdefault(k.name, k)
    for kind, base, group in (
        ("transforms", Transformation, TRANSFORMS_GROUP),
        ("predicates", Predicate, PREDICATES_GROUP),
    ):
        for alias in _list(props.get(kind, "")):
            prefix = f"{kind}.{alias}."
            type_key = prefix + "type"
            keys[type_key] = ConfigKey(
                type_key,
                Type.CLASS,
                None,
                None,
                H,
                f"Class for the '{alias}' {kind[:-1]}.",
                group,
                0,
                "Type",
            )
            if kind == "transforms":
                for name, typ, default, doc in (
                    (
                        "predicate",
                        Type.STRING,
                        "",
                        "The alias of a predicate used to determine whether to apply this transformation.",
                    ),
                    (
                        "negate",
                        Type.BOOLEAN,
                        False,
                        "Whether the configured predicate should be negated.",
                    ),
                ):
                    keys[prefix + name] = ConfigKey(
                        prefix + name, typ, default, None, M, doc, group, 0, name
                    )
            type_name = props.get(type_key)
            if not type_name:
                continue
            try:
                cls = plugins.load(type_name)
            except NotFoundException:
                extra_errors.setdefault(type_key, []).append(
                    f"Invalid value {type_name} for configuration {type_key}: Class {type_name} could not be found."
                )
                continue
            if not issubclass(cls, base):
                extra_errors.setdefault(type_key, []).append(
                    f"Invalid value {type_name} for configuration {type_key}: Not a {base.__name__}"
                )
                continue
            for k in _prefixed(prefix, cls.config_def, group):
                keys.setdefault(k.name, k)
    return ConfigDef(keys), extra_errors


def _list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [p.strip() for p in str(value or "").split(",") if p.strip()]


def validate(props: Mapping[str, str], plugins: Plugins) -> dict[str, Any]:
    """Kafka's `ConfigInfos` for `props`: name, error_count, groups, configs[{definition, value}]."""
    class_name = props.get("connector.class", "")
    try:
        desc = plugins.resolve(class_name)
        connector_cls = desc.load()
        if desc.type not in ("source", "sink"):
            raise NotFoundException(f"{class_name} is not a connector")
    except NotFoundException as exc:
        definition = base_def(False)
        errors = definition.validate(props)
        errors["connector.class"] = [str(exc)]
        return _infos(class_name, definition, props, errors)
    definition, extra = full_def(props, plugins, connector_cls)
    errors = definition.validate(props)
    try:
        connector_errors = connector_cls().validate(props)
    except Exception as exc:  # a connector's own validate must not take the worker down
        connector_errors = {"connector.class": [f"Connector validate failed: {exc}"]}
    for name, messages in list(connector_errors.items()) + list(extra.items()):
        errors.setdefault(name, [])
        errors[name].extend(m for m in messages if m not in errors[name])
    if issubclass(connector_cls, SinkConnector):
        has_topics = bool(_list(props.get("topics", "")))
        has_regex = bool(str(props.get("topics.regex", "")).strip())
        if has_topics and has_regex:
            msg = "topics and topics.regex are mutually exclusive options, but both are set."
            errors["topics"].append(msg)
            errors["topics.regex"].append(msg)
        elif not has_topics and not has_regex:
            msg = "Must configure one of topics or topics.regex"
            errors["topics"].append(msg)
            errors["topics.regex"].append(msg)
        dlq = str(props.get("errors.deadletterqueue.topic.name", "")).strip()
        if dlq and dlq in _list(props.get("topics", "")):
            errors["errors.deadletterqueue.topic.name"].append(
                f"The DLQ topic '{dlq}' may not be included in the list of topics ('topics={dlq}') consumed by the connector"
            )
    for alias in _list(props.get("transforms", "")):
        pred = str(props.get(f"transforms.{alias}.predicate", "")).strip()
        if pred and pred not in _list(props.get("predicates", "")):
            errors[f"transforms.{alias}.predicate"].append(
                f"Invalid value {pred} for configuration transforms.{alias}.predicate: Predicate {pred} is not in the predicates list"
            )
    return _infos(desc.class_name, definition, props, errors)


def _infos(
    name: str, definition: ConfigDef, props: Mapping[str, str], errors: dict[str, list[str]]
) -> dict[str, Any]:
    groups: list[str] = []
    configs = []
    for key in definition.keys.values():
        if key.group and key.group not in groups:
            groups.append(key.group)
        default = key.default
        configs.append(
            {
                "definition": {
                    "name": key.name,
                    "type": key.type.value,
                    "required": not key.has_default,
                    "default_value": None
                    if not key.has_default or default is None
                    else _text(default),
                    "importance": key.importance.value,
                    "documentation": key.doc,
                    "group": key.group,
                    "width": "NONE",
                    "display_name": key.display_name or key.name,
                    "dependents": list(key.dependents),
                    "order": key.order_in_group,
                },
                "value": {
                    "name": key.name,
                    "value": props.get(
                        key.name, None if not key.has_default or default is None else _text(default)
                    ),
                    "recommended_values": [],
                    "errors": errors.get(key.name, []),
                    "visible": True,
                },
            }
        )
    for name_, messages in errors.items():
        if name_ not in definition.keys and messages:
            configs.append(
                {
                    "definition": None,
                    "value": {
                        "name": name_,
                        "value": props.get(name_),
                        "recommended_values": [],
                        "errors": messages,
                        "visible": True,
                    },
                }
            )
    count = sum(len(c["value"]["errors"]) for c in configs)  # type: ignore[index,misc]
    return {"name": name, "error_count": count, "groups": groups, "configs": configs}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def invalid_message(infos: Mapping[str, Any]) -> str:
    """Kafka's 400 message for an invalid connector config, naming every bad key."""
    lines = []
    for c in infos["configs"]:
        for err in c["value"]["errors"]:
            name = c["value"]["name"]
            lines.append(err if name in err else f"{name}: {err}")
    return (
        f"Connector configuration is invalid and contains the following {len(lines)} error(s):\n"
        + "\n".join(lines)
        + "\nYou can also find the above list of errors at the endpoint `/connector-plugins/{connectorType}/config/validate`"
    )


def build_chain(props: Mapping[str, str], plugins: Plugins) -> TransformationChain:
    """The configured transforms, each with its predicate (already validated)."""
    predicates: dict[str, Predicate] = {}
    for alias in _list(props.get("predicates", "")):
        prefix = f"predicates.{alias}."
        pred = plugins.new(props[prefix + "type"])
        pred.configure(
            {
                k[len(prefix) :]: v
                for k, v in props.items()
                if k.startswith(prefix) and k != prefix + "type"
            }
        )
        predicates[alias] = pred
    stages = []
    for alias in _list(props.get("transforms", "")):
        prefix = f"transforms.{alias}."
        transform = plugins.new(props[prefix + "type"])
        transform.configure(
            {
                k[len(prefix) :]: v
                for k, v in props.items()
                if k.startswith(prefix) and k != prefix + "type"
            }
        )
        pred_alias = str(props.get(prefix + "predicate", "")).strip()
        negate = str(props.get(prefix + "negate", "false")).strip().lower() == "true"
        stages.append(
            Stage(alias, transform, predicates.get(pred_alias) if pred_alias else None, negate)
        )
    return TransformationChain(stages)


def parsed(props: Mapping[str, str], connector_cls: type[Connector]) -> dict[str, Any]:
    """The typed common keys of a (validated) connector config; connector keys stay strings."""
    is_sink = issubclass(connector_cls, SinkConnector)
    definition = base_def(is_sink)
    return definition.parse({k: v for k, v in props.items() if k in definition}, allow_unknown=True)
