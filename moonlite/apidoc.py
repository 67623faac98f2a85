"""Render the API reference (docs/api-reference.md) from the OpenAPI document of the registry."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from moonlite.config import Config
from moonlite.http import openapi_document
from moonlite.rpc import Transport

#: every component that serves API methods, so the reference is complete
REFERENCE_CONFIG = """\
[file_manager]
[history]
[data_store]
[analysis]
[printer]
[event_hooks]
[plugins]
load_entry_points: False
load_folder: False
"""


def _param_text(params: list[dict[str, Any]] | None, body: dict[str, Any] | None) -> str:
    names: list[str] = []
    if params:
        names = [p["name"] + ("" if p.get("required") else "?") for p in params]
    elif body:
        schema = body["content"]["application/json"]["schema"]
        required = set(schema.get("required", []))
        names = [n + ("" if n in required else "?") for n in schema.get("properties", {})]
    return ", ".join(f"`{n}`" for n in names) or "none"


def render() -> str:
    """The reference as Markdown: every HTTP-served method, then the websocket-only ones."""
    from moonlite.server import Host

    with tempfile.TemporaryDirectory() as tmp:
        host = Host(Config.from_string(REFERENCE_CONFIG), Path(tmp))
        host.load_components()
        doc = openapi_document(host.registry, host.version)
        ws_only = sorted((m.name, " ".join(m.doc.partition("\n\n")[0].split()), m.auth)
                         for m in host.registry.methods.values()
                         if Transport.HTTP not in m.transports)
    lines = [
        "# API reference",
        "",
        "Generated from the method registry by `python -m moonlite.apidoc` (a test keeps it",
        "current). Every method is served as JSON-RPC 2.0 over `/websocket` and",
        "`POST /server/jsonrpc`, and at the HTTP path shown; `GET /server/openapi.json` serves",
        "the same registry as an OpenAPI 3.1 document. Parameters marked `?` are optional;",
        "methods marked *public* need no credentials.",
        "",
        "| JSON-RPC method | HTTP | parameters | what it does |",
        "|---|---|---|---|",
    ]
    rows = []
    for path, verbs in doc["paths"].items():
        for verb, op in verbs.items():
            name = op["description"].rsplit("`", 2)[-2]
            public = " *public*" if op.get("security") == [] else ""
            rows.append((name, f"{verb.upper()} `{path}`",
                         _param_text(op.get("parameters"), op.get("requestBody")),
                         op["summary"].replace("|", "\\|") + public))
    for row in sorted(rows):
        lines.append("| `{}` | {} | {} | {} |".format(*row))
    lines += ["", "Websocket only:", "", "| JSON-RPC method | what it does |", "|---|---|"]
    for name, summary, auth in ws_only:
        lines.append(f"| `{name}` | {summary}{'' if auth else ' *public*'} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    """Print the reference (redirect to docs/api-reference.md)."""
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
