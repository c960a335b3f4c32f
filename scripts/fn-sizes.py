#!/usr/bin/env python3
"""Lines per function of Rust sources: `scripts/fn-sizes.py [DIR] [--over N]`.

Counts from the `fn` line to its closing brace (brace matching that skips string and char
literals and comments well enough for this code base). Used for the size figures of
ARCHITECTURE.md and closing notes.
"""
import os
import re
import sys

FN = re.compile(r'^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?fn\s+(\w+)')


def strip(line):
    out, i, n = [], 0, len(line)
    while i < n:
        c = line[i]
        if line.startswith('//', i):
            break
        if c == '"':
            i += 1
            while i < n and line[i] != '"':
                i += 2 if line[i] == '\\' else 1
            i += 1
            continue
        if c == "'" and i + 2 < n and (line[i + 2] == "'" or line[i + 1] == '\\'):
            j = line.find("'", i + 2)
            i = j + 1 if j > 0 else i + 1
            continue
        out.append(c)
        i += 1
    return ''.join(out)


def sizes(path):
    lines = open(path, encoding='utf-8').read().split('\n')
    res = []
    i = 0
    while i < len(lines):
        m = FN.match(lines[i])
        if not m:
            i += 1
            continue
        depth, started, j = 0, False, i
        while j < len(lines):
            s = strip(lines[j])
            if not started and ';' in s and '{' not in s:
                break
            depth += s.count('{') - s.count('}')
            started = started or '{' in s
            if started and depth <= 0:
                break
            j += 1
        res.append((j - i + 1, m.group(5), path, i + 1))
        i += 1
    return res


def main():
    args = sys.argv[1:]
    over = 0
    if '--over' in args:
        k = args.index('--over')
        over = int(args[k + 1])
        del args[k:k + 2]
    root = args[0] if args else 'src'
    allf = []
    for d, _, fs in os.walk(root):
        for f in fs:
            if f.endswith('.rs'):
                allf += sizes(os.path.join(d, f))
    allf.sort(reverse=True)
    for n, name, p, l in allf:
        if n > over:
            print(f'{n:5} {name} {p}:{l}')


main()
