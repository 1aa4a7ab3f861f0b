"""Conformance of the TCM test server with the official Python SDK (tcm-client 2.0.0).

Usage: python sdk_conformance.py WS_URL [PAYLOAD_EXAMPLES_DIR]

Runs the SDK's auth, info_queue_stats, management_creation and inference_http calls against
the server and checks every reply against the protocol reference. Prints one line per check
and a closing "N passed, N failed" line; the exit status is non-zero on any failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import uuid as uuidlib

import numpy as np
from tcm_client.sdk import (
    AuthContext,
    InferenceInput,
    TcmClient,
    TcmWebSocketClient,
    quickstart_queue_stats,
)

STATS_KEYS = [
    "info_users",
    "management_users",
    "inference_users",
    "total_users",
    "total_queued",
    "info_total_queued",
    "management_total_queued",
    "inference_total_queued",
    "executor_info_pending",
    "executor_management_pending",
    "executor_inference_pending",
    "executor_info_available",
    "executor_management_available",
    "executor_inference_available",
]

DEV_CREATION_TEXT = (
    "Unexpected error: 'OpenstackDevBackend' does not implement 'create_vm' in dev mode. "
    "Use real services or extend DevBackend for this use case."
)

RESULTS: list[tuple[str, bool, str]] = []


def check(name: str, ok: bool, detail: object = "") -> None:
    RESULTS.append((name, bool(ok), "" if ok else str(detail)))


def check_stats(name: str, resp: dict, job_id: object, request_type: str) -> None:
    payload = resp.get("payload", {})
    check(f"{name}: type", resp.get("type") == "info_response", resp)
    check(f"{name}: job_id", payload.get("job_id", "absent") == job_id, payload)
    check(f"{name}: request_type", payload.get("request_type") == request_type, payload)
    check(f"{name}: status", payload.get("status") == "success", payload)
    data = payload.get("data", {})
    check(f"{name}: 14 counters in order", list(data.keys()) == STATS_KEYS, data)
    check(
        f"{name}: counters are integers",
        all(isinstance(v, int) and not isinstance(v, bool) for v in data.values()),
        data,
    )


def creation_kwargs(examples_dir: str | None) -> dict:
    if examples_dir:
        path = os.path.join(examples_dir, "management_creation.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                payload = json.load(f)["payload"]
            payload.pop("action", None)
            return payload
    return {"openstack": {"name": "w1"}, "docker": {"image": "i"}, "minio": {}, "triton": {}}


async def session_checks(url: str, examples_dir: str | None) -> None:
    client_uuid = f"sdk-conf-{uuidlib.uuid4().hex[:8]}"
    ctx = AuthContext(
        uuid=client_uuid,
        token="tok",
        sub=client_uuid,
        tenant_id="dev-tenant",
        roles=["inference", "management"],
    )
    async with TcmWebSocketClient(url, ctx) as client:
        resp = await client.auth()
        check("auth: legacy auth.ok", resp == {"type": "auth.ok"}, resp)

        resp = await client.info_queue_stats()
        check_stats("info_queue_stats", resp, None, "queue_stats")

        resp = await client.management_creation(**creation_kwargs(examples_dir))
        payload = resp.get("payload", {})
        check("management_creation: type", resp.get("type") == "management", resp)
        check("management_creation: uuid echoed", resp.get("uuid") == client_uuid, resp)
        check("management_creation: status false", payload.get("status") is False, payload)
        check("management_creation: dev-mode text", payload.get("data") == DEV_CREATION_TEXT, payload)
        check(
            "management_creation: correlation id is 16 hex",
            re.fullmatch(r"[0-9a-f]{16}", str(resp.get("_correlation_id", ""))) is not None,
            resp,
        )
        check(
            "management_creation: _auth from simple mode",
            resp.get("_auth")
            == {
                "sub": None,
                "tenant_id": None,
                "roles": ["inference", "management"],
                "capability": ["json"],
            },
            resp.get("_auth"),
        )

        values = [1.5, 2.5, 0.1, -4.0]
        resp = await client.inference_http(
            vm_id="vm-1",
            vm_ip="127.0.0.1",
            container_id="ctr-1",
            model_name="identity",
            inputs=[InferenceInput(name="INPUT0", shape=[4], datatype="FP32", data=values)],
            allow_transient=True,
        )
        payload = resp.get("payload", {})
        expected = [float(np.float32(v)) for v in values]
        check("inference_http: type", resp.get("type") == "inference", resp)
        check("inference_http: uuid", resp.get("uuid") == client_uuid, resp)
        check("inference_http: COMPLETED", payload.get("status") == "COMPLETED", payload)
        check("inference_http: model_name", payload.get("model_name") == "identity", payload)
        check(
            "inference_http: OUTPUT0 equals the input (as float32)",
            payload.get("data") == {"OUTPUT0": expected},
            payload,
        )

        resp = await client.inference_http(
            vm_id="vm-1",
            vm_ip=None,
            container_id="ctr-1",
            model_name="identity",
            inputs=[InferenceInput(name="INPUT0", shape=[1], datatype="FP32", data=[1.0])],
        )
        check(
            "inference_http without vm_ip: FAILED string",
            resp.get("payload")
            == {"data": "Missing required field 'vm_ip'", "status": "FAILED", "model_name": None},
            resp,
        )


async def quickstart_checks(url: str) -> None:
    resp = await quickstart_queue_stats(url)
    check_stats("quickstart_queue_stats", resp, None, "queue_stats")


def sync_client_checks(url: str) -> None:
    ctx = AuthContext(uuid=f"sdk-sync-{uuidlib.uuid4().hex[:8]}", roles=["inference"])
    result = TcmClient(url, ctx).run_inference(
        "vm-1", "ctr-1", "add", [1.0, 2.0], vm_ip="127.0.0.1", input_name="INPUT0"
    )
    check("TcmClient.run_inference: type", result.type == "inference", result)
    data = result.payload.get("data", {})
    check(
        "TcmClient.run_inference: add without INPUT1 is a typed FAILED",
        result.payload.get("status") == "FAILED"
        and isinstance(data, dict)
        and data.get("code") == "TRITON_INFERENCE_FAILED"
        and data.get("retriable") is False,
        result.payload,
    )


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    url = sys.argv[1]
    examples_dir = sys.argv[2] if len(sys.argv) > 2 else None
    try:
        asyncio.run(session_checks(url, examples_dir))
        asyncio.run(quickstart_checks(url))
        sync_client_checks(url)
    except Exception as exc:  # noqa: BLE001 - report any SDK failure as a failed check
        check("SDK calls completed", False, repr(exc))
    failed = 0
    for name, ok, detail in RESULTS:
        print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))
        failed += 0 if ok else 1
    print(f"{len(RESULTS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
