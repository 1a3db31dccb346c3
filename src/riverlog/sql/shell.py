"""The SQL shell (ksqlDB's CLI) talking to a server's REST API.

Statements end with `;` and may span lines. SELECT goes to `/query` and streams rows until LIMIT or
Ctrl-C; `SET`/`UNSET` change the session's properties and `DEFINE`/`UNDEFINE` its variables (both
sent with every request); `RUN SCRIPT 'file'` runs a file; everything else goes to `/ksql` and is
shown as a table (or JSON with `--output JSON`).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import httpx

from riverlog.sql import ast
from riverlog.sql.errors import SqlError
from riverlog.sql.parser import parse, substitute
from riverlog.sql.script import split_statements


class ShellError(Exception):
    pass


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[("null" if v is None else str(v)) for v in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def fmt(values: list[str]) -> str:
        return "|" + "|".join(f" {v:<{w}} " for v, w in zip(values, widths, strict=True)) + "|"

    out = [line, fmt(headers), line]
    out += [fmt(r) for r in cells]
    out.append(line)
    return "\n".join(out)


class Shell:
    def __init__(self, server: str, output: str = "TABULAR", out: TextIO | None = None) -> None:
        self.server = server.rstrip("/")
        self.output = output
        self.out = out or sys.stdout
        self.properties: dict[str, str] = {}
        self.variables: dict[str, str] = {}
        self.client = httpx.Client(base_url=self.server, timeout=httpx.Timeout(30.0, read=None))

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    # -- running statements ------------------------------------------------------------------
    def run_text(self, text: str, stop_on_error: bool = False) -> int:
        code = 0
        for piece in split_statements(text):
            ok = self.run_statement(piece)
            if not ok:
                code = 1
                if stop_on_error:
                    break
        return code

    def run_statement(self, text: str) -> bool:
        try:
            substituted = substitute(text, self.variables)
            stmts = parse(substituted, self.variables)
        except SqlError as e:
            self.say(str(e))
            return False
        if not stmts:
            return True
        stmt = stmts[0]
        if isinstance(stmt, ast.SetProperty):
            self.properties[stmt.name] = stmt.value
            self.say(f"Successfully changed local property '{stmt.name}' to '{stmt.value}'.")
            return True
        if isinstance(stmt, ast.UnsetProperty):
            self.properties.pop(stmt.name, None)
            self.say(f"Successfully unset local property '{stmt.name}'.")
            return True
        if isinstance(stmt, ast.DefineVariable):
            self.variables[stmt.name] = stmt.value
            return True
        if isinstance(stmt, ast.UndefineVariable):
            self.variables.pop(stmt.name, None)
            return True
        if isinstance(stmt, ast.ListStatement) and stmt.what == "VARIABLES":
            self.say(
                _table(
                    ["Variable Name", "Value"], [[k, v] for k, v in sorted(self.variables.items())]
                )
            )
            return True
        if isinstance(stmt, ast.RunScript):
            try:
                script = Path(stmt.path).read_text()
            except OSError as e:
                self.say(f"Failed to read file: {e}")
                return False
            return self.run_text(script, stop_on_error=True) == 0
        if isinstance(stmt, ast.QueryStatement):
            return self.query(substituted)
        if isinstance(stmt, ast.PrintTopic):
            return self.print_topic(substituted)
        return self.ksql(substituted)

    def _post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        try:
            return self.client.post(path, json=body)
        except httpx.HTTPError as e:
            raise ShellError(f"cannot reach the SQL server at {self.server}: {e}") from None

    def ksql(self, text: str) -> bool:
        r = self._post(
            "/ksql",
            {
                "ksql": text,
                "streamsProperties": self.properties,
                "sessionVariables": self.variables,
            },
        )
        body = r.json()
        if r.status_code != 200:
            self.say(body.get("message", str(body)) if isinstance(body, dict) else str(body))
            return False
        for entity in body:
            self.render(entity)
        return True

    def query(self, text: str) -> bool:
        body = {
            "ksql": text,
            "streamsProperties": self.properties,
            "sessionVariables": self.variables,
        }
        try:
            with self.client.stream("POST", "/query", json=body) as r:
                if r.status_code != 200:
                    r.read()
                    data = r.json()
                    self.say(data.get("message", str(data)))
                    return False
                return self._print_rows(r)
        except KeyboardInterrupt:
            self.say("Query terminated")
            return True
        except httpx.HTTPError as e:
            raise ShellError(f"cannot reach the SQL server at {self.server}: {e}") from None

    def print_topic(self, text: str) -> bool:
        body = {"ksql": text, "streamsProperties": self.properties}
        try:
            with self.client.stream("POST", "/query", json=body) as r:
                if r.status_code != 200:
                    r.read()
                    self.say(r.json().get("message", r.text))
                    return False
                for line in r.iter_lines():
                    if line.strip():
                        self.say(line)
        except KeyboardInterrupt:
            self.say("Topic printing ceased")
        except httpx.HTTPError as e:
            raise ShellError(f"cannot reach the SQL server at {self.server}: {e}") from None
        return True

    def _print_rows(self, r: httpx.Response) -> bool:
        headers: list[str] = []
        widths: list[int] = []
        for line in r.iter_lines():
            item = line.strip().lstrip("[").rstrip(",").rstrip("]").strip()
            if not item:
                continue
            try:
                data = json.loads(item)
            except ValueError:
                continue
            if "header" in data:
                headers = [
                    c.split("` ")[0].strip("`") for c in data["header"]["schema"].split(", `")
                ]
                widths = [max(len(h), 10) for h in headers]
                border = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
                self.say(border)
                self.say(
                    "|"
                    + "|".join(f" {h:<{w}} " for h, w in zip(headers, widths, strict=True))
                    + "|"
                )
                self.say(border)
            elif "row" in data:
                cols = data["row"]["columns"]
                vals = [
                    "null"
                    if v is None
                    else (json.dumps(v) if isinstance(v, (dict, list)) else str(v))
                    for v in cols
                ]
                if widths and len(vals) == len(widths):
                    self.say(
                        "|"
                        + "|".join(f" {v:<{w}} " for v, w in zip(vals, widths, strict=True))
                        + "|"
                    )
                else:
                    self.say(" | ".join(vals))
            elif "finalMessage" in data:
                self.say(data["finalMessage"])
            elif "errorMessage" in data:
                self.say(str(data["errorMessage"].get("message")))
                return False
        return True

    # -- rendering -------------------------------------------------------------------------
    def render(self, e: dict[str, Any]) -> None:
        if self.output == "JSON":
            self.say(json.dumps(e, indent=2))
            return
        t = e.get("@type")
        if t == "currentStatus":
            self.say(_table(["Message"], [[e["commandStatus"]["message"]]]))
        elif t in ("streams", "tables"):
            items = e[t]
            label = "Stream Name" if t == "streams" else "Table Name"
            self.say(
                _table(
                    [label, "Kafka Topic", "Key Format", "Value Format", "Windowed"],
                    [
                        [
                            s["name"],
                            s["topic"],
                            s["keyFormat"],
                            s["valueFormat"],
                            str(s["isWindowed"]).lower(),
                        ]
                        for s in items
                    ],
                )
            )
        elif t == "queries":
            self.say(
                _table(
                    [
                        "Query ID",
                        "Query Type",
                        "Status",
                        "Sink Name",
                        "Sink Kafka Topic",
                        "Query String",
                    ],
                    [
                        [
                            q["id"],
                            q["queryType"],
                            q["state"],
                            ",".join(q["sinks"]),
                            ",".join(q["sinkKafkaTopics"]),
                            q["queryString"],
                        ]
                        for q in e["queries"]
                    ],
                )
            )
        elif t == "sourceDescription":
            d = e["sourceDescription"]
            self.say(f"Name                 : {d['name']}")
            rows = [
                [f["name"], f["schema"]["type"] + (" (key)" if f.get("type") == "KEY" else "")]
                for f in d["fields"]
            ]
            self.say(_table(["Field", "Type"], rows))
        elif t == "kafka_topics":
            self.say(
                _table(
                    ["Kafka Topic", "Partitions", "Partition Replicas"],
                    [
                        [
                            x["name"],
                            len(x["replicaInfo"]),
                            x["replicaInfo"][0] if x["replicaInfo"] else 0,
                        ]
                        for x in e["topics"]
                    ],
                )
            )
        elif t == "properties":
            self.say(
                _table(
                    ["Property", "Scope", "Value"],
                    [[p["name"], p["scope"], p["value"]] for p in e["properties"]],
                )
            )
        elif t == "function_names":
            self.say(
                _table(
                    ["Function Name", "Category"],
                    [[f["name"], f["category"]] for f in e["functions"]],
                )
            )
        elif t == "assert_topic":  # ksqlDB's console: "Topic name exists."
            self.say(f"Topic {e['topicName']} {'exists' if e['exists'] else 'does not exist'}.")
        elif t == "assert_schema":
            subject = f" subject {e['subject']}" if e.get("subject") is not None else ""
            sid = f" id {e['id']}" if e.get("id") is not None else ""
            verb = "exists" if e["exists"] else "does not exist"
            self.say(f"Schema with{subject}{sid} {verb}.")
        else:
            self.say(json.dumps(e, indent=2))

    # -- interactive -----------------------------------------------------------------------
    def interactive(self) -> int:
        try:
            import readline

            hist = Path(os.path.expanduser("~/.riverlog_sql_history"))
            if hist.exists():
                readline.read_history_file(hist)
        except (ImportError, OSError):
            readline = None  # type: ignore[assignment]
            hist = None  # type: ignore[assignment]
        try:
            info = self.client.get("/info").json()["KsqlServerInfo"]
            self.say(
                f"riverlog sql shell — server {self.server} (ksqlDB {info['version']}, service {info['ksqlServiceId']})"
            )
        except (httpx.HTTPError, ValueError, KeyError):
            self.say(f"riverlog sql shell — server {self.server} is not reachable yet")
        buf: list[str] = []
        while True:
            try:
                line = input("ksql> " if not buf else "    > ")
            except EOFError:
                break
            except KeyboardInterrupt:
                buf = []
                self.say("")
                continue
            if not buf and line.strip().lower() in ("exit", "quit", "exit;", "quit;"):
                break
            buf.append(line)
            text = "\n".join(buf)
            if text.strip() and split_statements(text) and text.rstrip().endswith(";"):
                buf = []
                try:
                    self.run_text(text)
                except ShellError as e:
                    self.say(str(e))
        if readline is not None and hist is not None:
            try:
                readline.write_history_file(hist)
            except OSError:
                pass
        return 0
