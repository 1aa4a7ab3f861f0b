#!/usr/bin/env python3
"""Regenerates the fuzz seed corpora fuzz/seeds/<target>/ from the shared wire vectors.

- testserver_frame: one client frame per distinct structure (send, send_text, send_binary) of the
  TCM conversations, compact JSON as sent on the wire; large padded frames are left out.
- server_frame: every frame of tcm/server-frames.json and every server frame (expect,
  expect_unordered, expect_text) of tcm/conversations/*.json, compact JSON, deduplicated.
- jsonrpc: every frame of tellurio/*.json (both directions), compact JSON, deduplicated; plus one
  operation script per Tellurio conversation (`rpc-<name>`), encoded for the target's
  structured pass.
- connection: operation scripts encoded in the target's input format (fuzz/src/connection.rs):
  one per TCM conversation that sends requests (`conv-<name>`: its requests, its server frames
  rewritten to the harness's uuid and tags, its closes and waits), a few hand-made scenarios
  (`scenario-<name>`), and a few small random files (`random-<n>`).

The structured inputs are decoded with the `arbitrary` crate: an enum variant is a little-endian
u32 `x` choosing variant `(x * count) >> 32`; integers are little-endian; a bool is one byte
(odd = true); an Option is a bool then the value; the harness's own string types are a length
prefix (u8 for Short, little-endian u16 for Text) followed by the bytes. Keep the variant lists
below in the order of the Rust enums.

Usage:
    python3 scripts/fuzz-seeds.py [VECTORS_DIR]
"""

import glob
import hashlib
import json
import os
import random
import struct
import sys

repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
vectors = sys.argv[1] if len(sys.argv) > 1 else os.path.join(repo, "..", "shared", "vectors")
conv_dir = os.path.join(vectors, "tcm", "conversations")
seeds_dir = os.path.join(repo, "fuzz", "seeds")
MAX_SEED = 8192


def compact(v):
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def conversations(directory):
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        yield os.path.basename(path)[: -len(".json")], load(path)


def write_seeds(target, seeds):
    """seeds: dict name -> bytes. Replaces the target's directory contents."""
    out = os.path.join(seeds_dir, target)
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(out):
        os.remove(os.path.join(out, name))
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    size = sum(len(d) for d in seeds.values())
    print(f"{target}: {len(seeds)} seeds, {size} bytes")


def digest_name(data):
    return hashlib.sha1(data).hexdigest()[:16]


def add_text(seeds, text):
    data = text.encode("utf-8")
    if len(data) <= MAX_SEED:
        seeds.setdefault(digest_name(data), data)


# ----- testserver_frame ----------------------------------------------------------------------


def skeleton(v):
    if isinstance(v, dict):
        return {k: skeleton(x) for k, x in sorted(v.items())}
    if isinstance(v, list):
        return [skeleton(x) for x in v[:2]]
    if isinstance(v, str) and v in ("auth", "info", "management", "inference", "http", "grpc"):
        return v
    return type(v).__name__


def testserver_frame_seeds():
    seen = {}
    for _, conv in conversations(conv_dir):
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
    return {digest_name(t.encode("utf-8")): t.encode("utf-8") for t in seen.values()}


# ----- server_frame and jsonrpc: frames as text ---------------------------------------------


def server_frames(step):
    """The server → client frames of one step, as text."""
    out = []
    if "expect" in step:
        out.append(compact(step["expect"]))
    for item in step.get("expect_unordered", []):
        if isinstance(item, dict) and set(item) == {"$optional"}:
            item = item["$optional"]
        out.append(compact(item))
    if "expect_text" in step:
        out.append(step["expect_text"])
    return out


def server_frame_seeds():
    seeds = {}
    for entry in load(os.path.join(vectors, "tcm", "server-frames.json"))["frames"]:
        add_text(seeds, compact(entry["frame"]))
    for _, conv in conversations(conv_dir):
        for step in conv["steps"]:
            for text in server_frames(step):
                add_text(seeds, text)
    return seeds


def tellurio_frame_seeds():
    seeds = {}
    for _, conv in conversations(os.path.join(vectors, "tellurio")):
        for step in conv["steps"]:
            for text in server_frames(step):
                add_text(seeds, text)
            if "send" in step:
                add_text(seeds, compact(step["send"]))
            for key in ("send_text", "send_binary"):
                if key in step:
                    add_text(seeds, step[key])
    return seeds


# ----- the arbitrary encoding ----------------------------------------------------------------


def variant(index, count):
    assert 0 <= index < count
    x = (index * (1 << 32) + count - 1) // count
    assert (x * count) >> 32 == index
    return struct.pack("<I", x)


def u8(v):
    return struct.pack("<B", v & 0xFF)


def u16(v):
    return struct.pack("<H", v)


def u32(v):
    return struct.pack("<I", v)


def i16(v):
    return struct.pack("<h", v)


def i32(v):
    return struct.pack("<i", v)


def boolean(b):
    return b"\x01" if b else b"\x00"


def option(value, encode):
    return b"\x00" if value is None else b"\x01" + encode(value)


def short(s):
    data = s.encode("utf-8")[:255]
    return u8(len(data)) + data


def text(s):
    data = s.encode("utf-8")[:8192]
    return u16(len(data)) + data


# ----- connection scripts (fuzz/src/connection.rs) -------------------------------------------

OPS = [
    "Info", "Management", "Inference", "Cancel", "Text", "AuthOk", "InfoResponse",
    "ManagementReply", "InferenceFrame", "Error", "Alert", "Pong", "Closed", "Advance",
    "Connected", "ConnectFailed", "Ready", "Close",
]


def op(name, body=b""):
    return variant(OPS.index(name), len(OPS)) + body


def setup(caps="json", keepalive=True, reconnect=True, exact=True, small=False, seed=0):
    caps_index = ["json", "json_shm", "legacy"].index(caps)
    return (variant(caps_index, 3) + boolean(keepalive) + boolean(reconnect) + boolean(exact)
            + boolean(small) + u8(seed))


def info(action="queue_stats", timeout_ms=None):
    if action == "queue_stats":
        a = variant(0, 3)
    elif action == "models":
        a = variant(1, 3)
    else:
        a = variant(2, 3) + short(action)
    return op("Info", a + option(timeout_ms, u32))


def management(action, timeout_ms=None):
    return op("Management", short(action) + option(timeout_ms, u32))


def inference(grpc=False, shm=False, values=1, model=True, timeout_ms=None):
    return op("Inference", boolean(grpc) + boolean(shm) + u16(values) + boolean(model)
              + option(timeout_ms, u32))


def frame_text(s):
    return op("Text", text(s))


def advance(ms):
    return op("Advance", u32(ms))


def closed(code, reason=""):
    return op("Closed", option(code, u16) + short(reason))


def tag_issued(pick, swap=False):
    return variant(0, 5) + u8(pick) + boolean(swap)


def kind(index):
    """KindChoice: info, management, inference."""
    return variant(index, 4)


def data_outputs(count=1, first=1):
    return variant(3, 7) + option(None, short) + u8(count) + i16(first)


def inference_frame(status, data=None, model=None):
    statuses = ["START", "ONGOING", "COMPLETED", "FAILED"]
    body = variant(0, 3)  # the current uuid
    body += variant(statuses.index(status), 6)
    body += data if data is not None else variant(0, 7)
    body += option(model, short)
    return op("InferenceFrame", body)


HARNESS_UUID = "fuzz"  # exact_first_uuid: the first connection authenticates as the base uuid


def rewrite(frame, tags):
    """Points a recorded server frame at the harness's connection and requests."""
    if not isinstance(frame, dict):
        return frame
    frame = json.loads(json.dumps(frame))
    if "uuid" in frame:
        frame["uuid"] = HARNESS_UUID
    payload = frame.get("payload")
    if isinstance(payload, dict) and "job_id" in payload:
        payload["job_id"] = tags.get(("j", compact(payload["job_id"])), payload["job_id"])
    if "request_id" in frame:
        frame["request_id"] = tags.get(("m", compact(frame["request_id"])), frame["request_id"])
    return frame


def conversation_script(conv):
    """Replays a TCM conversation's first connection against the harness; None if it sends no
    request."""
    caps = "json"
    ops = []
    tags = {}
    next_id = 1
    requests = 0
    for step in conv["steps"]:
        if step.get("conn", "c1") != "c1":
            continue
        if "send" in step and isinstance(step["send"], dict):
            s = step["send"]
            kind = s.get("type")
            payload = s.get("payload") if isinstance(s.get("payload"), dict) else {}
            if kind == "auth":
                cap = payload.get("capability")
                if isinstance(cap, list) and "shm" in cap:
                    caps = "json_shm"
                elif cap is None:
                    caps = "legacy"
                continue
            if kind == "info":
                action = payload.get("action")
                ops.append(info(action if isinstance(action, str) else "models"))
                if "job_id" in payload:
                    tags[("j", compact(payload["job_id"]))] = f"j{next_id}"
            elif kind == "management":
                action = payload.get("action")
                ops.append(management(action if isinstance(action, str) else "creation"))
                if "request_id" in s:
                    tags[("m", compact(s["request_id"]))] = f"m{next_id}"
            elif kind == "inference":
                request = payload.get("request") if isinstance(payload.get("request"), dict) else {}
                grpc = request.get("protocol") == "grpc"
                shm = "shm_key" in compact(request)
                ops.append(inference(grpc=grpc, shm=shm, model="model_name" in payload))
            else:
                continue
            next_id += 1
            requests += 1
        for f in server_frames(step):
            try:
                f = compact(rewrite(json.loads(f), tags))
            except ValueError:
                pass
            ops.append(frame_text(f))
        if "expect_close" in step:
            ops.append(closed(step["expect_close"]))
        for key in ("wait_ms", "expect_silence_ms"):
            if key in step:
                ops.append(advance(int(step[key])))
    if requests == 0:
        return None
    # Connect, then the recorded frames (auth.ok among them).
    return setup(caps=caps) + op("Connected") + b"".join(ops)


def connection_seeds():
    seeds = {}
    for name, conv in conversations(conv_dir):
        script = conversation_script(conv)
        if script is not None and len(script) <= MAX_SEED:
            seeds[f"conv-{name}"] = script

    auth_ok = op("AuthOk", variant(1, 4))  # echo the requested capabilities
    seeds["scenario-grpc-stream"] = (
        setup() + op("Connected") + auth_ok + inference(grpc=True)
        + inference_frame("START") + inference_frame("ONGOING", variant(1, 7) + short("tok0 "))
        + inference_frame("ONGOING", variant(1, 7) + short("tok1 "))
        + inference_frame("COMPLETED", model="stream") + info("queue_stats")
        + op("InfoResponse", tag_issued(1) + boolean(True) + variant(4, 7) + u32(3) + boolean(False))
    )
    seeds["scenario-http-and-late-reply"] = (
        setup() + op("Connected") + auth_ok + inference(timeout_ms=50) + inference()
        + advance(100) + inference_frame("COMPLETED", data_outputs(), model="identity")
        + inference_frame("FAILED", variant(5, 7) + variant(0, 2) + u8(7) + short("n")
                          + boolean(True) + option(4, i16))
        + op("Cancel", u8(1))
    )
    seeds["scenario-queue-full-and-timeouts"] = (
        setup(small=True) + op("Connected") + auth_ok
        + b"".join(info("models") for _ in range(14)) + b"".join(management("creation") for _ in range(10))
        + inference(values=1000) + advance(3_600_000)
    )
    seeds["scenario-shm-capability"] = (
        setup(caps="json_shm") + op("Connected")
        + op("AuthOk", variant(2, 4) + u8(1) + short("json")) + inference(shm=True)
        + op("Closed", option(1012, u16) + short("restart")) + advance(30_000) + op("Ready", boolean(True))
        + op("Connected") + op("AuthOk", variant(0, 4)) + inference(shm=True)
    )
    seeds["scenario-drops-and-shutdown"] = (
        setup(exact=False, seed=7) + op("Connected") + auth_ok + info("models") + management("creation")
        # BACKPRESSURE_EXECUTOR_FULL dropping an info; Forbidden management; SYSTEM_SHUTDOWN.
        + op("Error", variant(1, 4) + u8(1) + variant(1, 4) + short("full") + option(0, kind) + option(None, kind))
        + op("Error", variant(0, 4) + variant(0, 4) + kind(1) + option(None, kind) + option(None, kind))
        + op("Error", variant(1, 4) + u8(4) + variant(1, 4) + short("shutting down")
             + option(None, kind) + option(None, kind))
        + op("Pong") + advance(60_000) + op("ConnectFailed") + advance(60_000) + op("Close")
    )
    seeds["scenario-auth-timeout-keepalive"] = (
        setup(reconnect=False) + op("Connected") + info() + advance(11_000) + info()
        + op("Alert", short("TritonServerStateChanged") + short("m") + option(8, u32))
    )

    rng = random.Random(20261122)
    for i, size in enumerate([16, 48, 96, 160, 256, 512]):
        seeds[f"random-{i}"] = bytes(rng.randrange(256) for _ in range(size))
    return seeds


# ----- jsonrpc scripts (fuzz/src/jsonrpc.rs) -------------------------------------------------

RPC_OPS = [
    "Call", "Text", "Response", "Heartbeat", "ServerRequest", "Notification", "OrphanError",
    "SessionFrame", "Respond", "Advance", "Pong", "Closed", "Connected", "ConnectFailed",
    "Rejected", "SetRun", "Close",
]


def rpc_op(name, body=b""):
    return variant(RPC_OPS.index(name), len(RPC_OPS)) + body


def rpc_setup(keepalive=True, reconnect=True, run=True, seed=0):
    return boolean(keepalive) + boolean(reconnect) + boolean(run) + u8(seed)


def ref_name(v):
    if isinstance(v, str) and v.startswith("<ref:") and v.endswith(">"):
        return v[len("<ref:"):-1]
    return None


def rpc_script(conv):
    ops = [rpc_op("Connected")]
    labels = {}
    sent = 0
    for step in conv["steps"]:
        if "expect_status" in step:
            ops.append(rpc_op("Rejected", u16(step["expect_status"])))
            continue
        if "send" in step and isinstance(step["send"], dict):
            s = step["send"]
            if "method" in s:
                ops.append(rpc_op("Call", variant(2, 3) + short(s["method"]) + option(None, u32)))
                if isinstance(s.get("id"), str) and s["id"].startswith("<uuid4:"):
                    labels[s["id"][len("<uuid4:"):-1]] = sent
                sent += 1
            else:
                # The client's reply to a server request: answer the oldest open one.
                ops.append(rpc_op("Respond", u8(0) + option(None, bytes) + boolean("result" in s)))
        for f in server_frames(step):
            try:
                v = json.loads(f)
            except ValueError:
                ops.append(rpc_op("Text", text(f)))
                continue
            target = None
            if isinstance(v, dict):
                target = ref_name(v.get("id"))
                params = v.get("params") if isinstance(v.get("params"), dict) else {}
                if target is None and v.get("method") == "heartbeat":
                    name = ref_name(params.get("id"))
                    if name in labels:
                        ops.append(rpc_op("Heartbeat", variant(0, 4) + u8(labels[name])
                                          + option(None, bytes)))
                        continue
            if target in labels:
                wire = variant(0, 4) + u8(labels[target])
                if "error" in v and isinstance(v["error"], dict):
                    e = v["error"]
                    body = (variant(1, 5) + i32(int(e.get("code", -32603))) + short(str(e.get("message", "")))
                            + option(None, short))
                elif "result" in v:
                    body = variant(0, 5) + short(compact(v["result"])[:255])
                else:
                    body = variant(4, 5)
                ops.append(rpc_op("Response", wire + boolean(v.get("jsonrpc") == "2.0") + body))
            elif isinstance(v, dict) and "result" in v and "id" not in v:
                ops.append(rpc_op("SessionFrame", variant(0, 4) + short("s")))
            else:
                ops.append(rpc_op("Text", text(f)))
        if "wait_ms" in step:
            ops.append(rpc_op("Advance", u32(int(step["wait_ms"]))))
        if "expect_close" in step:
            ops.append(rpc_op("Closed", option(step["expect_close"], u16)))
    return rpc_setup() + b"".join(ops)


def jsonrpc_seeds():
    seeds = tellurio_frame_seeds()
    for name, conv in conversations(os.path.join(vectors, "tellurio")):
        script = rpc_script(conv)
        if len(script) <= MAX_SEED:
            seeds[f"rpc-{name}"] = script
    return seeds


def connection_regressions():
    """Inputs that once broke a property of tcm-proto, kept as seeds so CI replays them."""
    drop_info = op("Text", text(compact({"type": "error", "payload": {
        "code": "BACKPRESSURE_QUEUE_FULL",
        "message": "Request dropped due to backpressure (per-user queue full).",
        "dropped_type": "info"}})))
    # Four infos in flight (max_info_in_flight) and eight queued (max_queued). Each round the
    # server drops the four in flight and four more are requested: requests waiting for a
    # retry must count against the lane's queue bound, or live requests grow without bound.
    script = setup() + op("Connected") + op("AuthOk", variant(1, 4))
    script += b"".join(info("models") for _ in range(12))
    for _ in range(5):
        script += drop_info * 4 + b"".join(info("models") for _ in range(4))
    return {"retry-wait-outside-queue-bound": script}


write_seeds("testserver_frame", testserver_frame_seeds())
write_seeds("server_frame", server_frame_seeds())
write_seeds("connection", {**connection_seeds(), **connection_regressions()})
write_seeds("jsonrpc", jsonrpc_seeds())
