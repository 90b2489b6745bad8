"""A rogue peer on a master's port, without the cluster secret (run as a script by tests).

    python tests/load/rogue_peer.py HOST PORT OUT.jsonl SECONDS

For SECONDS, or until SIGTERM (sent once the test's master has finished), it connects to
the master as a Locust worker would (ZeroMQ DEALER), says Locust's `client_ready`, sends a
`harness_hello` and `harness_intervals` sealed with a wrong secret (fake seconds of a
request name `GET /rogue` with a million requests each), an unsealed hello, Locust's
`locustfile` request and two frames Locust cannot decode, every half second; and writes
every message it receives to OUT.jsonl (type and data as text). Bounded in time and count.
"""

from __future__ import annotations

import json
import signal
import sys
import time
import uuid

import msgpack
import zmq

from harness.analysis.histograms import encode, new_histogram, record_us
from harness.load import messages
from harness.load.cluster import Channel, ClusterSecret

ROGUE_NAME = "GET /rogue"
FAKE_REQUESTS = 1_000_000


def _fake_entries(now: float) -> list[dict[str, object]]:
    hist = new_histogram()
    for _ in range(100):
        record_us(hist, 1)
    return [
        {
            "t": float(int(now) - 2), "name": ROGUE_NAME, "requests": FAKE_REQUESTS,
            "failures": 0, "bytes": 1, "clipped": 0, "fine_ok": [0] * 10, "fine_fail": [0] * 10,
            "errors": {}, "hdr": encode(hist), "hdr_corrected": None, "hdr_fail": None,
        }
    ]  # fmt: skip


def main(host: str, port: int, out_path: str, seconds: float) -> int:
    node_id = f"rogue_{uuid.uuid4().hex}"
    wrong = Channel(ClusterSecret(b"not-the-cluster-secret", "file"), master=False)
    context = zmq.Context()
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.IDENTITY, node_id.encode())
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(f"tcp://{host}:{port}")

    def send(msg_type: str, data: object) -> None:
        socket.send(msgpack.dumps((msg_type, data, node_id)), zmq.NOBLOCK)

    received = 0
    deadline = time.monotonic() + seconds
    stopped: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopped.append(signum))
    with open(out_path, "w") as out:
        while time.monotonic() < deadline and not stopped:
            try:
                send("client_ready", "2.47.0")
                send(messages.HELLO, wrong.hello(node_id, pid=1))
                send(messages.HELLO, {"pid": 1})
                body = {
                    "entries": _fake_entries(time.time()),
                    "through_t": time.time(),
                    "ledger": [],
                }
                send(messages.INTERVALS, wrong.seal(messages.INTERVALS, body, node_id))
                send("locustfile", {"version": "2.47.0"})
                socket.send(msgpack.dumps(["not", "a message", "of Locust's", "shape"]))
                socket.send(b"\xc1 not msgpack at all")
            except zmq.Again:
                pass  # not connected yet
            while socket.poll(500) and received < 10_000:
                msg_type, data, _node = msgpack.loads(socket.recv(), raw=False)
                received += 1
                out.write(json.dumps({"type": msg_type, "data": repr(data)}) + "\n")
                out.flush()
    socket.close()
    context.term()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])))
