#!/usr/bin/env python3
"""check_layers.py SRC_DIR — the layering of src/ holds: no file calls a
parc_/parc__ function defined in a file of a later layer (DESIGN.md section
4). The layers are read from the comment at the top of src/parc_internal.h,
so that list is the one source. Exit 1 with each upward call named."""
import os
import re
import sys

src = sys.argv[1] if len(sys.argv) > 1 else "src"
header = open(os.path.join(src, "parc_internal.h")).read()
essay = header[: header.index("*/")]
layer, current = {}, None
for line in essay.splitlines():
    m = re.match(r"\s*\*\s+(\d+)\.\s", line)
    if m:
        current = int(m.group(1))
    if current is not None:
        for name in re.findall(r"\b[a-z_0-9]+\.c\b", line):
            layer.setdefault(name, current)
# Inline functions of parc_internal.h belong to the layer their section says.
inline = {"parc__tasks_run": "task.c", "parc__job_claim": "job.c",
          "parc__job_chunk_size": "job.c", "parc__job_canceled": "job.c",
          "parc__completion_ok": "completion.c", "parc__completion_status_at": "completion.c"}
files = sorted(f for f in os.listdir(src) if f.endswith(".c"))
missing = [f for f in files if f not in layer]
if missing:
    print("check_layers: not in parc_internal.h's list of layers:", ", ".join(missing))
    sys.exit(1)
definition = re.compile(r"^[A-Za-z_][^\n;=]*?\b(parc_[a-z0-9_]+)\([^;{]*\{", re.M)
defined, text = dict(inline), {}
for f in files:
    body = re.sub(r"/\*.*?\*/", "", open(os.path.join(src, f)).read(), flags=re.S)
    text[f] = body
    for m in definition.finditer(body):
        defined.setdefault(m.group(1), f)
upward = []
for f in files:
    for name in sorted(set(re.findall(r"\b(parc_[a-z0-9_]+)\s*\(", text[f]))):
        home = defined.get(name)
        if home and home != f and layer[home] > layer[f]:
            upward.append(f"{f} (layer {layer[f]}) calls {name} of {home} (layer {layer[home]})")
for u in upward:
    print("check_layers: upward call:", u)
print(f"check_layers: {len(files)} files, {len(defined)} functions, {len(upward)} upward calls")
sys.exit(1 if upward else 0)
