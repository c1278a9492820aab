#!/usr/bin/env python3
"""Which modules of a crate use which (`crate::` paths), and whether any
two reach each other: a crate's floors, for review.

    python3 scripts/module_graph.py crates/core/src
"""
import glob
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "crates/core/src"
uses = {}
for path in glob.glob(os.path.join(root, "**", "*.rs"), recursive=True):
    top = os.path.relpath(path, root).split(os.sep)[0].removesuffix(".rs")
    if top in ("lib", "main"):
        continue
    # Tests may use any module: only what the code itself uses counts.
    text = re.sub(r"//.*", "", open(path).read().split("#[cfg(test)]")[0])
    uses.setdefault(top, set()).update(m for m in re.findall(r"crate::([a-z_0-9]+)", text) if m != top)
for module in sorted(uses):
    print(f"{module:16} -> {', '.join(sorted(uses[module]))}")

# Strongly connected components of more than one module are loops.
index, low, stack, on_stack, loops = {}, {}, [], set(), []
def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in uses.get(v, ()):
        if w not in uses:
            continue
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on_stack:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        component = []
        while True:
            w = stack.pop()
            on_stack.discard(w)
            component.append(w)
            if w == v:
                break
        if len(component) > 1:
            loops.append(component)
for v in list(uses):
    if v not in index:
        visit(v)
print("loops:", loops or "none")
sys.exit(1 if loops else 0)
