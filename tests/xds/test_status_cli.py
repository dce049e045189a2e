"""`render_status` turns the status dict into readable tables (pending versions starred, NACKs shown)."""

from __future__ import annotations

import json

from appmesh_local.proxy.status_text import render_status

NOW = 1_000_000.0
DATA = {
    "proxies": [
        {
            "node_id": "mesh/m/virtualNode/front",
            "mesh": "m",
            "kind": "virtualNode",
            "name": "front",
            "stream": "sotw",
            "connected_since": NOW - 125,
            "reason": None,
            "types": {
                "cds": {"sent_version": "b-1", "acked_version": "b-1", "last_push": NOW - 5, "last_nack": None},
                "lds": {
                    "sent_version": "b-4",
                    "acked_version": "b-3",
                    "last_push": NOW - 2,
                    "last_nack": {"version": "b-4", "message": "Not supported field\nin StreamInfo: X", "code": 13},
                },
            },
        }
    ],
    "unknown_nodes": [
        {
            "node_id": "mesh/m/virtualNode/ghost",
            "stream": "delta",
            "connected_since": NOW - 3,
            "reason": "no such mesh or proxy",
        }
    ],
    "meshes": [
        {
            "account": "123456789012",
            "region": "us-east-1",
            "mesh": "m",
            "revision": 7,
            "proxies": 1,
            "duration_ms": 3.25,
            "error": "translation failed: ValueError: boom",
            "problems": ["route r: no target"],
        }
    ],
}


def test_render_status_tables():
    text = render_status(json.loads(json.dumps(DATA)), now=NOW)
    lines = text.splitlines()
    assert lines[0] == "CONNECTED PROXIES (1)"
    header, row = lines[1], lines[2]
    assert header.split()[:3] == ["MESH", "PROXY", "STREAM"]
    assert "virtualNode/front" in row and "2m ago" in row and "cds=b-1 lds=b-3*" in row
    assert "lds@b-4: Not supported field in StreamInfo: X" in row
    assert "mesh/m/virtualNode/ghost" in text and "no such mesh or proxy" in text
    assert "3.2 ms" in text or "3.3 ms" in text
    assert "FAILED (last good kept)" in text
    assert "  m: translation failed: ValueError: boom" in lines and "  m: route r: no target" in lines


def test_render_empty_status():
    text = render_status({"proxies": [], "unknown_nodes": [], "meshes": []}, now=NOW)
    assert text.count("(none)") == 3


def test_render_held_back_proxies_and_refused_or_cut_off_streams():
    data = {
        "proxies": [],
        "unknown_nodes": [],
        "meshes": [
            {
                "account": "123456789012",
                "region": "us-east-1",
                "mesh": "m",
                "revision": 9,
                "proxies": 3,
                "error": None,
                "problems": [],
                "failed_proxies": [
                    {
                        "kind": "virtualNode",
                        "name": "bad",
                        "since_revision": 8,
                        "error": "virtualNode bad: out of range",
                    }
                ],
            }
        ],
        "refused": [
            {"node_id": "mesh/m/virtualNode/a", "peer": "ipv4:127.0.0.1:1", "at": NOW - 4, "reason": "no credentials"}
        ],
        "disconnected": [{"node_id": "", "peer": "ipv4:127.0.0.1:2", "at": NOW - 70, "reason": "stalled client"}],
    }
    text = render_status(data, now=NOW)
    assert "ok, 1 proxy held back" in text
    assert "  m: virtualNode/bad held at its last good config since revision 8: virtualNode bad: out of range" in text
    assert "REFUSED STREAMS (last 1)" in text and "no credentials" in text and "4s ago" in text
    assert "DISCONNECTED STREAMS (last 1)" in text and "(no node yet)" in text and "1m ago" in text
