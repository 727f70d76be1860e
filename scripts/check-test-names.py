#!/usr/bin/env python3
"""Fails on a Catch test name that ctest or Catch cannot handle. Run by the
test suite.

- A ';' splits the name in ctest's test discovery: two names, neither
  matching a test, and "No tests ran" counts as a failure.
- Catch 2.13 indents the lines after a name's first line past its first
  ": " when it reports a failure; past its 79-column first line, that
  indent leaves no room: the report is garbage or the binary aborts
  (basic_string::substr out of range) instead of saying what failed.
"""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
case = re.compile(r'TEST_CASE\(((?:\s*"(?:[^"\\]|\\.)*")+)')
piece = re.compile(r'"((?:[^"\\]|\\.)*)"')
# The console is 80 columns; the name starts at column 0 of the header, and
# a few columns must remain for the lines after it.
latest_colon = 70

bad = []
count = 0
for path in sorted((root / "tests").rglob("*.cpp")):
    for m in case.finditer(path.read_text(encoding="utf-8")):
        name = "".join(piece.findall(m.group(1)))
        count += 1
        where = f"{path.relative_to(root)}: \"{name[:60]}...\""
        if ";" in name:
            bad.append(f"{where}: has a ';' (ctest splits the name there)")
        colon = name.find(": ")
        if colon > latest_colon:
            bad.append(f"{where}: its first ': ' is at column {colon}, past "
                       f"{latest_colon} (Catch cannot report its failure)")
for line in bad:
    print(line)
if bad:
    sys.exit(1)
print(f"test names: {count} fine")
