"""The Grafana dashboard is well formed for provisioning (stable uid, fixed datasource uid, no
overlapping panels) and every query parses as PromQL (`promtool check rules`). That every query
returns data against the real services is tested in test_prometheus_live.py."""
from __future__ import annotations

import re
import subprocess

import yaml

import dashboard_queries as dq

DATASOURCE = {"type": "prometheus", "uid": "prometheus"}


def test_provisionable():
    d = dq.load()
    assert d["uid"] == "neatai-overview" and d["id"] is None
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    for p in dq.panels(d):
        assert p["datasource"] == DATASOURCE, p["title"]
        assert p["targets"] and all(t["datasource"] == DATASOURCE for t in p["targets"]), p["title"]


def test_panels_do_not_overlap():
    cells = set()
    for p in dq.load()["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, p["title"]
                cells.add((x, y))


def test_covers_the_required_views():
    text = " ".join(expr for _, expr in dq.queries())
    for metric in ("neatai_evolution_generation", "neatai_evolution_best_score", "neatai_evolution_best_error",
                   "neatai_evolution_species", "neatai_evolution_evaluations_total",
                   "neatai_cache_hits_total", "neatai_cache_evictions_total", "neatai_cache_entries",
                   "neatai_pool_workers", "neatai_pool_queued_tasks", "neatai_pool_steals_total",
                   "grpc_server_handled_total", "grpc_server_handling_seconds_bucket",
                   "neatai_memory_resident_bytes", "neatai_memory_pressure_events_total",
                   "neatai_discovery_runs_total", "neatai_discovery_candidates_evaluated_total",
                   "neatai_discovery_candidates_improved_total", "neatai_discovery_stage_seconds_total",
                   "neatai_discovery_cache_entries", "neatai_discovery_backend"):
        assert metric in text, metric
    assert "histogram_quantile(0.5," in text and "histogram_quantile(0.99," in text
    # go-grpc-prometheus label values, as the interceptors write them.
    assert 'grpc_type="unary"' in text and not re.search(r'grpc_type="UNARY"|grpc_code!="OK"\w', text)


def test_every_query_parses(tmp_path):
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": expr} for i, (_, expr) in enumerate(dq.queries())
    ]}]}
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rules))
    out = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def panel_expr(title: str, ref: str = "A") -> str:
    return dict(dq.queries(rate_interval="1m"))[f"{title} [{ref}]"]


def test_query_math_on_synthetic_series(tmp_path):
    """`promtool test rules` feeds known series and checks what the panels compute: the error
    ratio is 0 (not missing) for a method without errors, hit rate and fill are fractions."""
    svc = 'grpc_service="neatai.v1.EvaluatorService",grpc_type="unary"'
    series = [
        (f'grpc_server_handled_total{{{svc},grpc_method="Evaluate",grpc_code="OK"}}', "0+99x10"),
        (f'grpc_server_handled_total{{{svc},grpc_method="Evaluate",grpc_code="InvalidArgument"}}', "0+1x10"),
        (f'grpc_server_handled_total{{{svc},grpc_method="GetStats",grpc_code="OK"}}', "0+10x10"),
        ('neatai_cache_hits_total{cache="network"}', "0+3x10"),
        ('neatai_cache_misses_total{cache="network"}', "0+1x10"),
        ('neatai_cache_entries{cache="network"}', "50x10"),
        ('neatai_cache_capacity{cache="network"}', "200x10"),
    ]
    method = 'grpc_service="neatai.v1.EvaluatorService",grpc_method="{}"'
    tests = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [{"series": s, "values": v} for s, v in series],
            "promql_expr_test": [
                {"expr": panel_expr("Error ratio by method"), "eval_time": "10m", "exp_samples": [
                    {"labels": "{" + method.format("Evaluate") + "}", "value": 0.01},
                    {"labels": "{" + method.format("GetStats") + "}", "value": 0},
                ]},
                {"expr": panel_expr("Hit rate per cache"), "eval_time": "10m",
                 "exp_samples": [{"labels": '{cache="network"}', "value": 0.75}]},
                {"expr": panel_expr("Fill per cache"), "eval_time": "10m",
                 "exp_samples": [{"labels": '{cache="network"}', "value": 0.25}]},
            ],
        }],
    }
    path = tmp_path / "dashboard_test.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    out = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
