"""Parses linkleaf's /metrics text with prometheus_client's exposition-format parser and checks
the families the README promises are there, with the right types and labels."""
import sys

from prometheus_client.parser import text_string_to_metric_families

text = open(sys.argv[1], encoding="utf-8").read()
families = {f.name: f for f in text_string_to_metric_families(text)}

expected = {
    "linkleaf_cache_hits": "counter",
    "linkleaf_cache_misses": "counter",
    "linkleaf_cache_stale": "counter",
    "linkleaf_cache_invalidations": "counter",
    "linkleaf_origin_loads": "counter",
    "linkleaf_origin_load_seconds": "histogram",
    "linkleaf_http_requests": "counter",
    "linkleaf_http_request_duration_seconds": "histogram",
    "linkleaf_rate_limited": "counter",
    # clicks and views (issue 12)
    "linkleaf_events_accepted": "counter",
    "linkleaf_events_dropped": "counter",
    "linkleaf_spool_bytes": "gauge",
    "linkleaf_spool_fsyncs": "counter",
    "linkleaf_events_committed": "counter",
    "linkleaf_dlq_depth": "gauge",
    # webhooks (issue 13)
    "linkleaf_webhook_deliveries": "counter",
    "linkleaf_webhooks_received": "counter",
}
problems = []
for name, kind in expected.items():
    f = families.get(name)
    if f is None:
        problems.append(f"missing family {name}")
    elif f.type != kind:
        problems.append(f"{name} is a {f.type}, expected {kind}")

requests = families.get("linkleaf_http_requests")
if requests is not None:
    routes = {s.labels.get("route") for s in requests.samples}
    for route in ["/{username}", "/api/profiles/{profile}", "/api/profiles"]:
        if route not in routes:
            problems.append(f"no linkleaf_http_requests_total sample for route {route}")
    # a route's template, or "(unmatched)" for what no route takes
    if any(r is None or not (r.startswith("/") or r == "(unmatched)") for r in routes):
        problems.append(f"odd route labels: {routes}")
    served = sum(s.value for s in requests.samples if s.name.endswith("_total"))
    if served <= 0:
        problems.append("linkleaf_http_requests_total counted nothing")

if problems:
    print("metrics check failed:\n  " + "\n  ".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"metrics: {len(families)} families parsed, all expected ones present", file=sys.stderr)
