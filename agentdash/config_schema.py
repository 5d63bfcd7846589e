"""The JSON schema of agentdash.yaml, for editors (`agentdash check-config --schema`).

pydantic's own schema, widened to accept everything the config accepts: the models take
other spellings than a field's name (the HPA's `stabilizationWindowSeconds` beside
`stabilization_seconds`, and the older single-rule `max_pods`/`period_seconds` form of a
scaling rule), and an editor must not mark a config that `check-config` passes. The schema
only guides: `check-config` still has the last word (cross-references, limits).
"""

from __future__ import annotations

import ast
import inspect
from typing import Any

from pydantic import AliasChoices, BaseModel

from controller.core import behavior, config, config_tenants, config_types, connections, names
from controller.core.config import Config

DIALECT = "https://json-schema.org/draft/2020-12/schema"
CONFIG_MODULES = (config, config_tenants, behavior, connections)
"""Where the config's models are written, docstrings under their fields."""


def config_schema() -> dict[str, Any]:
    schema = Config.model_json_schema()
    models = {
        name: value
        for module in CONFIG_MODULES
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, BaseModel)
    }
    defs: dict[str, Any] = schema.get("$defs", {})
    docs = _field_docs()
    for name, model in models.items():
        if name in defs:
            _describe(model, defs[name], docs)
            _other_spellings(model, defs[name])
    if "ScalingRule" in defs:
        _single_rule(defs["ScalingRule"])
    _names(schema["properties"])
    return {"$schema": DIALECT, **schema, "title": "agentdash.yaml"}


def _names(properties: dict[str, Any]) -> None:
    """The rules for the names of pools, tiers, tenants and providers, and that there is a
    pool: the models check them in Python (controller.core.names), where pydantic cannot see
    them to write them into a schema, and an editor passed a config check-config refuses."""
    pools = {"pattern": f"^{names.DNS_LABEL.pattern}$", "maxLength": 63}
    properties["pools"] |= {"minProperties": 1, "propertyNames": pools}
    others = {"pattern": f"^{names.NATS_NAME.pattern}$", "maxLength": 255}
    for key in ("tiers", "tenants", "providers"):
        properties[key]["propertyNames"] = others


def _field_docs() -> dict[tuple[str, str], str]:
    """(model, field) -> the docstring written under the field in controller/core/config.py
    (and config_tenants.py, behavior.py, connections.py), for an editor to show. Read here
    rather than by pydantic (`use_attribute_docstrings`), which would read the source at every
    start of every command."""
    try:
        trees = [ast.parse(inspect.getsource(module)) for module in CONFIG_MODULES]
    except (OSError, TypeError):  # installed without its source: no descriptions then
        return {}
    docs = {}
    classes = (node for tree in trees for node in tree.body if isinstance(node, ast.ClassDef))
    for model in classes:
        for field, after in zip(model.body, model.body[1:], strict=False):
            if (
                isinstance(field, ast.AnnAssign)
                and isinstance(field.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[(model.name, field.target.id)] = inspect.cleandoc(after.value.value)
    return docs


def _describe(
    model: type[BaseModel], schema: dict[str, Any], docs: dict[tuple[str, str], str]
) -> None:
    properties: dict[str, Any] = schema.get("properties", {})
    for name, field in model.model_fields.items():
        doc = docs.get((model.__name__, name))
        alias = field.validation_alias
        spelt = alias.choices[0] if isinstance(alias, AliasChoices) else name
        if doc and isinstance(spelt, str) and spelt in properties:
            properties[spelt].setdefault("description", doc)


def _other_spellings(model: type[BaseModel], schema: dict[str, Any]) -> None:
    """Each further alias a field takes is a property too; a required field may be given
    under any of its names."""
    properties: dict[str, Any] = schema.get("properties", {})
    required: list[str] = schema.get("required", [])
    for field in model.model_fields.values():
        alias = field.validation_alias
        if not isinstance(alias, AliasChoices):
            continue
        names = [choice for choice in alias.choices if isinstance(choice, str)]
        if not names or names[0] not in properties:
            continue
        for other in names[1:]:
            properties[other] = properties[names[0]]
        if names[0] in required:
            required.remove(names[0])
            schema.setdefault("allOf", []).append(
                {"anyOf": [{"required": [each]} for each in names]}
            )
    if "required" in schema and not required:
        del schema["required"]


def _single_rule(schema: dict[str, Any]) -> None:
    """`{stabilization_seconds, max_pods, period_seconds}`: one `Pods` policy, as
    ScalingRule._single_rule reads it."""
    properties = schema.setdefault("properties", {})
    properties["max_pods"] = {
        "type": "integer",
        "exclusiveMinimum": 0,
        "maximum": config_types.MAX_PODS,
        "description": "the older single-rule form: at most this many pods per period_seconds",
    }
    properties["period_seconds"] = {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": config_types.DAY,
        "description": "the older single-rule form: the period of max_pods",
    }
