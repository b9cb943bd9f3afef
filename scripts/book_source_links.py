#!/usr/bin/env python3
"""An mdBook preprocessor: links from the chapters to the crate's files work
inside the book too.

The chapters link to source as `../src/lessons/lesson04_batched_writer.rs`,
which is right on the repository page (lessons/ sits beside src/). In the
built book those links would point outside it. This preprocessor copies
every linked file into `lessons/source/` (ignored by git; mdBook then copies
it into the book with the other static files) and rewrites the link to
`source/...`. Markdown files outside the book (the README) are linked as
their text, under `source/` too, renamed `.txt` so that mdBook copies them
(and does not rewrite the link as a chapter's).

mdBook runs it from `lessons/book.toml`:

    [preprocessor.source-links]
    command = "python3 ../scripts/book_source_links.py"
"""

import json
import os
import re
import shutil
import sys

LINK = re.compile(r"(\]\()\.\./([^)\s#]+)(#[^)\s]*)?(\))")


def rewrite(text, repo, out):
    def one(match):
        target = match.group(2)
        path = os.path.normpath(os.path.join(repo, target))
        if not path.startswith(repo + os.sep) or not os.path.exists(path):
            return match.group(0)  # not a file of the crate: leave it alone
        if os.path.isdir(path):
            return match.group(0)
        name = target[: -len(".md")] + ".txt" if target.endswith(".md") else target
        copy = os.path.join(out, name)
        os.makedirs(os.path.dirname(copy), exist_ok=True)
        shutil.copyfile(path, copy)
        return f"{match.group(1)}source/{name}{match.group(3) or ''}{match.group(4)}"

    # lessons/README.md is the book's first page, which mdBook writes as index.html.
    text = re.sub(r"\]\(README\.md(#[^)\s]*)?\)", lambda m: f"](index.md{m.group(1) or ''})", text)
    return LINK.sub(one, text)


def walk(node, repo, out):
    if isinstance(node, dict):
        chapter = node.get("Chapter")
        if isinstance(chapter, dict) and isinstance(chapter.get("content"), str):
            chapter["content"] = rewrite(chapter["content"], repo, out)
        for value in node.values():
            walk(value, repo, out)
    elif isinstance(node, list):
        for value in node:
            walk(value, repo, out)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "supports":
        sys.exit(0)  # plain text rewriting suits every renderer
    context, book = json.load(sys.stdin)
    root = os.path.abspath(context["root"])  # lessons/
    repo = os.path.dirname(root)
    out = os.path.join(root, "source")
    shutil.rmtree(out, ignore_errors=True)
    walk(book, repo, out)
    json.dump(book, sys.stdout)


if __name__ == "__main__":
    main()
