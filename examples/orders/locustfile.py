"""Plain Locust users for the order service: `locust -f locustfile.py` runs them as is.

The one harness line is `ledger.record`: each order the service acknowledged (201) goes to
the run's ledger, so that `harness scenario` can read every one back after the failure.
Under plain `locust` the call does nothing and logs one warning.
"""

import random
import uuid

from locust import FastHttpUser, constant_throughput, task

from harness import ledger


class Buyer(FastHttpUser):
    wait_time = constant_throughput(10)

    @task(4)
    def order(self):
        order_id = uuid.uuid4().hex
        qty = random.randint(1, 5)
        resp = self.client.post("/orders", json={"id": order_id, "qty": qty}, name="/orders")
        if resp.status_code == 201:
            ledger.record(order_id, qty=qty)

    @task(1)
    def health(self):
        self.client.get("/health")
