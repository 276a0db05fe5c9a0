"""Reading manifest files: multi-document YAML, JSON, ``kind: List``, directories and stdin.

Where this sits: the first step of the pipeline for operators and CI. ``load_documents`` turns files into
``Document``s, each remembering its file and position so that every later error can say where it came from
(``svc.yaml#2: spec.ports[1].port: ...``). ``kube.load_manifests`` and the CLI build on it. A syntax error, an
unreadable file or a document that is not a mapping is an ``InvalidSpecError`` like any other bad input.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from cloudlb.errors import InvalidSpecError
from cloudlb.fields import show

__all__ = ["MANIFEST_SUFFIXES", "STDIN", "Document", "load_documents", "parse_documents"]

STDIN = "-"
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

# libyaml's loader is several times faster; thousands of Services may be loaded at once.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class Document:
    """One manifest and where it came from.

    ``index`` is the 1-based position of the document in its file, counting empty documents, so that ``#3`` is
    the third ``---`` section. ``source`` is what errors print: ``svc.yaml#3``, or ``svc.yaml#3/items[0]`` for an
    item of a ``kind: List``.
    """

    body: Mapping[str, Any]
    file: str
    index: int
    source: str

    @property
    def kind(self) -> object:
        return self.body.get("kind")


def load_documents(paths: Iterable[str | Path], *, stdin: TextIO | None = None) -> list[Document]:
    """Every manifest in ``paths``, in order. ``-`` reads ``stdin`` (default ``sys.stdin``); a directory reads its
    ``*.yaml``, ``*.yml`` and ``*.json`` files in name order, not recursively."""
    if isinstance(paths, (str, Path)):
        paths = [paths]  # a lone path is a common slip; a str would otherwise be read letter by letter
    out: list[Document] = []
    for path in paths:
        for name, text in _read(path, stdin):
            out.extend(parse_documents(text, name))
    return out


def _read(path: str | Path, stdin: TextIO | None) -> Iterator[tuple[str, str]]:
    if str(path) == STDIN:
        yield "<stdin>", (stdin or sys.stdin).read()
        return
    path = Path(path)
    files = sorted(p for p in path.iterdir() if p.suffix in MANIFEST_SUFFIXES) if path.is_dir() else [path]
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise InvalidSpecError("", f"cannot read the file: {reason}", source=str(file)) from None
        yield str(file), text


def parse_documents(text: str, file: str = "<string>") -> list[Document]:
    """The manifests in ``text``: JSON when ``file`` ends in ``.json`` or the text starts with ``{``, else YAML."""
    is_json = file.endswith(".json") or text.lstrip().startswith("{")
    raw = _json_documents(text, file) if is_json else _yaml_documents(text, file)
    out: list[Document] = []
    for index, body in enumerate(raw, start=1):
        if body is not None:  # an empty document between two ``---``
            out.extend(_expand(body, file, index, f"{file}#{index}"))
    return out


def _yaml_documents(text: str, file: str) -> list[object]:
    docs: list[object] = []
    try:
        for doc in yaml.load_all(text, Loader=_Loader):
            docs.append(doc)
    except yaml.YAMLError as exc:
        source = f"{file}#{len(docs) + 1}"
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise InvalidSpecError("", f"invalid YAML: {problem}{where}", source=source) from None
    return docs


def _json_documents(text: str, file: str) -> list[object]:
    """One JSON value, or several concatenated, as ``kubectl`` accepts."""
    decoder = json.JSONDecoder()
    docs: list[object] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return docs
        try:
            doc, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            source = f"{file}#{len(docs) + 1}"
            raise InvalidSpecError(
                "", f"invalid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}", source=source
            ) from None
        except RecursionError:
            raise InvalidSpecError("", "invalid JSON: nested too deeply", source=f"{file}#{len(docs) + 1}") from None
        docs.append(doc)


def _expand(body: object, file: str, index: int, source: str) -> Iterator[Document]:
    if not isinstance(body, Mapping):
        raise InvalidSpecError("", f"a manifest must be a mapping, not {show(body)}", source=source)
    if body.get("kind") != "List":
        yield Document(body, file, index, source)
        return
    items = body.get("items")
    if items is None:
        return
    if not isinstance(items, (list, tuple)):
        raise InvalidSpecError("items", f"must be a list, not {show(items)}", source=source)
    for i, item in enumerate(items):
        yield from _expand(item, file, index, f"{source}/items[{i}]")
