#!/usr/bin/env python3
"""Checks the built book (lessons/book/): every local link and image in every
page resolves to a file of the book, every `#fragment` names an id on its
target page, and every ```mermaid block became a diagram. Exits 1 and lists
what is broken. Run by scripts/book.sh after `mdbook build lessons`."""

import html.parser
import os
import sys
import urllib.parse

BOOK = sys.argv[1] if len(sys.argv) > 1 else "lessons/book"


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids, self.mermaid, self.mermaid_code = [], set(), 0, 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        for key in ("href", "src"):
            if attrs.get(key):
                self.links.append(attrs[key])
        classes = (attrs.get("class") or "").split()
        if tag == "pre" and "mermaid" in classes:
            self.mermaid += 1
        if tag == "code" and "language-mermaid" in classes:
            self.mermaid_code += 1  # a diagram left as code: the preprocessor did not run


def parse(path):
    page = Page()
    with open(path, encoding="utf-8") as f:
        page.feed(f.read())
    return page


def main():
    pages = {}
    for folder, _, files in os.walk(BOOK):
        for name in files:
            if name.endswith(".html"):
                path = os.path.join(folder, name)
                pages[os.path.normpath(path)] = parse(path)
    problems, diagrams = [], 0
    for path, page in sorted(pages.items()):
        diagrams += page.mermaid
        if page.mermaid_code:
            problems.append(f"{path}: {page.mermaid_code} mermaid block(s) left as code")
        for link in page.links:
            url = urllib.parse.urlparse(link)
            if url.scheme or link.startswith("//") or link.startswith("mailto:"):
                continue
            target = path if not url.path else os.path.normpath(
                os.path.join(os.path.dirname(path), urllib.parse.unquote(url.path)))
            if not os.path.exists(target):
                problems.append(f"{path}: broken link {link}")
                continue
            fragment = urllib.parse.unquote(url.fragment)
            if fragment and target.endswith(".html") and target in pages:
                if fragment not in pages[target].ids:
                    problems.append(f"{path}: {link}: no id '{fragment}' on that page")
    for problem in problems:
        print(problem)
    print(f"{len(pages)} pages, {diagrams} diagrams, {len(problems)} broken")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
