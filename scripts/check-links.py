#!/usr/bin/env python3
"""Every relative link of the Markdown pages (README, CONTRIBUTING, docs/)
leads to a file that exists, and every #anchor to a heading of its page.
CI runs it: pages that move keep their links true.

    python3 scripts/check-links.py
"""
import glob
import os
import re
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pages = [os.path.join(root, p) for p in ["README.md", "CONTRIBUTING.md"]]
pages += glob.glob(os.path.join(root, "docs", "**", "*.md"), recursive=True)


def anchors(path):
    """GitHub's anchors of a page's headings."""
    text = re.sub(r"```.*?```", "", open(path).read(), flags=re.S)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
            for h in re.findall(r"^#+ (.*)$", text, flags=re.M)}


broken = []
for page in pages:
    text = re.sub(r"```.*?```", "", open(page).read(), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # a URL
        path, _, anchor = target.partition("#")
        file = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
        if not os.path.exists(file):
            broken.append(f"{os.path.relpath(page, root)}: {target}: no such file")
        elif anchor and file.endswith(".md") and anchor not in anchors(file):
            broken.append(f"{os.path.relpath(page, root)}: {target}: no such heading")
print("\n".join(broken) or f"{len(pages)} pages, every link leads somewhere")
sys.exit(1 if broken else 0)
