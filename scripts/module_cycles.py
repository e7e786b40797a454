#!/usr/bin/env python3
"""Lists import cycles among sibling modules of each crate under crates/ and exits 1 when there
is one (scripts/test.sh runs it).

A module depends on a sibling when its source names it: `use super::x`, `super::x::...`,
`crate::a::x` (from inside `a`), or `self::x` in a `mod.rs`/`lib.rs` file for its children.
Calls of methods defined in another module's `impl` block are not imports and are not seen;
the service layer is layered by hand so that those follow the imports too (see
crates/zegel-core/src/service/mod.rs).

Usage: scripts/module_cycles.py [--verbose] [ROOT]
"""

import os
import re
import sys


def module_files(src):
    """Maps a module path (tuple of names, () for the crate root) to its file."""
    out = {}
    for dirpath, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), src)
            parts = rel[:-3].split(os.sep)
            if parts[-1] in ("lib", "main", "mod"):
                parts = parts[:-1]
            out[tuple(parts)] = os.path.join(dirpath, f)
    return out


def strip_comments(text):
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def sibling_refs(path, text, siblings):
    """Names of `siblings` (modules sharing `path`'s parent) that `path`'s source refers to."""
    parent = path[:-1]
    found = set()
    for m in re.finditer(r"\bsuper::\{([^}]*)\}", text):
        for name in re.split(r"[,\s]+", m.group(1)):
            name = name.split("::")[0]
            if name in siblings:
                found.add(name)
    for m in re.finditer(r"\bsuper::(\w+)", text):
        if m.group(1) in siblings:
            found.add(m.group(1))
    crate_prefix = "crate::" + "".join(p + "::" for p in parent)
    for m in re.finditer(re.escape(crate_prefix) + r"(\w+)", text):
        if m.group(1) in siblings:
            found.add(m.group(1))
    found.discard(path[-1])
    return found


def cycles(graph):
    """Every elementary cycle found by DFS (each reported once, by its smallest rotation)."""
    seen = set()
    result = []

    def dfs(start, node, stack, on_stack):
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                cyc = stack[:]
                i = cyc.index(min(cyc))
                key = tuple(cyc[i:] + cyc[:i])
                if key not in seen:
                    seen.add(key)
                    result.append(list(key))
            elif nxt not in on_stack and nxt > start:
                on_stack.add(nxt)
                stack.append(nxt)
                dfs(start, nxt, stack, on_stack)
                stack.pop()
                on_stack.discard(nxt)

    for start in sorted(graph):
        dfs(start, start, [start], {start})
    return result


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    verbose = "--verbose" in sys.argv
    root = args[0] if args else os.path.join(os.path.dirname(__file__), "..", "crates")
    total = 0
    for crate in sorted(os.listdir(root)):
        src = os.path.join(root, crate, "src")
        if not os.path.isdir(src):
            continue
        mods = module_files(src)
        by_parent = {}
        for path in mods:
            if path:
                by_parent.setdefault(path[:-1], set()).add(path[-1])
        for parent, names in sorted(by_parent.items()):
            graph = {}
            for name in names:
                path = parent + (name,)
                with open(mods[path], encoding="utf-8") as fh:
                    text = strip_comments(fh.read())
                graph[name] = sibling_refs(path, text, names)
            where = crate + ("::" + "::".join(parent) if parent else "")
            if verbose:
                for name in sorted(graph):
                    if graph[name]:
                        print(f"{where}: {name} -> {', '.join(sorted(graph[name]))}")
            for cyc in cycles(graph):
                total += 1
                print(f"cycle in {where}: {' -> '.join(cyc + [cyc[0]])}")
    print(f"{total} module cycle(s)")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
