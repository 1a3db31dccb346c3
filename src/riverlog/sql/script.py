"""Scripts: splitting text into statements (outside quotes and comments) and parsing them one
by one, so that a DEFINE applies to the statements after it."""

from __future__ import annotations

import re

from riverlog.sql import ast
from riverlog.sql.parser import parse

__all__ = ["split_and_parse", "split_statements"]


def split_and_parse(text: str, variables: dict[str, str]) -> list[ast.Statement]:
    """Statements one by one, so a DEFINE applies to the statements after it."""
    out: list[ast.Statement] = []
    for piece in split_statements(text):
        for stmt in parse(piece, variables):
            if isinstance(stmt, ast.DefineVariable):
                variables = {**variables, stmt.name: stmt.value}
            out.append(stmt)
    return out


def split_statements(text: str) -> list[str]:
    """Split a script at top-level semicolons (outside quotes and comments)."""
    parts: list[str] = []
    buf: list[str] = []
    i, n = 0, len(text)
    quote: str | None = None
    while i < n:
        ch = text[i]
        if quote:
            buf.append(ch)
            if ch == quote:
                if i + 1 < n and text[i + 1] == quote:
                    buf.append(text[i + 1])
                    i += 1
                else:
                    quote = None
        elif ch in "'\"`":
            quote = ch
            buf.append(ch)
        elif text.startswith("--", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            buf.append(text[i:j])
            i = j
            continue
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            buf.append(text[i:j])
            i = j
            continue
        elif ch == ";":
            buf.append(ch)
            piece = "".join(buf)
            if piece.strip(" \t\r\n;"):
                parts.append(piece)
            buf = []
        else:
            buf.append(ch)
        i += 1
    rest = "".join(buf)
    if _strip_comments(rest).strip():
        parts.append(rest)
    return parts


def _strip_comments(s: str) -> str:
    return re.sub(r"--[^\n]*|/\*.*?\*/", "", s, flags=re.DOTALL)
