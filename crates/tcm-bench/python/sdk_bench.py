"""Measures the official Python SDK (tcm-client) for tcm-bench.

Usage:
  sdk_bench.py lockstep URL SECONDS   -> {"ops": N, "wall": S, "cpu": S}
  sdk_bench.py identity URL REPEATS [image|distinct]
                                      -> {"encode": [[WALL, CPU], ...], "call": [[WALL, CPU], ...]}

Every figure is in seconds; CPU is this process's CPU time (`time.process_time()`, all threads)
over exactly the timed stretch, so that it compares with the process CPU clock of tcm-bench.

`lockstep` makes `info_queue_stats` calls one after the other for SECONDS (the SDK sends a
request and then waits for its reply; it has no way to keep several in flight on one socket).

`identity` makes REPEATS identity inferences of one 1x3x224x224 FP32 tensor (an image of 8-bit
pixels normalised per channel, or values that nearly never repeat). `encode` times the
SDK's own path from the call to `inference_http` until its frame has been written to the socket
(model validation, dumping, json.dumps and the send); `call` times the whole call, reply
included.
"""

import asyncio
import json
import struct
import sys
import time

from tcm_client.sdk import AuthContext, InferenceInput, TcmWebSocketClient


def clocks() -> tuple:
    return time.perf_counter(), time.process_time()


async def lockstep(url: str, seconds: float) -> dict:
    ctx = AuthContext(uuid=f"sdk-bench-{time.monotonic_ns()}")
    async with TcmWebSocketClient(url, ctx) as client:
        await client.auth()
        for _ in range(100):
            await client.info_queue_stats()
        ops = 0
        wall0, cpu0 = clocks()
        deadline = wall0 + seconds
        while time.perf_counter() < deadline:
            await client.info_queue_stats()
            ops += 1
        wall1, cpu1 = clocks()
        return {"ops": ops, "wall": wall1 - wall0, "cpu": cpu1 - cpu0}


def values(kind: str) -> list:
    """The 1x3x224x224 values tcm-bench's `Values` makes: an image of 8-bit pixels normalised
    per channel (`image`), or values that nearly never repeat (`distinct`), rounded to FP32."""
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    plane = 224 * 224
    flat = []
    for i in range(3 * plane):
        h = (i * 2654435761) & 0xFFFFFFFF
        if kind == "image":
            c = i // plane
            v = (f32(h >> 24) / 255.0 - mean[c]) / std[c]
        else:
            v = (h >> 8) / float(1 << 23) - 1.0
        flat.append(f32(v))
    return [[[flat[c * plane + y * 224:c * plane + (y + 1) * 224] for y in range(224)]
             for c in range(3)]]


def f32(v: float) -> float:
    return struct.unpack("f", struct.pack("f", v))[0]


async def identity(url: str, repeats: int, kind: str) -> dict:
    data = values(kind)
    ctx = AuthContext(uuid=f"sdk-bench-id-{time.monotonic_ns()}")
    encode, call = [], []
    async with TcmWebSocketClient(url, ctx, message_timeout_seconds=60.0) as client:
        await client.auth()
        sock = client._sock
        original_send = sock.send
        sent_at = []

        async def timed_send(message):
            await original_send(message)
            sent_at.append(clocks())

        sock.send = timed_send
        for _ in range(repeats):
            sent_at.clear()
            wall0, cpu0 = clocks()
            inp = InferenceInput(name="INPUT0", shape=[1, 3, 224, 224], datatype="FP32", data=data)
            await client.inference_http(
                vm_id="vm", vm_ip="127.0.0.1", container_id="c", model_name="identity",
                inputs=[inp], allow_transient=True,
            )
            wall1, cpu1 = clocks()
            wall_sent, cpu_sent = sent_at[0]
            encode.append([wall_sent - wall0, cpu_sent - cpu0])
            call.append([wall1 - wall0, cpu1 - cpu0])
    return {"encode": encode, "call": call}


def main() -> None:
    mode, url, arg = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == "lockstep":
        out = asyncio.run(lockstep(url, float(arg)))
    elif mode == "identity":
        kind = sys.argv[4] if len(sys.argv) > 4 else "image"
        out = asyncio.run(identity(url, int(arg), kind))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
