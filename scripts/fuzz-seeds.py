#!/usr/bin/env python3
"""Regenerates fuzz/seeds/testserver_frame/ from the recorded TCM conversations.

One client frame per distinct structure (send, send_text, send_binary) of the vectors becomes one seed
file, compact JSON as sent on the wire; large padded frames are left out. Usage:
    python3 scripts/fuzz-seeds.py [VECTORS_DIR]
"""

import hashlib
import json
import os
import sys

repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
vectors = sys.argv[1] if len(sys.argv) > 1 else os.path.join(repo, "..", "shared", "vectors")
conv_dir = os.path.join(vectors, "tcm", "conversations")
out_dir = os.path.join(repo, "fuzz", "seeds", "testserver_frame")
os.makedirs(out_dir, exist_ok=True)

def skeleton(v):
    if isinstance(v, dict):
        return {k: skeleton(x) for k, x in sorted(v.items())}
    if isinstance(v, list):
        return [skeleton(x) for x in v[:2]]
    if isinstance(v, str) and v in ("auth", "info", "management", "inference", "http", "grpc"):
        return v
    return type(v).__name__


seen = {}
for name in sorted(os.listdir(conv_dir)):
    if not name.endswith(".json"):
        continue
    with open(os.path.join(conv_dir, name), encoding="utf-8") as f:
        conv = json.load(f)
    for step in conv["steps"]:
        if "send" in step:
            text = json.dumps(step["send"], separators=(",", ":"))
        elif "send_text" in step:
            text = step["send_text"]
        elif "send_binary" in step:
            text = step["send_binary"]
        else:
            continue
        if len(text) > 4096:
            continue
        # Frames with the same structure (keys and leaf types) collapse into one seed.
        key = json.dumps(skeleton(step["send"])) if "send" in step else text
        seen.setdefault(key, text)

for text in seen.values():
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]
    with open(os.path.join(out_dir, digest), "w", encoding="utf-8") as f:
        f.write(text)
print(f"{len(seen)} seeds in {out_dir}")
