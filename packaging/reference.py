#!/usr/bin/env python3
"""The configuration and profile reference, generated from the schemas.

Reads src/config/config.schema.json and profiles/profile.schema.json and
prints Markdown: one table per TOML table (key, type, default, description),
each nested table under its own heading (`[servers.NAME]`,
`[[policy.rules]]`, `[audit.sinks.NAME]`...). A profile section whose
definition is the same as config.toml's (`[policy]`, the audit sinks and
spool) is not repeated.

    python3 packaging/reference.py                   # print it
    python3 packaging/reference.py --splice README.md  # put it between the markers

packaging/regen.sh runs the second form; tests/e2e/reference.rs checks that
README.md holds exactly what the first prints. Python 3 standard library
only.
"""

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "src/config/config.schema.json"
PROFILE = ROOT / "profiles/profile.schema.json"
START = "<!-- reference:start -->"
END = "<!-- reference:end -->"
DEFS = "#/$defs/"


class Schema:
    def __init__(self, path):
        self.doc = json.loads(path.read_text(encoding="utf-8"))
        self.defs = self.doc.get("$defs", {})

    def resolve(self, node):
        """The node with its local `$ref` followed (the referring node's own
        keywords win), and the name of the definition it came from."""
        name = None
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith(DEFS):
                raise SystemExit(f"reference.py: only local $refs are supported, not {ref}")
            name = ref[len(DEFS):]
            merged = dict(self.defs[name])
            merged.update({k: v for k, v in node.items() if k != "$ref"})
            node = merged
        return node, name

    def map_values(self, node):
        """The schema of a map's values (an object keyed by any name), if
        `node` is a map."""
        if node.get("type") != "object" or "properties" in node:
            return None
        values = node.get("additionalProperties")
        if isinstance(values, dict):
            return values
        pattern = node.get("patternProperties") or {}
        if len(pattern) == 1:
            return next(iter(pattern.values()))
        return None

    def is_table(self, node):
        node, _ = self.resolve(node)
        return node.get("type") == "object" and "properties" in node


def placeholder(node):
    return (node.get("propertyNames") or {}).get("title", "NAME")


def toml_key(part):
    return part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else json.dumps(part)


def heading(path, array):
    dotted = ".".join(toml_key(p) for p in path)
    return f"[[{dotted}]]" if array else f"[{dotted}]"


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        if not v:
            return "{}"
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise SystemExit(f"reference.py: cannot write {v!r} as TOML")


def plural(kind):
    if kind.endswith(")") or "`" in kind:
        return kind
    return kind + "s"


def type_of(schema, node):
    node, _ = schema.resolve(node)
    if "enum" in node:
        return " \\| ".join(f"`{toml_value(v)}`" for v in node["enum"])
    if "title" in node:
        return node["title"]
    kind = node.get("type")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "object":
        if "properties" in node:
            return "table"
        values = schema.map_values(node)
        if values is None:
            return "table"
        if schema.is_table(values):
            return f"tables, one per {placeholder(node)}"
        return "table of " + plural(type_of(schema, values))
    if kind == "array":
        items = node.get("items")
        if items is None:
            return "array"
        if schema.is_table(items):
            return "array of tables"
        return "array of " + plural(type_of(schema, items))
    return kind or "any value"


def cell(text):
    return " ".join(text.split()).replace("|", "\\|")


class Writer:
    def __init__(self):
        self.lines = []
        # Definition name -> (its JSON, the heading it was written under).
        self.written = {}

    def out(self, line=""):
        self.lines.append(line)

    def section(self, schema, node, path, array, other=None):
        """Writes the table of `node` (a TOML table at `path`) and then each
        nested table. `other`: config.toml's writer state, for a profile."""
        node, _ = schema.resolve(node)
        rows = []
        nested = []
        required = set(node.get("required", []))
        for key, prop in node["properties"].items():
            resolved, name = schema.resolve(prop)
            desc = resolved.get("description", "")
            child = None
            if schema.is_table(prop):
                child = (prop, path + [key], False, name)
            else:
                values = schema.map_values(resolved)
                items = resolved.get("items") if resolved.get("type") == "array" else None
                if values is not None and schema.is_table(values):
                    child = (values, path + [key, placeholder(resolved)], False,
                             schema.resolve(values)[1])
                elif items is not None and schema.is_table(items):
                    child = (items, path + [key], True, schema.resolve(items)[1])
            if child is not None:
                same = self.same_as(schema, child[3], other)
                if same:
                    desc = f"{desc} Keys: as `{same}` in config.toml, above.".strip()
                else:
                    nested.append(child)
            default = f"`{toml_value(resolved['default'])}`" if "default" in resolved else ""
            name_cell = f"`{key}`" + (" (required)" if key in required else "")
            rows.append(f"| {name_cell} | {type_of(schema, prop)} | {default} | {cell(desc)} |")
        self.out("| key | type | default | description |")
        self.out("|---|---|---|---|")
        for r in rows:
            self.out(r)
        self.out()
        for child_node, child_path, child_array, def_name in nested:
            title = heading(child_path, child_array)
            if def_name is not None and other is None:
                self.written[def_name] = (schema.defs[def_name], title)
            self.out(f"#### `{title}`")
            self.out()
            resolved, _ = schema.resolve(child_node)
            if resolved.get("description"):
                self.out(cell(resolved["description"]))
                self.out()
            self.section(schema, child_node, child_path, child_array, other)

    def same_as(self, schema, def_name, other):
        """config.toml's heading for a profile definition identical to one
        written there."""
        if other is None or def_name is None or def_name not in other.written:
            return None
        config_def, title = other.written[def_name]
        return title if config_def == schema.defs.get(def_name) else None


def reference():
    config = Schema(CONFIG)
    profile = Schema(PROFILE)
    w = Writer()
    w.out("Value types used below:")
    w.out()
    seen = set()
    for d in list(config.defs.values()) + list(profile.defs.values()):
        if "title" in d and "enum" not in d and d["title"] not in seen:
            seen.add(d["title"])
            w.out(f"- **{d['title']}**: {cell(d['description'])}")
    w.out()
    w.out("### `config.toml`")
    w.out()
    w.out(cell(config.doc["description"]))
    w.out()
    w.section(config, config.doc, [], False)
    p = Writer()
    p.out("### Org profiles (`profile.toml`)")
    p.out()
    p.out(cell(profile.doc["description"]))
    p.out()
    p.section(profile, profile.doc, [], False, other=w)
    lines = w.lines + p.lines
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


def splice(path):
    text = Path(path).read_text(encoding="utf-8")
    start = text.find(START + "\n")
    end = text.find(END, start)
    if start < 0 or end < 0:
        raise SystemExit(f"reference.py: {path} has no {START} ... {END} markers")
    new = text[: start + len(START) + 1] + reference() + text[end:]
    if new != text:
        Path(path).write_text(new, encoding="utf-8")


def main(argv):
    if len(argv) == 2 and argv[0] == "--splice":
        splice(argv[1])
    elif not argv:
        sys.stdout.write(reference())
    else:
        raise SystemExit("usage: reference.py [--splice README.md]")


if __name__ == "__main__":
    main(sys.argv[1:])
