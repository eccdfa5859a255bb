#!/usr/bin/env python3
"""Lists the functions of C and C++ files that are longer than a limit.

    scripts/function_lengths.py [--max N] FILE...     (default N: 80)

A function's length is the number of lines of its body, from the line of its
opening brace to the line of its closing one. The scan is lexical (comments,
strings and character literals are skipped, braces counted), which is enough
for clang-formatted code: a brace opens a function when the text before it at
namespace or class scope ends with a parameter list (and perhaps qualifiers,
a trailing return type or a constructor's initializers). Lambdas and nested
blocks count with the function that holds them.

A function may be longer when its body is a flat table: put
`// function_lengths: table` on the line before it. Exits 1 if any function
is over the limit.
"""
import argparse
import re
import sys

SCOPE_WORDS = re.compile(r"\b(namespace|class|struct|union|enum)\b|extern\s+\"C\"")
CONTROL = re.compile(r"\b(if|for|while|switch|catch|do|else|return)\b")


def strip(text):
    """Blanks comments, strings and char literals, keeping newlines."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == 'R' and text.startswith('R"', i) and (i == 0 or not text[i - 1].isalnum()):
            m = re.match(r'R"([^(]*)\(', text[i:])
            if not m:
                out.append(c)
                i += 1
                continue
            end = ")" + m.group(1) + '"'
            j = text.find(end, i + m.end())
            j = n if j < 0 else j + len(end)
            out.append('""' + re.sub(r"[^\n]", " ", text[i + 2:j]))
            i = j
        elif c == "'" and i > 0 and text[i - 1].isalnum() and text[i + 1:i + 2].isalnum():
            out.append(c)  # a digit separator: 1'000'000
            i += 1
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1:j]) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def functions(text):
    """Yields (name, first_line, last_line) of each function body."""
    s = strip(text)
    stack = []  # per open brace: "scope", "func" or "block"
    start = 0   # where the text before the next brace begins
    line = 1
    func_start = None
    func_name = ""
    for i, c in enumerate(s):
        if c == "\n":
            line += 1
        elif c in ";":
            if not stack or stack[-1] == "scope":
                start = i + 1
        elif c == "{":
            before = s[start:i]
            kind = "block"
            if not stack or stack[-1] == "scope":
                head = " ".join(before.split())
                if SCOPE_WORDS.search(head) and "(" not in head.split("{")[-1].split("=")[0]:
                    kind = "scope"
                elif re.search(r"\)\s*(const|override|final|noexcept|volatile|&|\s|->\s*[\w:<>,\s\*&]+)*$", head) \
                        or re.search(r"\)\s*(noexcept\s*)?:\s*.*\)$", head) or re.search(r"\)\s*:\s*[\w:]+\{.*\}$", head):
                    if not CONTROL.match(head) and not head.rstrip().endswith("= )"):
                        kind = "func"
                        m = re.search(r"([~\w:]+(?:operator\S*)?)\s*\(", head)
                        func_name = m.group(1) if m else head[:40]
                        func_start = line
                elif re.search(r"\)\s*:", head):
                    kind = "func"
                    m = re.search(r"([~\w:]+)\s*\(", head)
                    func_name = m.group(1) if m else head[:40]
                    func_start = line
            stack.append(kind)
        elif c == "}":
            kind = stack.pop() if stack else "scope"
            if kind == "func":
                yield func_name, func_start, line
            if not stack or stack[-1] == "scope":
                start = i + 1
    return


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max", type=int, default=80)
    ap.add_argument("--all", action="store_true", help="list every function with its length")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    over = 0
    for path in a.files:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        lines = text.split("\n")
        for name, first, last in functions(text):
            n = last - first + 1
            marker = first >= 2 and "function_lengths: table" in lines[first - 2] + (
                lines[first - 3] if first >= 3 else "")
            if a.all or (n > a.max and not marker):
                print(f"{path}:{first}: {name}: {n} lines")
            if n > a.max and not marker:
                over += 1
    if over and not a.all:
        print(f"{over} function(s) over {a.max} lines", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
