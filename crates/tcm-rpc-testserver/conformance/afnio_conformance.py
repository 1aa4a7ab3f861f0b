"""Conformance of the JSON-RPC reference server with the real afnio client (afnio 0.3.7).

Usage: python afnio_conformance.py WS_URL API_KEY [late-session-frame]

Drives afnio's own API against the server: a refused key, connect and the session frame,
variables, JSON-RPC errors, a long call kept alive by heartbeats past the client's timeout
(the server must be set up to make the first `run_function` work longer than TIMEOUT),
`backward()`, deterministic evaluators (scalar and batched), a model, a TGD optimizer step with
momentum (model usage update), `clear_grad()`, and close. Checks afnio's resulting local state.
With `late-session-frame` (against a server that sends the session frame in its own write,
after a delay) it checks afnio's own defect instead: its listener starts before the session
frame is read, dies on the concurrent read, and later calls time out.

Prints one line per check and a closing "N passed, N failed" line; the exit status is non-zero
on any failure.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

# Kept out of the user's home: afnio reads and writes ~/.tellurio_config.json, and creating a
# model asks for consent to share its provider key unless this variable says yes.
os.environ["HOME"] = tempfile.mkdtemp(prefix="afnio-conformance-")
os.environ["ALLOW_API_KEY_SHARING"] = "true"

from urllib.parse import urlsplit  # noqa: E402

import afnio  # noqa: E402
from afnio.autodiff.basic_ops import Add  # noqa: E402
from afnio.autodiff.evaluator import DeterministicEvaluator  # noqa: E402
from afnio.cognitive.parameter import Parameter  # noqa: E402
from afnio.models.openai import AsyncOpenAI  # noqa: E402
from afnio.optim import TGD  # noqa: E402
from afnio.tellurio import _client_manager  # noqa: E402
from afnio.tellurio._eventloop import run_in_background_loop  # noqa: E402
from afnio.tellurio._model_registry import MODEL_REGISTRY  # noqa: E402
from afnio.tellurio._variable_registry import VARIABLE_REGISTRY  # noqa: E402
from afnio.tellurio.client import TellurioClient  # noqa: E402
from afnio.tellurio.run import Run  # noqa: E402
from afnio.tellurio.run_context import set_active_run  # noqa: E402
from afnio.tellurio.websocket_client import TellurioWebSocketClient  # noqa: E402

# The client's call timeout in seconds; the server makes the first run_function work longer.
TIMEOUT = 1
RUN_UUID = "00000000-0000-4000-8000-00000000a5e1"

RESULTS: list[tuple[str, bool, str]] = []


def check(name: str, ok: bool, detail: object = "") -> None:
    RESULTS.append((name, bool(ok), "" if ok else str(detail)))


def ws_client(url: str) -> TellurioWebSocketClient:
    parts = urlsplit(url)
    # afnio builds its URL as f"{base_url}:{port}/ws/v0/rpc/".
    return TellurioWebSocketClient(
        base_url=f"{parts.scheme}://{parts.hostname}", port=parts.port, default_timeout=TIMEOUT
    )


def refused_key(url: str) -> None:
    client = ws_client(url)
    try:
        run_in_background_loop(client.connect(api_key="wrong-key", retries=1, delay=0))
        check("a wrong key is refused", False, "connect succeeded")
    except RuntimeError as exc:
        check(
            "a wrong key is refused",
            "Failed to connect to WebSocket after multiple attempts." in str(exc),
            exc,
        )


def connect(url: str, key: str) -> TellurioWebSocketClient:
    client = ws_client(url)
    info = run_in_background_loop(client.connect(api_key=key, retries=1, delay=0))
    session_id = info.get("session_id")
    check("connect returns the session id", isinstance(session_id, str) and len(session_id) == 36, info)
    check("the listener survives the session frame", not client.listener_task.done(), client.listener_task)
    # afnio's API talks to the process-wide default clients; an HTTP client that already holds
    # a key stops afnio from logging in over HTTP (the reference server has no HTTP API).
    http = TellurioClient()
    http.api_key = key
    _client_manager._default_client = http
    _client_manager._default_ws_client = client
    set_active_run(Run(uuid=RUN_UUID, name="conformance", description="", status="RUNNING"))
    return client


def rpc_errors(client: TellurioWebSocketClient) -> None:
    unknown = run_in_background_loop(client.call("no_such_method", {}))
    error = unknown.get("error", {})
    check(
        "unknown method: -32601 with data.method",
        error.get("code") == -32601
        and error.get("message") == "Method 'no_such_method' not found."
        and error.get("data") == {"method": "no_such_method"},
        unknown,
    )
    missing = run_in_background_loop(client.call("get_variable", {"variable_id": "nope"}))
    error = missing.get("error", {})
    check(
        "unknown variable: -32603 with data.exception",
        error.get("code") == -32603
        and error.get("data", {}).get("exception") == "Variable with id 'nope' not found in registry.",
        missing,
    )


def forward_backward() -> tuple[afnio.Variable, afnio.Variable]:
    x = afnio.Variable(data="abc", role="first input", requires_grad=True)
    y = afnio.Variable(data="def", role="second input", requires_grad=False)
    check("variables get server ids", bool(x.variable_id) and bool(y.variable_id), (x, y))

    started = time.monotonic()
    z = Add.apply(x, y)  # the server works longer than TIMEOUT, sending heartbeats
    took = time.monotonic() - started
    check("a long call outlives the client timeout on heartbeats", took > TIMEOUT * 1.5, took)
    check("Add concatenates the data", z.data == "abcdef", z.data)
    check("the output requires grad and is not a leaf", z.requires_grad and not z.is_leaf, z)
    node = z.grad_fn
    check("the output's grad_fn is AddBackward0", node is not None and node.name() == "AddBackward0", node)
    edges = node.next_functions if node else ()
    names = [(e.node.name() if e.node else None, e.output_nr) for e in edges]
    check(
        "edges: AccumulateGrad for the leaf needing grad, None for the other",
        names == [("AccumulateGrad", 0), (None, 0)],
        names,
    )

    z.backward()
    grads = x.grad
    check("backward gives the leaf one gradient", len(grads) == 1, grads)
    check(
        "the gradient is a variable with the server's text",
        len(grads) == 1 and isinstance(grads[0], afnio.Variable) and grads[0].data == "feedback",
        grads,
    )
    check("the input without grad gets none", y.grad == [], y.grad)
    return x, z


def evaluators(z: afnio.Variable) -> None:
    seen: list[tuple] = []

    def exact(prediction, target):
        seen.append((prediction, target))
        return 1 if prediction == target else 0

    score, explanation = DeterministicEvaluator.apply(z, "abcdef", exact, "exact match", None, None, None)
    check("eval_fn is called with (prediction, target) data", seen == [("abcdef", "abcdef")], seen)
    check("the evaluator returns its score", score.data == 1, score.data)
    check(
        "the evaluator returns its explanation",
        isinstance(explanation.data, str) and "'exact match'" in explanation.data
        and explanation.data.endswith("resulting in a score: 1."),
        explanation.data,
    )
    check(
        "score and explanation share one DeterministicEvaluatorBackward0 node",
        score.grad_fn is not None
        and score.grad_fn is explanation.grad_fn
        and score.grad_fn.name() == "DeterministicEvaluatorBackward0"
        and (score.output_nr, explanation.output_nr) == (0, 1),
        (score.grad_fn, explanation.grad_fn),
    )

    seen.clear()
    verdicts: list[list] = []

    def all_right(scores):
        verdicts.append(list(scores))
        return all(s == 1 for s in scores)

    prediction = afnio.Variable(data=["green", "blue"], role="color prediction", requires_grad=True)
    score, explanation = DeterministicEvaluator.apply(
        prediction, ["red", "blue"], exact, "exact match", all_right, sum, "summation"
    )
    check("batched: eval_fn runs once per pair", seen == [("green", "red"), ("blue", "blue")], seen)
    check("batched: success_fn gets the scores", verdicts == [[0, 1]], verdicts)
    check("batched: reduction_fn aggregates the scores", score.data == 1, score.data)
    check(
        "batched: the explanation names the reduction",
        "'summation'" in explanation.data and explanation.data.endswith("score: 1."),
        explanation.data,
    )
    explanation.backward()
    check("an evaluator's output backpropagates to the prediction", len(prediction.grad) == 1, prediction.grad)


def model_and_optimizer() -> None:
    model = AsyncOpenAI(api_key="sk-conformance-not-a-real-key")
    check("the model gets a server id", model.model_id in MODEL_REGISTRY, model.model_id)

    prompt = Parameter(data="Be brief.", role="system prompt", requires_grad=True)
    suffix = afnio.Variable(data=" Answer in English.", role="suffix")
    Add.apply(prompt, suffix).backward()
    check("the parameter has a gradient before the step", len(prompt.grad) == 1, prompt.grad)

    optimizer = TGD([prompt], model_client=model, momentum=2)
    before = model.get_usage().get("prompt_tokens", 0)
    optimizer.step()
    check("the step updates the parameter's data", prompt.data == "Be brief. (improved)", prompt.data)
    usage = model.get_usage()
    check("the step updates the model's usage", usage.get("prompt_tokens", 0) > before, usage)
    buffers = [
        entry.get("momentum_buffer") for entry in optimizer.state.values()
    ] if isinstance(optimizer.state, dict) else []
    copies = [pair for buf in buffers if buf for pair in buf]
    check(
        "the momentum buffer holds registered copies of the parameter and its gradients",
        len(copies) == 1
        and copies[0][0].variable_id in VARIABLE_REGISTRY
        and copies[0][0].variable_id != prompt.variable_id
        and copies[0][0].data == "Be brief."
        and len(copies[0][1]) == 1,
        optimizer.state,
    )
    optimizer.clear_grad()
    check("clear_grad clears the gradients", prompt.grad == [], prompt.grad)


def close(client: TellurioWebSocketClient) -> None:
    run_in_background_loop(client.close())
    check("close drops the connection", client.connection is None, client.connection)


def late_session_frame(url: str, key: str) -> None:
    # afnio defect: connect() starts its listener task and then reads the session frame itself;
    # if the frame is not buffered yet, the listener's read fails ("cannot call recv while
    # another coroutine is already running recv"), the listener ends, and nothing reads replies.
    client = ws_client(url)
    info = run_in_background_loop(client.connect(api_key=key, retries=1, delay=0))
    check("a late session frame still reaches connect()", isinstance(info.get("session_id"), str), info)
    check("afnio's listener has died on the concurrent read", client.listener_task.done(), client.listener_task)
    _client_manager._default_ws_client = client
    set_active_run(Run(uuid=RUN_UUID, name="conformance", description="", status="RUNNING"))
    try:
        run_in_background_loop(client.call("get_backprop_ids", {"variables": []}))
        check("a call after the listener died times out", False, "it was answered")
    except TimeoutError:
        check("a call after the listener died times out", True)
    run_in_background_loop(client.close())


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    url, key = sys.argv[1], sys.argv[2]
    late = sys.argv[3:] == ["late-session-frame"]
    try:
        if late:
            late_session_frame(url, key)
            return report()
        refused_key(url)
        client = connect(url, key)
        rpc_errors(client)
        _, z = forward_backward()
        evaluators(z)
        model_and_optimizer()
        close(client)
    except Exception as exc:  # noqa: BLE001 - report any client failure as a failed check
        import traceback

        traceback.print_exc()
        check("afnio calls completed", False, repr(exc))
    return report()


def report() -> int:
    failed = 0
    for name, ok, detail in RESULTS:
        print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))
        failed += 0 if ok else 1
    print(f"{len(RESULTS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
