"""Measures the official Python SDK (tcm-client) for tcm-bench.

Usage:
  sdk_bench.py lockstep URL SECONDS   -> {"count": N, "seconds": S}
  sdk_bench.py encode URL REPEATS     -> {"samples_ms": [...]}

`encode` times the SDK's own path for one 1x3x224x224 FP32 inference, from the call to
`inference_http` until its frame has been written to the socket (model validation, dumping,
json.dumps and the send); the reply is not waited for in the timing.
"""

import asyncio
import json
import sys
import time

from tcm_client.sdk import AuthContext, InferenceInput, TcmWebSocketClient


async def lockstep(url: str, seconds: float) -> dict:
    ctx = AuthContext(uuid=f"sdk-bench-{time.monotonic_ns()}")
    async with TcmWebSocketClient(url, ctx) as client:
        await client.auth()
        for _ in range(50):
            await client.info_queue_stats()
        count = 0
        start = time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            await client.info_queue_stats()
            count += 1
        return {"count": count, "seconds": time.perf_counter() - start}


async def encode(url: str, repeats: int) -> dict:
    data = [[[[0.1234567 for _ in range(224)] for _ in range(224)] for _ in range(3)]]
    ctx = AuthContext(uuid=f"sdk-bench-enc-{time.monotonic_ns()}")
    samples = []
    async with TcmWebSocketClient(url, ctx, message_timeout_seconds=60.0) as client:
        await client.auth()
        sock = client._sock
        original_send = sock.send
        sent_at = []

        async def timed_send(message):
            await original_send(message)
            sent_at.append(time.perf_counter())

        sock.send = timed_send
        for _ in range(repeats):
            sent_at.clear()
            t0 = time.perf_counter()
            inp = InferenceInput(name="INPUT0", shape=[1, 3, 224, 224], datatype="FP32", data=data)
            await client.inference_http(
                vm_id="vm", vm_ip="127.0.0.1", container_id="c", model_name="identity",
                inputs=[inp], allow_transient=True,
            )
            samples.append((sent_at[0] - t0) * 1e3)
    return {"samples_ms": samples}


def main() -> None:
    mode, url, arg = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == "lockstep":
        out = asyncio.run(lockstep(url, float(arg)))
    elif mode == "encode":
        out = asyncio.run(encode(url, int(arg)))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
