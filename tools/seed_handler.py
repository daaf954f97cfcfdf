"""The seed article's handler, read out of the article when needed.

The project never carries a copy of the article's code: tests and benchmarks that
must run "the article's handler, unmodified" extract it from
../shared/seed/serverless-ml-inference-onnx-cpu.txt (or $KILN_SEED_ARTICLE) at run
time with extract_handler().
"""
import ast
import os
from pathlib import Path

ARTICLE = "serverless-ml-inference-onnx-cpu.txt"
REPO = Path(__file__).resolve().parents[1]


def article_path():
    """The article's path, or None when it is not on this machine."""
    candidates = [os.environ.get("KILN_SEED_ARTICLE"), REPO.parent / "shared/seed" / ARTICLE]
    for candidate in filter(None, candidates):
        if Path(candidate).is_file():
            return Path(candidate)
    return None


def extract_handler(text):
    """The article's code block: from the line `import os` to the end of the statement
    that completes handler()'s final `return`. The block is plain text in prose, so
    grow it a line at a time until it parses with handler() ending in a return."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "import os")
    for end in range(start + 1, len(lines) + 1):
        code = "\n".join(lines[start:end]) + "\n"
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        handlers = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "handler"]
        if handlers and isinstance(handlers[0].body[-1], ast.Return):
            return code
    raise ValueError("no complete handler() after `import os` in the article")


def seed_handler_source():
    path = article_path()
    if path is None:
        raise FileNotFoundError(f"the seed article is not at {REPO.parent / 'shared/seed' / ARTICLE} "
                                "(set KILN_SEED_ARTICLE)")
    return extract_handler(path.read_text())
