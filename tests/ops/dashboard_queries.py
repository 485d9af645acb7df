"""The PromQL of the Grafana dashboard, with Grafana's variables replaced so Prometheus itself
can run it (shared by the offline syntax test and the live Prometheus test)."""
from __future__ import annotations

import json
from pathlib import Path

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "components" / "monitoring" / "dashboards" / "neatai.json"


def load() -> dict:
    return json.loads(DASHBOARD.read_text())


def panels(dashboard: dict) -> list[dict]:
    out = []
    for p in dashboard["panels"]:
        out.extend(p.get("panels", []) if p["type"] == "row" else [p])
    return out


def queries(rate_interval: str = "1m") -> list[tuple[str, str]]:
    """(panel title + refId, expression) for every target of every panel."""
    subst = {"$__rate_interval": rate_interval, "$__interval": rate_interval, "$namespace": ".*"}
    out = []
    for p in panels(load()):
        for t in p["targets"]:
            expr = t["expr"]
            for k, v in subst.items():
                expr = expr.replace(k, v)
            out.append((f'{p["title"]} [{t["refId"]}]', expr))
    return out
