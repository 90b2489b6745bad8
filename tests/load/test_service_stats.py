"""Reading the reference service's own counters at the end of a run."""

from harness.load.service_stats import parse_auth_gauges

METRICS = """\
# HELP harness_auth_allowed auth allowed.
# TYPE harness_auth_allowed gauge
harness_auth_allowed 300
harness_auth_forbidden 4
harness_auth_unauthorized 7
harness_auth_unauthorized_by_reason_expired 2
harness_cdn_hits 141
harness_http_requests_total{method="GET",route="/",status="200"} 5
"""


def test_auth_gauges_are_read_and_other_families_ignored() -> None:
    assert parse_auth_gauges(METRICS) == {"allowed": 300, "forbidden": 4, "unauthorized": 7}
